import type { Graph, Model, Node } from './ir';
import { AttrType } from './ir';
import type { AttributeProto, TensorProto, TypeProto } from './proto/onnx_pb';
import { dtypeName } from './dtype';
import { elementCount, tensorDims, tensorToFloat64, tensorStats, type TensorStats } from './tensor';
import { inferShapes, type ValueFacts } from './shapes';

/** A dimension as the UI and JSON show it: a size, a symbolic name, or null when unknown. */
export type DimSummary = number | string | null;

export interface ValueSummary {
  name: string;
  /** 'float', 'int64', ... or a description of a non-tensor type ('sequence<float>'). */
  type: string;
  elemType?: number;
  shape: DimSummary[] | null;
}

/** The facts `inspect --json` prints and the model summary panel shows (CONTRACT.md). */
export interface ModelSummary {
  producer: string;
  producerVersion: string;
  irVersion: number;
  domain: string;
  modelVersion: number;
  docString: string;
  opsets: Record<string, number>;
  metadata: Record<string, string>;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** Nodes of the main graph. */
  nodes: number;
  /** Nodes including every subgraph. */
  nodesTotal: number;
  /** Initializers of the main graph. */
  initializers: number;
  /** Elements of every stored weight tensor: initializers and Constant tensors, subgraphs included. */
  parameters: number;
  /** Size of the .onnx file in bytes. */
  bytes: number;
  /** Operator histogram of the main graph. */
  ops: Record<string, number>;
  /** External-data files the model's tensors refer to. */
  externalFiles: string[];
  functions: string[];
}

export function typeString(t: TypeProto | undefined): string {
  if (!t) return 'unknown';
  switch (t.value.case) {
    case 'tensorType':
      return dtypeName(t.value.value.elemType);
    case 'sparseTensorType':
      return `sparse<${dtypeName(t.value.value.elemType)}>`;
    case 'sequenceType':
      return `sequence<${typeString(t.value.value.elemType)}>`;
    case 'optionalType':
      return `optional<${typeString(t.value.value.elemType)}>`;
    case 'mapType':
      return `map<${dtypeName(t.value.value.keyType)},${typeString(t.value.value.valueType)}>`;
    case 'opaqueType':
      return `opaque<${t.value.value.domain}.${t.value.value.name}>`;
    default:
      return 'unknown';
  }
}

function summarizeValue(graph: Graph, name: string): ValueSummary {
  const t = graph.valueType(name);
  const shape = graph.valueShape(name);
  return {
    name,
    type: typeString(t),
    elemType: graph.valueElemType(name),
    shape: shape ? shape.map((d) => d ?? null) : null,
  };
}

function constantElements(a: AttributeProto): number {
  switch (a.name) {
    case 'value':
      return a.t ? elementCount(a.t.dims) : 0;
    case 'sparse_value':
      return a.sparseTensor?.values ? elementCount(a.sparseTensor.values.dims) : 0;
    case 'value_float':
    case 'value_int':
      return 1;
    case 'value_floats':
      return a.floats.length;
    case 'value_ints':
      return a.ints.length;
    default:
      return 0;
  }
}

/** Elements of stored weights in a graph and its subgraphs. */
export function countParameters(graph: Graph): number {
  let n = 0;
  for (const g of graph.allGraphs()) {
    for (const t of g.initializers.values()) n += elementCount(t.dims);
    for (const s of g.proto.sparseInitializer) n += s.values ? elementCount(s.values.dims) : 0;
    for (const node of g.nodes)
      if (node.opType === 'Constant' && node.domain === '')
        for (const a of node.proto.attribute) n += constantElements(a);
  }
  return n;
}

