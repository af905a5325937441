import type { Graph, Node } from '../onnx/ir';
import { inferShapes, type ValueFacts } from '../onnx/shapes';
import { byteLength } from '../onnx/dtype';

/** Multiply-accumulates per node and peak activation memory of a graph (main graph, batch as declared). */
export interface ComputeMetrics {
  /** Total MACs of Conv/ConvTranspose/Gemm/MatMul (and their integer forms); undefined parts count 0. */
  macs: number;
  macsByNode: Map<string, number>;
  /** Nodes whose MACs could not be computed because a shape is unknown. */
  unknownMacNodes: number;
  /**
   * Largest total size of activations alive at once when nodes run in topological order (each tensor
   * lives from its producer to its last consumer): the tensor arena an MCU runtime must reserve.
   * Graph inputs count; weights, and values computed from weights alone, do not.
   */
  peakActivationBytes: number;
  /** Activations whose size is unknown (left out of the peak). */
  unknownActivations: number;
}

function known(shape: ValueFacts['shape']): number[] | undefined {
  if (!shape || shape.some((d) => typeof d !== 'number')) return undefined;
  return shape as number[];
}
const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** MACs of one node from input/output shapes, or undefined when a needed shape is unknown. */
export function nodeMacs(n: Node, facts: Map<string, ValueFacts>): number | undefined {
  const shape = (name: string | undefined) => (name ? known(facts.get(name)?.shape) : undefined);
  switch (n.opType) {
    case 'Conv':
    case 'ConvInteger':
    case 'QLinearConv': {
      const w = shape(n.opType === 'QLinearConv' ? n.inputs[3] : n.inputs[1]);
      const y = shape(n.outputs[0]);
      if (!w || !y) return undefined;
      return product(y) * product(w.slice(1));
    }
    case 'ConvTranspose': {
      const x = shape(n.inputs[0]);
      const w = shape(n.inputs[1]);
      if (!x || !w) return undefined;
      return product(x) * product(w.slice(1));
    }
    case 'Gemm': {
      const a = shape(n.inputs[0]);
      const y = shape(n.outputs[0]);
      if (!a || !y || a.length !== 2) return undefined;
      const k = n.attrInt('transA', 0) ? a[0] : a[1];
      return product(y) * k;
    }
    case 'MatMul':
    case 'MatMulInteger':
    case 'QLinearMatMul':
    case 'MatMulNBits': {
      const a = shape(n.inputs[0]);
      const y = shape(n.outputs[0]);
      if (!a || !y) return undefined;
      return product(y) * a[a.length - 1];
    }
    default:
      return 0;
  }
}

/**
 * MACs of every node of a graph, indexed like `graph.nodes` (NaN where a needed shape is unknown):
 * the per-node figures {@link computeMetrics} adds up, for the graph view's labels and inspector.
 * Pass the shape facts when they are already inferred.
 */
export function macsPerNode(graph: Graph, facts: Map<string, ValueFacts> = inferShapes(graph)): Float64Array {
  const out = new Float64Array(graph.nodes.length);
  graph.nodes.forEach((n, i) => {
    out[i] = nodeMacs(n, facts) ?? NaN;
  });
  return out;
}

export function computeMetrics(graph: Graph): ComputeMetrics {
  const facts = inferShapes(graph);
  const macsByNode = new Map<string, number>();
  let macs = 0;
  let unknownMacNodes = 0;
  const order = graph.topologicalOrder();
  for (const n of order) {
    const m = nodeMacs(n, facts);
    if (m === undefined) unknownMacNodes++;
    else {
      macs += m;
      if (m > 0) macsByNode.set(n.name, m);
    }
  }
  const sizeOf = (name: string) => {
    const f = facts.get(name);
    const s = known(f?.shape);
    return s && f?.elemType !== undefined ? byteLength(f.elemType, product(s)) : undefined;
  };
  // Values computed from weights alone (DequantizeLinear of an int8 weight, a codebook Gather,
  // Constant nodes) are weights too: runtimes fold them at load time, so they take no arena space.
  const fed = new Set(graph.feedInputs().map((v) => v.name));
  const constant = new Set<string>(graph.initializers.keys());
  for (const n of order) {
    const pure =
      n.subgraphs.length === 0 &&
      !n.opType.startsWith('Random') &&
      n.opType !== 'Multinomial' &&
      n.reads().every((r) => constant.has(r) && !fed.has(r));
    if (pure) for (const o of n.outputs) if (o) constant.add(o);
  }
  const lastUse = new Map<string, number>();
  order.forEach((n, i) => n.reads().forEach((r) => lastUse.set(r, i)));
  for (const o of graph.outputs) lastUse.set(o.name, order.length);
  let live = 0;
  let peak = 0;
  let unknownActivations = 0;
  const alive = new Map<string, number>();
  for (const v of graph.feedInputs()) {
    const s = sizeOf(v.name);
    if (s === undefined) unknownActivations++;
    else {
      alive.set(v.name, s);
      live += s;
    }
  }
  peak = live;
  order.forEach((n, i) => {
    for (const o of n.outputs) {
      if (!o || constant.has(o)) continue;
      const s = sizeOf(o);
      if (s === undefined) unknownActivations++;
      else {
        alive.set(o, s);
        live += s;
      }
    }
    peak = Math.max(peak, live);
    for (const [name, s] of [...alive]) {
      if ((lastUse.get(name) ?? -1) <= i) {
        alive.delete(name);
        live -= s;
      }
    }
  });
  return { macs, macsByNode, unknownMacNodes, peakActivationBytes: peak, unknownActivations };
}
