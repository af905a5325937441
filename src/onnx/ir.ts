import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  type AttributeProto,
  AttributeProtoSchema,
  AttributeProto_AttributeType as AttrType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  NodeProtoSchema,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from './proto/onnx_pb';
import { decodeModelProto, encodeModelProto } from './codec';
import type { ExternalFiles } from './tensor';

/** A copy of a protobuf message that shares its field values (and keeps proto2 presence and unknown fields). */
function shallowCopy<T extends object>(message: T): T {
  return Object.assign(Object.create(Object.getPrototypeOf(message) as object) as T, message);
}

export class GraphCycleError extends Error {
  override name = 'GraphCycleError';
}

/** One dimension of a value's shape: a number, a symbolic name, or unknown. */
export type Dim = number | string | undefined;

/** What a new node is made of; attributes are ready-made AttributeProtos (see `attr` in builder.ts). */
export interface NodeInit {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: AttributeProto[];
}

/** A node of a graph. Its protobuf is kept so that nothing the IR does not model is lost. */
export class Node {
  /** Subgraphs held in GRAPH / GRAPHS attributes (If branches, Loop and Scan bodies). */
  readonly subgraphs: { attribute: string; graphs: Graph[] }[] = [];

  constructor(
    public proto: NodeProto,
    public readonly graph: Graph,
  ) {
    for (const a of proto.attribute) {
      if (a.g) this.subgraphs.push({ attribute: a.name, graphs: [new Graph(a.g, graph, this)] });
      else if (a.graphs.length)
        this.subgraphs.push({ attribute: a.name, graphs: a.graphs.map((g) => new Graph(g, graph, this)) });
    }
  }

  get name(): string {
    return this.proto.name;
  }
  get opType(): string {
    return this.proto.opType;
  }
  /** '' for the default ONNX domain. */
  get domain(): string {
    return this.proto.domain === 'ai.onnx' ? '' : this.proto.domain;
  }
  /** Input value names; '' marks an omitted optional input. Change them with {@link setInput}. */
  get inputs(): readonly string[] {
    return this.proto.input;
  }
  get outputs(): readonly string[] {
    return this.proto.output;
  }

  setInput(index: number, name: string): void {
    this.proto.input[index] = name;
    this.graph.invalidate();
  }
  setOutput(index: number, name: string): void {
    this.proto.output[index] = name;
    this.graph.invalidate();
  }

  attribute(name: string): AttributeProto | undefined {
    return this.proto.attribute.find((a) => a.name === name);
  }
  attrInt(name: string, fallback: number): number {
    const a = this.attribute(name);
    return a && (a.type === AttrType.INT || a.i !== 0n) ? Number(a.i) : fallback;
  }
  attrFloat(name: string, fallback: number): number {
    const a = this.attribute(name);
    return a ? a.f : fallback;
  }
  attrInts(name: string): number[] | undefined {
    const a = this.attribute(name);
    return a ? a.ints.map(Number) : undefined;
  }
  attrString(name: string, fallback: string): string {
    const a = this.attribute(name);
    return a ? new TextDecoder().decode(a.s) : fallback;
  }
  setAttribute(attribute: AttributeProto): void {
    const i = this.proto.attribute.findIndex((a) => a.name === attribute.name);
    if (i >= 0) this.proto.attribute[i] = attribute;
    else this.proto.attribute.push(attribute);
  }

  /** Names this node reads, including names its subgraphs read from enclosing scopes. */
  reads(): string[] {
    const names = this.inputs.filter((n) => n !== '');
    for (const s of this.subgraphs) for (const g of s.graphs) names.push(...g.outerReferences());
    return names;
  }

  toProto(): NodeProto {
    if (this.subgraphs.length === 0) return this.proto;
    const copy = shallowCopy(this.proto);
    copy.attribute = this.proto.attribute.map((a) => {
      const s = this.subgraphs.find((x) => x.attribute === a.name);
      if (!s) return a;
      const b = shallowCopy(a);
      if (a.g) b.g = s.graphs[0].toProto();
      else b.graphs = s.graphs.map((g) => g.toProto());
      return b;
    });
    return copy;
  }
}

interface GraphIndex {
  producer: Map<string, Node>;
  consumers: Map<string, Node[]>;
}

/**
 * A graph: nodes, inputs, outputs, initializers and value infos, with producer/consumer maps that
 * the mutation helpers keep consistent. Change nodes and edges through these helpers (or call
 * {@link invalidate} after editing protos by hand).
 */
export class Graph {
  nodes: Node[];
  /** Initializers by name, in file order. Their data stays a view into the file until replaced. */
  initializers: Map<string, TensorProto>;
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  private index?: GraphIndex;
  private outerRefs?: string[];