export function summarizeModel(model: Model, bytes: number): ModelSummary {
  const g = model.graph;
  const ops: Record<string, number> = {};
  for (const n of g.nodes) {
    const key = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    ops[key] = (ops[key] ?? 0) + 1;
  }
  let nodesTotal = 0;
  const externalFiles = new Set<string>();
  for (const sg of g.allGraphs()) {
    nodesTotal += sg.nodes.length;
    for (const t of sg.initializers.values())
      for (const e of t.externalData) if (e.key === 'location') externalFiles.add(e.value);
  }
  const p = model.proto;
  return {
    producer: p.producerName,
    producerVersion: p.producerVersion,
    irVersion: Number(p.irVersion),
    domain: p.domain,
    modelVersion: Number(p.modelVersion),
    docString: p.docString,
    opsets: Object.fromEntries(p.opsetImport.map((o) => [o.domain || 'ai.onnx', Number(o.version)])),
    metadata: Object.fromEntries(p.metadataProps.map((e) => [e.key, e.value])),
    inputs: g.feedInputs().map((v) => summarizeValue(g, v.name)),
    outputs: g.outputs.map((v) => summarizeValue(g, v.name)),
    nodes: g.nodes.length,
    nodesTotal,
    initializers: g.initializers.size,
    parameters: countParameters(g),
    bytes,
    ops,
    externalFiles: [...externalFiles],
    functions: p.functions.map((f) => (f.domain ? `${f.domain}.${f.name}` : f.name)),
  };
}

/** Colour groups for operators in the graph view. */
export type OpCategory =
  | 'conv'
  | 'linear'
  | 'activation'
  | 'normalization'
  | 'pool'
  | 'elementwise'
  | 'shape'
  | 'quantize'
  | 'recurrent'
  | 'control'
  | 'constant'
  | 'io'
  | 'other';

const categories: Record<Exclude<OpCategory, 'io' | 'other'>, string[]> = {
  conv: ['Conv', 'ConvTranspose', 'ConvInteger', 'QLinearConv', 'DeformConv'],
  linear: ['Gemm', 'MatMul', 'MatMulInteger', 'QLinearMatMul', 'MatMulNBits', 'Einsum', 'Attention'],
  activation: [
    'Relu',
    'LeakyRelu',
    'PRelu',
    'Sigmoid',
    'HardSigmoid',
    'HardSwish',
    'Tanh',
    'Softmax',
    'LogSoftmax',
    'Elu',
    'Selu',
    'Celu',
    'Gelu',
    'Softplus',
    'Softsign',
    'Clip',
    'Mish',
    'ThresholdedRelu',
    'Erf',
  ],
  normalization: [
    'BatchNormalization',
    'LayerNormalization',
    'InstanceNormalization',
    'GroupNormalization',
    'LRN',
    'SimplifiedLayerNormalization',
    'SkipLayerNormalization',
    'MeanVarianceNormalization',
    'Dropout',
  ],
  pool: [
    'MaxPool',
    'AveragePool',
    'GlobalAveragePool',
    'GlobalMaxPool',
    'LpPool',
    'ReduceMean',
    'ReduceMax',
    'ReduceSum',
    'ReduceMin',
    'ReduceProd',
    'ReduceL2',
  ],
  elementwise: [
    'Add',
    'Sub',
    'Mul',
    'Div',
    'Pow',
    'Sqrt',
    'Exp',
    'Log',
    'Abs',
    'Neg',
    'Max',
    'Min',
    'Sum',
    'Mean',
    'Reciprocal',
    'Floor',
    'Ceil',
    'Round',
    'Equal',
    'Less',
    'Greater',
    'Not',
    'And',
    'Or',
    'Where',
    'Sign',
    'Cos',
    'Sin',
  ],
  shape: [
    'Reshape',
    'Transpose',
    'Flatten',
    'Squeeze',
    'Unsqueeze',
    'Concat',
    'Split',
    'Slice',
    'Gather',
    'GatherElements',
    'GatherND',
    'Expand',
    'Tile',
    'Pad',
    'Shape',
    'Size',
    'Resize',
    'Upsample',
    'DepthToSpace',
    'SpaceToDepth',
    'Cast',
    'Identity',
    'ScatterND',
    'Range',
    'NonZero',
    'TopK',
    'ArgMax',
    'ArgMin',
    'CumSum',
  ],
  quantize: ['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearAdd', 'QLinearMul'],
  recurrent: ['LSTM', 'GRU', 'RNN'],
  control: ['If', 'Loop', 'Scan'],
  constant: ['Constant', 'ConstantOfShape'],
};
const categoryOf = new Map<string, OpCategory>();
for (const [c, ops] of Object.entries(categories)) for (const op of ops) categoryOf.set(op, c as OpCategory);

