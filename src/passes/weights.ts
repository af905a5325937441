import type { Graph, Model, Node } from '../onnx/ir';
import type { TensorProto } from '../onnx/proto/onnx_pb';
import { DataType } from '../onnx/dtype';
import { elementCount, floatToHalf, makeTensor, tensorArray, tensorToFloat64 } from '../onnx/tensor';
import { makeAttr } from '../onnx/builder';

/** Operators whose weight input the pruning and clustering stages work on. */
export const WEIGHT_OPS = ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'] as const;
export type WeightOp = (typeof WEIGHT_OPS)[number];

/** Ops that only move a weight's elements around (pruning and clustering commute with them). */
const LAYOUT_OPS: ReadonlySet<string> = new Set([
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Flatten',
  'Identity',
]);

const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE]);

/** A stored float weight tensor (an initializer or a Constant node) read as the weight of some layers. */
export interface StoredWeight {
  graph: Graph;
  /** The stored value's name (initializer name, or the Constant node's output). */
  name: string;
  tensor: TensorProto;
  /** The Constant node holding it, when it is not an initializer. */
  constantNode?: Node;
  /** The layers (Conv, Gemm, ...) reading it as their weight, possibly through Reshape/Transpose. */
  users: Node[];
  elements: number;
}

export interface WeightSearch {
  ops?: readonly string[];
  /** Node names to leave alone. */
  exclude?: readonly string[];
  /** Skip tensors with fewer elements than this. */
  minSize?: number;
}

export interface WeightSearchResult {
  weights: StoredWeight[];
  /** Why candidate weights were left out, with how many of each. */
  skipped: Map<string, number>;
}

function storedIn(
  graph: Graph,
  name: string,
  irVersion: number,
): { tensor: TensorProto; node?: Node } | undefined {
  const init = graph.initializers.get(name);
  // With IR ≥ 4 an initializer that is also a graph input is only a default the caller may override.
  if (init) return irVersion >= 4 && graph.isGraphInput(name) ? undefined : { tensor: init };
  const p = graph.producer(name);
  if (p && p.opType === 'Constant' && p.domain === '') {
    const t = p.attribute('value')?.t;
    return t ? { tensor: t, node: p } : undefined;
  }
  return undefined;
}

/** The weight input a layer reads (its index), or undefined when it has none we can use. */
function weightInput(graph: Graph, node: Node, irVersion: number): number | undefined {
  if (node.opType !== 'MatMul') return node.inputs[1] ? 1 : undefined;
  for (const i of [1, 0]) if (resolve(graph, node.inputs[i], irVersion)) return i;
  return undefined;
}

/** Follow a value back through layout-only ops (each read only by the next step) to a stored tensor. */
function resolve(
  graph: Graph,
  name: string,
  irVersion: number,
): { name: string; tensor: TensorProto; node?: Node } | undefined {
  let current = name;
  for (let depth = 0; depth < 8; depth++) {
    const s = storedIn(graph, current, irVersion);
    if (s) return { name: current, ...s };
    const p = graph.producer(current);
    if (!p || !LAYOUT_OPS.has(p.opType) || p.domain !== '' || graph.consumers(current).length !== 1)
      return undefined;
    if (graph.isGraphOutput(current)) return undefined;
    // The other inputs (shapes, axes) must be constants too, or the chain is not a fixed layout.
    if (p.inputs.slice(1).some((i) => i && !storedIn(graph, i, irVersion))) return undefined;
    current = p.inputs[0];
  }
  return undefined;
}

/**
 * The stored float weights of Conv / ConvTranspose / Gemm / MatMul layers in every graph of a model,
 * deduplicated (a tensor shared by several layers appears once, with all its users).
 */
export function findWeights(model: Model, search: WeightSearch = {}): WeightSearchResult {
  const ops = new Set(search.ops ?? WEIGHT_OPS);
  const exclude = new Set(search.exclude ?? []);
  const minSize = search.minSize ?? 0;
  const irVersion = Number(model.proto.irVersion);
  const skipped = new Map<string, number>();
  const skip = (why: string) => skipped.set(why, (skipped.get(why) ?? 0) + 1);
  const weights: StoredWeight[] = [];
  for (const graph of model.graph.allGraphs()) {
    const byName = new Map<string, StoredWeight>();
    for (const node of graph.nodes) {
      if (!ops.has(node.opType) || node.domain !== '') continue;
      const wi = weightInput(graph, node, irVersion);
      const r = wi === undefined ? undefined : resolve(graph, node.inputs[wi], irVersion);
      if (!r) {
        skip('the weight is computed at run time');
        continue;
      }
      const entry = byName.get(r.name);
      if (entry) entry.users.push(node);
      else
        byName.set(r.name, {
          graph,
          name: r.name,
          tensor: r.tensor,
          constantNode: r.node,
          users: [node],
          elements: elementCount(r.tensor.dims),
        });
    }
    for (const w of byName.values()) {
      if (!FLOAT_TYPES.has(w.tensor.dataType)) {
        skip('the weight is not a float tensor');
        continue;
      }
      if (w.users.some((u) => exclude.has(u.name))) {
        skip('excluded');
        continue;
      }
      if (w.elements < minSize) {
        skip(`smaller than ${minSize} elements`);
        continue;
      }
      // A tensor that other operators read as well is not only a weight; changing it would change them.
      const readers = graph.consumers(w.name).length + (graph.isGraphOutput(w.name) ? 1 : 0);
      const viaChains = w.users.filter((u) => !u.inputs.includes(w.name)).length;
      const direct = w.users.filter((u) => u.inputs.includes(w.name)).length;
      if (readers !== direct + viaChains) {
        skip('the tensor is read by other operators too');
        continue;
      }
      weights.push(w);
    }
  }
  return { weights, skipped };
}

/** A weight's elements as float32 (float16 and double are converted). */
export function weightValues(w: StoredWeight, model: Model): Float32Array {
  if (w.tensor.dataType === DataType.FLOAT)
    return new Float32Array(tensorArray(w.tensor, model.external) as Float32Array);
  return Float32Array.from(tensorToFloat64(w.tensor, model.external));
}

/** Replace a stored weight's values, keeping its name, type and shape. */
export function replaceWeight(w: StoredWeight, values: Float32Array): void {
  const dims = w.tensor.dims.map(Number);
  let t: TensorProto;
  if (w.tensor.dataType === DataType.FLOAT) t = makeTensor(w.name, DataType.FLOAT, dims, values);
  else if (w.tensor.dataType === DataType.DOUBLE)
    t = makeTensor(w.name, DataType.DOUBLE, dims, Float64Array.from(values));
  else
    t = makeTensor(
      w.name,
      DataType.FLOAT16,
      dims,
      Uint16Array.from(values, (v) => floatToHalf(v)),
    );
  if (w.constantNode) {
    t.name = w.tensor.name;
    w.constantNode.setAttribute(makeAttr('value', t));
  } else w.graph.addInitializer(t);
  w.tensor = t;
}