  constructor(
    /** The protobuf this graph came from; its list fields are rebuilt by {@link toProto}. */
    public proto: GraphProto,
    /** The enclosing graph, for subgraphs. */
    public readonly parent?: Graph,
    /** The node whose attribute holds this subgraph. */
    public readonly owner?: Node,
  ) {
    this.initializers = new Map(proto.initializer.map((t) => [t.name, t]));
    this.inputs = [...proto.input];
    this.outputs = [...proto.output];
    this.valueInfo = [...proto.valueInfo];
    this.nodes = proto.node.map((n) => new Node(n, this));
  }

  get name(): string {
    return this.proto.name;
  }

  /** Forget the producer/consumer maps; they are rebuilt on next use. */
  invalidate(): void {
    this.index = undefined;
    this.outerRefs = undefined;
    for (let g = this.parent; g; g = g.parent) {
      g.outerRefs = undefined;
      g.index = undefined;
    }
  }

  private getIndex(): GraphIndex {
    if (this.index) return this.index;
    const producer = new Map<string, Node>();
    const consumers = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const o of n.outputs) if (o) producer.set(o, n);
      for (const i of new Set(n.reads())) {
        const list = consumers.get(i);
        if (list) list.push(n);
        else consumers.set(i, [n]);
      }
    }
    this.index = { producer, consumers };
    return this.index;
  }

  producer(name: string): Node | undefined {
    return this.getIndex().producer.get(name);
  }
  /** Nodes reading `name` directly or through their subgraphs. */
  consumers(name: string): readonly Node[] {
    return this.getIndex().consumers.get(name) ?? [];
  }
  isInitializer(name: string): boolean {
    return this.initializers.has(name);
  }
  isGraphInput(name: string): boolean {
    return this.inputs.some((v) => v.name === name);
  }
  isGraphOutput(name: string): boolean {
    return this.outputs.some((v) => v.name === name);
  }
  /** Inputs the caller feeds: graph inputs that are not initializers (IR < 4 lists weights as inputs). */
  feedInputs(): ValueInfoProto[] {
    return this.inputs.filter((v) => !this.initializers.has(v.name));
  }

  /** Whether a name is defined in this graph (input, initializer or node output). */
  defines(name: string): boolean {
    return this.isGraphInput(name) || this.initializers.has(name) || this.getIndex().producer.has(name);
  }
  /** Whether a name is visible here: defined in this graph or in an enclosing one. */
  sees(name: string): boolean {
    return this.defines(name) || (this.parent?.sees(name) ?? false);
  }

  /** Names this graph (and its nested subgraphs) reads from enclosing scopes. */
  outerReferences(): string[] {
    if (this.outerRefs) return this.outerRefs;
    const refs = new Set<string>();
    for (const n of this.nodes) for (const r of n.reads()) if (!this.defines(r)) refs.add(r);
    for (const o of this.outputs) if (!this.defines(o.name)) refs.add(o.name);
    this.outerRefs = [...refs];
    return this.outerRefs;
  }

  /** The declared type of a value (graph input/output or value_info), if any. */
  valueType(name: string): TypeProto | undefined {
    const vi =
      this.inputs.find((v) => v.name === name) ??
      this.outputs.find((v) => v.name === name) ??
      this.valueInfo.find((v) => v.name === name);
    if (vi?.type) return vi.type;
    const t = this.initializers.get(name);
    if (t)
      return create(ValueInfoProtoSchema, {
        type: {
          value: {
            case: 'tensorType',
            value: {
              elemType: t.dataType,
              shape: { dim: t.dims.map((d) => ({ value: { case: 'dimValue' as const, value: d } })) },
            },
          },
        },
      }).type;
    return undefined;
  }

  /** The shape of a value as far as it is declared, or undefined when unknown. */
  valueShape(name: string): Dim[] | undefined {
    const t = this.valueType(name);
    if (t?.value.case !== 'tensorType' || !t.value.value.shape) return undefined;
    return t.value.value.shape.dim.map((d) =>
      d.value.case === 'dimValue'
        ? Number(d.value.value)
        : d.value.case === 'dimParam'
          ? d.value.value
          : undefined,
    );
  }
  valueElemType(name: string): number | undefined {
    const t = this.valueType(name);
    return t?.value.case === 'tensorType' ? t.value.value.elemType : undefined;
  }

  /** Nodes in an order where every node comes after the producers of its inputs. */
  topologicalOrder(): Node[] {
    const index = this.getIndex();
    const pending = new Map<Node, number>();
    const ready: Node[] = [];
    for (const n of this.nodes) {
      let deps = 0;
      for (const r of new Set(n.reads())) if (index.producer.has(r)) deps++;
      pending.set(n, deps);
      if (deps === 0) ready.push(n);
    }
    const order: Node[] = [];
    while (ready.length) {
      const n = ready.pop()!;
      order.push(n);
      for (const o of n.outputs) {
        if (!o) continue;
        for (const c of index.consumers.get(o) ?? []) {
          const left = pending.get(c)! - 1;
          pending.set(c, left);
          if (left === 0) ready.push(c);
        }
      }
    }
    if (order.length !== this.nodes.length) {
      const stuck = this.nodes.filter((n) => (pending.get(n) ?? 0) > 0).map((n) => n.name || n.opType);
      throw new GraphCycleError(
        `The graph has a cycle through ${stuck.length} node(s): ${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', …' : ''}.`,
      );
    }
    // Keep file order where it is already valid: a stable order is easier to read and diff.
    return order.length === this.nodes.length && this.isSorted() ? [...this.nodes] : order;
  }

  private isSorted(): boolean {
    const seen = new Set<string>();
    const index = this.getIndex();
    for (const n of this.nodes) {
      for (const r of n.reads()) if (index.producer.has(r) && !seen.has(r)) return false;
      for (const o of n.outputs) seen.add(o);
    }
    return true;
  }

  /** A name not used by any value or node in this graph, derived from `base`. */
  uniqueName(base: string): string {
    const taken = (s: string) =>
      this.defines(s) || this.nodes.some((n) => n.name === s) || this.valueInfo.some((v) => v.name === s);
    if (!taken(base)) return base;
    for (let i = 1; ; i++) if (!taken(`${base}_${i}`)) return `${base}_${i}`;
  }

  /** Add a node, by default at the end; `before`/`after` place it next to another node. */
  addNode(init: NodeInit, place?: { before?: Node; after?: Node }): Node {
    const proto = create(NodeProtoSchema, {
      opType: init.opType,
      input: [...init.inputs],
      output: [...init.outputs],
      name: init.name ?? this.uniqueName(init.opType),
      domain: init.domain ?? '',
      attribute: init.attributes ?? [],
    });
    const node = new Node(proto, this);
    const anchor = place?.before ?? place?.after;
    const at = anchor ? this.nodes.indexOf(anchor) : -1;
    if (at < 0) this.nodes.push(node);
    else this.nodes.splice(place?.after ? at + 1 : at, 0, node);
    this.invalidate();
    return node;
  }

  removeNode(node: Node): void {
    const i = this.nodes.indexOf(node);
    if (i >= 0) this.nodes.splice(i, 1);
    this.invalidate();
  }

  /** Point every reader of `from` (nodes, subgraphs, and graph outputs when asked) at `to`. */
  replaceUses(from: string, to: string, options: { graphOutputs?: boolean; except?: Node } = {}): void {
    for (const n of [...this.consumers(from)]) {
      if (n === options.except) continue;
      n.proto.input.forEach((x, k) => x === from && (n.proto.input[k] = to));
      for (const s of n.subgraphs) for (const g of s.graphs) g.renameOuter(from, to);
    }
    if (options.graphOutputs)
      this.outputs = this.outputs.map((o) => {
        if (o.name !== from) return o;
        const c = shallowCopy(o);
        c.name = to;
        return c;
      });
    this.invalidate();
  }

  private renameOuter(from: string, to: string): void {
    if (this.defines(from)) return;
    for (const n of this.nodes) {
      n.proto.input.forEach((x, k) => x === from && (n.proto.input[k] = to));
      for (const s of n.subgraphs) for (const g of s.graphs) g.renameOuter(from, to);
    }
    // A subgraph output may name an outer value directly (outerReferences counts it as a read).
    this.outputs = this.outputs.map((o) => {
      if (o.name !== from) return o;
      const c = shallowCopy(o);
      c.name = to;
      return c;
    });
    this.invalidate();
  }

  /**
   * Remove a node that passes one input through unchanged (Identity, Dropout in inference, a no-op
   * Reshape): readers of its first output read `input` instead. When that output is a graph output,
   * the producer of `input` is renamed instead so the graph's interface keeps its names. Returns
   * false, changing nothing, when that is impossible (the input is read elsewhere or is a graph input).
   */
  bypassNode(node: Node, inputIndex = 0): boolean {
    const input = node.inputs[inputIndex];
    const output = node.outputs[0];
    if (this.isGraphOutput(output)) {
      // The graph's interface keeps its names: rename the producer's output instead, which is only
      // possible when nothing else reads the input and it is not itself an input or output.
      const producer = this.producer(input);
      const canRename =
        producer &&
        !this.isGraphOutput(input) &&
        !this.isGraphInput(input) &&
        this.consumers(input).every((c) => c === node);
      if (!canRename) return false;
      this.removeNode(node);
      producer.setOutput(producer.outputs.indexOf(input), output);
      return true;
    }
    this.removeNode(node);
    this.replaceUses(output, input);
    return true;
  }

  /**
   * Insert a node reading `value` and re-point all other readers of `value` to the node's output
   * (e.g. a QuantizeLinear/DequantizeLinear pair after an activation). Returns the new node.
   */
  insertAfter(value: string, init: Omit<NodeInit, 'inputs'> & { inputs?: string[] }): Node {
    const readers = [...this.consumers(value)];
    const producer = this.producer(value);
    // Right after the producer; for a graph input or initializer, before its first reader, so
    // the node list stays topologically sorted as ONNX requires.
    const firstReader = this.nodes.find((n) => readers.includes(n));
    const node = this.addNode(
      { ...init, inputs: init.inputs ?? [value] },
      producer ? { after: producer } : firstReader ? { before: firstReader } : undefined,
    );
    const out = init.outputs[0];
    for (const n of readers) {
      n.proto.input.forEach((x, k) => x === value && (n.proto.input[k] = out));
      for (const s of n.subgraphs) for (const g of s.graphs) g.renameOuter(value, out);
    }
    if (this.isGraphOutput(value)) {
      this.outputs = this.outputs.map((o) => {
        if (o.name !== value) return o;
        const c = shallowCopy(o);
        c.name = out;
        return c;
      });
    }
    this.invalidate();
    return node;
  }

  addInitializer(tensor: TensorProto): void {
    this.initializers.set(tensor.name, tensor);
    this.invalidate();
  }

  removeInitializer(name: string): void {
    this.initializers.delete(name);
    this.inputs = this.inputs.filter((v) => v.name !== name);
    this.invalidate();
  }

  /**
   * Remove nodes whose outputs reach no graph output, then initializers nothing reads.
   * Returns how many nodes and initializers went.
   */
  removeDeadCode(): { nodes: number; initializers: number } {
    const live = new Set<string>(this.outputs.map((o) => o.name));
    const keep = new Set<Node>();
    for (const n of [...this.topologicalOrder()].reverse()) {
      if (n.outputs.some((o) => live.has(o))) {
        keep.add(n);
        for (const r of n.reads()) live.add(r);
      }
    }
    const before = this.nodes.length;
    this.nodes = this.nodes.filter((n) => keep.has(n));
    let initializers = 0;
    for (const name of [...this.initializers.keys()]) {
      if (!live.has(name)) {
        this.removeInitializer(name);
        initializers++;
      }
    }
    this.valueInfo = this.valueInfo.filter((v) => live.has(v.name));
    this.invalidate();
    return { nodes: before - this.nodes.length, initializers };
  }

  /** Every graph here and below (this one first), for walks over subgraphs. */
  *allGraphs(): Generator<Graph> {
    yield this;
    for (const n of this.nodes) for (const s of n.subgraphs) for (const g of s.graphs) yield* g.allGraphs();
  }

  toProto(): GraphProto {
    const g = shallowCopy(this.proto);
    g.node = this.nodes.map((n) => n.toProto());
    g.initializer = [...this.initializers.values()];
    g.input = this.inputs;
    g.output = this.outputs;
    g.valueInfo = this.valueInfo;
    return g;
  }
}