export function opCategory(opType: string): OpCategory {
  return categoryOf.get(opType) ?? 'other';
}

/** A weight shown as a badge on the node that reads it (as Netron does). */
export interface WeightBadge {
  /** Input slot of the node. */
  slot: number;
  name: string;
  dtype: string;
  shape: number[];
}

/** A node as the graph view needs it: no weights, only names, types and shapes. */
export interface NodeSummary {
  /** Stable id within one model: `n<index in graph.nodes>`. */
  id: string;
  name: string;
  opType: string;
  domain: string;
  category: OpCategory;
  inputs: string[];
  outputs: string[];
  weights: WeightBadge[];
  /** Number of subgraphs the node holds (If branches, Loop bodies). */
  subgraphs: number;
  parameters: number;
}

export interface EdgeSummary {
  id: string;
  /** A node id, or `in:<name>` for a graph input. */
  source: string;
  /** A node id, or `out:<name>` for a graph output. */
  target: string;
  tensor: string;
  dtype?: string;
  shape?: DimSummary[];
}

/** The light graph the page draws: no weights cross the worker boundary. */
export interface GraphSummary {
  nodes: NodeSummary[];
  edges: EdgeSummary[];
  inputs: ValueSummary[];
  outputs: ValueSummary[];
}

function factsShape(f: ValueFacts | undefined): DimSummary[] | undefined {
  return f?.shape?.map((d) => d ?? null);
}

/** One node as the graph view shows it (`index` is its position in `graph.nodes`). */
function summarizeNode(graph: Graph, n: Node, index: number): NodeSummary {
  const weights: WeightBadge[] = [];
  let parameters = 0;
  n.inputs.forEach((name, slot) => {
    const t = graph.initializers.get(name);
    if (!t) return;
    weights.push({ slot, name, dtype: dtypeName(t.dataType), shape: tensorDims(t) });
    parameters += elementCount(t.dims);
  });
  return {
    id: `n${index}`,
    name: n.name,
    opType: n.opType,
    domain: n.domain,
    category: opCategory(n.opType),
    inputs: [...n.inputs],
    outputs: [...n.outputs],
    weights,
    subgraphs: n.subgraphs.reduce((k, s) => k + s.graphs.length, 0),
    parameters,
  };
}

export function summarizeGraph(graph: Graph): GraphSummary {
  const facts = inferShapes(graph);
  const idOf = new Map<Node, string>();
  graph.nodes.forEach((n, i) => idOf.set(n, `n${i}`));
  const nodes = graph.nodes.map((n, i) => summarizeNode(graph, n, i));
  const edges: EdgeSummary[] = [];
  const feeds = new Set(graph.feedInputs().map((v) => v.name));
  const edge = (source: string, target: string, tensor: string) => {
    const f = facts.get(tensor);
    edges.push({
      id: `${source}>${target}:${tensor}`,
      source,
      target,
      tensor,
      dtype: f?.elemType !== undefined ? dtypeName(f.elemType) : undefined,
      shape: factsShape(f),
    });
  };
  for (const n of graph.nodes) {
    for (const name of new Set(n.reads())) {
      if (graph.initializers.has(name)) continue;
      const p = graph.producer(name);
      if (p) edge(idOf.get(p)!, idOf.get(n)!, name);
      else if (feeds.has(name)) edge(`in:${name}`, idOf.get(n)!, name);
    }
  }
  for (const o of graph.outputs) {
    const p = graph.producer(o.name);
    if (p) edge(idOf.get(p)!, `out:${o.name}`, o.name);
    else if (feeds.has(o.name)) edge(`in:${o.name}`, `out:${o.name}`, o.name);
  }
  return {
    nodes,
    edges,
    inputs: graph.feedInputs().map((v) => summarizeValue(graph, v.name)),
    outputs: graph.outputs.map((v) => summarizeValue(graph, v.name)),
  };
}