/** A model: its main graph plus everything else the file holds (opsets, metadata, functions). */
export class Model {
  graph: Graph;

  constructor(
    public proto: ModelProto,
    /** External-data files by location, for models whose weights live outside the .onnx file. */
    public external: ExternalFiles = new Map(),
  ) {
    this.graph = new Graph(proto.graph!);
  }

  static decode(bytes: Uint8Array, external?: ExternalFiles): Model {
    return new Model(decodeModelProto(bytes), external);
  }

  /** Opset version imported for a domain ('' or 'ai.onnx' for the default domain). */
  opsetVersion(domain = ''): number | undefined {
    const d = domain === 'ai.onnx' ? '' : domain;
    const o = this.proto.opsetImport.find((x) => (x.domain === 'ai.onnx' ? '' : x.domain) === d);
    return o ? Number(o.version) : undefined;
  }

  toProto(): ModelProto {
    const m = shallowCopy(this.proto);
    m.graph = this.graph.toProto();
    return m;
  }

  encode(): Uint8Array {
    return encodeModelProto(this.toProto());
  }

  /** An independent copy that stages can change freely (weights still shared until replaced). */
  clone(): Model {
    return Model.decode(this.encode(), this.external);
  }
}

/** Make an AttributeProto (used by the builder and the stages). */
export function makeAttribute(
  init: MessageInitShape<typeof AttributeProtoSchema> & { name: string; type: AttrType },
): AttributeProto {
  return create(AttributeProtoSchema, init);
}
export { AttrType };