/** An attribute as text for the inspector. */
export interface AttributeSummary {
  name: string;
  type: string;
  value: string;
}

export interface WeightDetails extends WeightBadge {
  stats: TensorStats | null;
  /** Why stats are missing (strings, external data not provided, ...). */
  note?: string;
}

export interface NodeDetails {
  node: NodeSummary;
  docString: string;
  attributes: AttributeSummary[];
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  weights: WeightDetails[];
}

const dec = new TextDecoder();

function formatTensorBrief(t: TensorProto | undefined): string {
  if (!t) return '';
  return `tensor ${dtypeName(t.dataType)}[${tensorDims(t).join('×')}]`;
}

export function formatAttribute(a: AttributeProto): AttributeSummary {
  const list = <T>(xs: T[], f: (x: T) => string) =>
    `[${xs.slice(0, 16).map(f).join(', ')}${xs.length > 16 ? `, … (${xs.length})` : ''}]`;
  const type = AttrType[a.type] ?? String(a.type);
  let value: string;
  switch (a.type) {
    case AttrType.FLOAT:
      value = String(a.f);
      break;
    case AttrType.INT:
      value = String(a.i);
      break;
    case AttrType.STRING:
      value = JSON.stringify(dec.decode(a.s));
      break;
    case AttrType.FLOATS:
      value = list(a.floats, String);
      break;
    case AttrType.INTS:
      value = list(a.ints, String);
      break;
    case AttrType.STRINGS:
      value = list(a.strings, (s) => JSON.stringify(dec.decode(s)));
      break;
    case AttrType.TENSOR:
      value = formatTensorBrief(a.t);
      break;
    case AttrType.TENSORS:
      value = list(a.tensors, formatTensorBrief);
      break;
    case AttrType.GRAPH:
      value = `graph "${a.g?.name ?? ''}" (${a.g?.node.length ?? 0} nodes)`;
      break;
    case AttrType.GRAPHS:
      value = list(a.graphs, (g) => `graph "${g.name}" (${g.node.length} nodes)`);
      break;
    case AttrType.TYPE_PROTO:
      value = typeString(a.tp);
      break;
    default:
      value = a.refAttrName ? `→ ${a.refAttrName}` : '';
  }
  return { name: a.name, type, value };
}

/** Everything the inspector shows for one node of the main graph (`id` as in {@link NodeSummary}). */
export function describeNode(model: Model, id: string): NodeDetails | undefined {
  const g = model.graph;
  const index = Number(id.replace(/^n/, ''));
  const n = g.nodes[index];
  if (!n) return undefined;
  const facts = inferShapes(g);
  const value = (name: string): ValueSummary => {
    const f = facts.get(name);
    const t = g.valueType(name);
    return {
      name,
      type: t ? typeString(t) : f?.elemType !== undefined ? dtypeName(f.elemType) : 'unknown',
      elemType: f?.elemType,
      shape: factsShape(f) ?? null,
    };
  };
  const node = summarizeNode(g, n, index);
  const weights: WeightDetails[] = node.weights.map((w) => {
    const t = g.initializers.get(w.name)!;
    try {
      return { ...w, stats: tensorStats(tensorToFloat64(t, model.external)) };
    } catch (e) {
      return { ...w, stats: null, note: e instanceof Error ? e.message : String(e) };
    }
  });
  return {
    node,
    docString: n.proto.docString,
    attributes: n.proto.attribute.map(formatAttribute),
    inputs: n.inputs.filter((x) => x).map(value),
    outputs: n.outputs.filter((x) => x).map(value),
    weights,
  };
}
