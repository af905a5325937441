import type { Graph, Model, Node } from '../onnx/ir';
import { DataType, dtypeName, type TypedArray } from '../onnx/dtype';
import { makeAttr } from '../onnx/builder';
import { elementCount, makeTensor, tensorDims, tensorToFloat64, type ExternalFiles } from '../onnx/tensor';
import type { ValueFacts } from '../onnx/shapes';
import { constantTensor } from './constants';

/** Integer types the quantization stages write for activations. */
export type ActivationType = 'uint8' | 'int8';

/** The integer grid a quantized tensor lives on. */
export interface QuantGrid {
  /** ONNX element type of the quantized tensor. */
  dataType: number;
  qmin: number;
  qmax: number;
}

/** Affine quantization parameters: x ≈ (q − zeroPoint) · scale. `scale` is already rounded to float32. */
export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

/** uint8 [0, 255] and int8 [−128, 127] for activations (asymmetric). */
export function activationGrid(type: ActivationType): QuantGrid {
  return type === 'uint8'
    ? { dataType: DataType.UINT8, qmin: 0, qmax: 255 }
    : { dataType: DataType.INT8, qmin: -128, qmax: 127 };
}

/** Symmetric int8 weights use [−127, 127] so that zero sits in the middle (as onnxruntime's quantizer does). */
export const WEIGHT_GRID: QuantGrid = { dataType: DataType.INT8, qmin: -127, qmax: 127 };
/** Biases: int32 with zero point 0. */
export const BIAS_GRID: QuantGrid = { dataType: DataType.INT32, qmin: -(2 ** 31), qmax: 2 ** 31 - 1 };

/** Round to nearest, ties to even (as QuantizeLinear does). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Scale and zero point for values in [min, max]. The range is widened to include 0 so that zero is
 * exactly representable (padding, ReLU). Symmetric ranges put the zero point in the middle of the grid
 * (0 for int8 [−127, 127]). A range of width 0 (or too narrow for a float32 scale) gets scale 1.
 */
export function computeQuantParams(
  min: number,
  max: number,
  grid: QuantGrid,
  symmetric = false,
): QuantParams {
  if (!Number.isFinite(min) || !Number.isFinite(max))
    throw new RangeError(`cannot quantize a range that is not finite: [${min}, ${max}]`);
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (symmetric) {
    const absMax = Math.max(-lo, hi);
    // `+ 0` turns the −0 that Math.ceil(−0.5) gives for int8 [−128, 127] into 0.
    const zeroPoint = Math.ceil((grid.qmin + grid.qmax) / 2) + 0;
    const half = (grid.qmax - grid.qmin) / 2;
    // A range too narrow for a float32 scale is zero for all practical purposes.
    const scale = Math.fround(absMax / half);
    return { scale: scale === 0 ? 1 : scale, zeroPoint };
  }
  const scale = Math.fround((hi - lo) / (grid.qmax - grid.qmin));
  if (scale === 0) return { scale: 1, zeroPoint: clampInt(0, grid) };
  const zeroPoint = clampInt(roundHalfEven(grid.qmin - lo / scale), grid);
  return { scale, zeroPoint };
}

function clampInt(q: number, grid: QuantGrid): number {
  return q < grid.qmin ? grid.qmin : q > grid.qmax ? grid.qmax : q;
}

/**
 * q = clamp(round(x / scale) + zeroPoint), as QuantizeLinear computes it: the division in float32
 * (so ties round exactly as onnxruntime rounds them), then round half to even.
 */
export function quantizeValue(x: number, p: QuantParams, grid: QuantGrid): number {
  return clampInt(roundHalfEven(Math.fround(x / p.scale)) + p.zeroPoint, grid);
}

export function dequantizeValue(q: number, p: QuantParams): number {
  return (q - p.zeroPoint) * p.scale;
}

/** A weight tensor quantized per tensor or per channel, ready to become an initializer + DequantizeLinear. */
export interface QuantizedWeight {
  data: Int8Array;
  dims: number[];
  /** One scale per channel along `axis`, or one scale when per tensor. */
  scales: Float32Array;
  zeroPoints: Int8Array;
  /** The channel axis, or undefined for per-tensor quantization. */
  axis?: number;
}

/** Split a tensor's flat index space around `axis`: outer × channels × inner. */
function axisGeometry(dims: readonly number[], axis: number) {
  const a = axis < 0 ? axis + dims.length : axis;
  return {
    outer: dims.slice(0, a).reduce((x, y) => x * y, 1),
    channels: dims[a],
    inner: dims.slice(a + 1).reduce((x, y) => x * y, 1),
  };
}

/**
 * Symmetric int8 quantization of weights, per channel along `axis` (one scale per output channel) or
 * per tensor when `axis` is undefined. `minScales` (one per channel, or one) raises a scale that would
 * be smaller: a bias quantized at input scale × weight scale needs it to fit in int32.
 */
export function quantizeWeight(
  values: ArrayLike<number>,
  dims: readonly number[],
  axis: number | undefined,
  grid: QuantGrid = WEIGHT_GRID,
  minScales?: ArrayLike<number>,
): QuantizedWeight {
  const { outer, channels, inner } =
    axis === undefined ? { outer: 1, channels: 1, inner: values.length } : axisGeometry(dims, axis);
  const absMax = new Float64Array(channels);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      let m = absMax[c];
      for (let k = 0; k < inner; k++) {
        const v = Math.abs(values[base + k]);
        if (v > m) m = v;
      }
      absMax[c] = m;
    }
  const half = (grid.qmax - grid.qmin) / 2;
  const params = Array.from(absMax, (m, c) => {
    const floor = minScales ? minScales[minScales.length === 1 ? 0 : c] : 0;
    const p = computeQuantParams(-m, m, grid, true);
    // Raised only when needed: the weights then use less of the grid, but the bias stays exact.
    return floor > 0 && (m === 0 || p.scale < floor)
      ? computeQuantParams(-floor * half, floor * half, grid, true)
      : p;
  });
  const data = new Int8Array(values.length);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      const p = params[c];
      for (let k = 0; k < inner; k++) data[base + k] = quantizeValue(values[base + k], p, grid);
    }
  return {
    data,
    dims: [...dims],
    scales: Float32Array.from(params, (p) => p.scale),
    zeroPoints: Int8Array.from(params, (p) => p.zeroPoint),
    axis: axis === undefined ? undefined : axis < 0 ? axis + dims.length : axis,
  };
}

/**
 * The smallest weight scale per channel at which `bias` fits in int32 when quantized at input scale ×
 * weight scale (onnxruntime's quantizer raises weight scales the same way). 0 where any scale fits.
 */
export function biasWeightScaleFloor(bias: ArrayLike<number>, inputScale: number): Float64Array {
  // A little headroom so that rounding the float32 scales never tips a value over the limit.
  const limit = (BIAS_GRID.qmax - 1024) * inputScale;
  return Float64Array.from({ length: bias.length }, (_, c) => Math.abs(bias[c]) / limit);
}

/** A bias quantized to int32 with scale = input scale × weight scale (per channel), zero point 0. */
export interface QuantizedBias {
  data: Int32Array;
  scales: Float32Array;
  /** Elements that did not fit in int32 and were clamped. */
  saturated: number;
}

export function quantizeBias(
  values: ArrayLike<number>,
  inputScale: number,
  weightScales: ArrayLike<number>,
): QuantizedBias {
  const n = values.length;
  const scales = Float32Array.from({ length: n }, (_, c) =>
    Math.fround(inputScale * weightScales[weightScales.length === 1 ? 0 : c]),
  );
  const data = new Int32Array(n);
  let saturated = 0;
  for (let c = 0; c < n; c++) {
    const q = roundHalfEven(values[c] / scales[c]);
    const clamped = clampInt(q, BIAS_GRID);
    if (clamped !== q) saturated++;
    data[c] = clamped;
  }
  return { data, scales, saturated };
}

/** The value of a constant tensor (initializer, Constant node, or a Reshape/Flatten/Identity of one). */
export interface ConstantValue {
  values: Float64Array;
  dims: number[];
  dataType: number;
}

/**
 * The value behind `name` when it is known before run time: an initializer, a Constant node, or a
 * Reshape / Flatten / Identity of such a constant with a constant shape (exporters often reshape
 * weights in the graph, as mnist-8 does for its MatMul weight).
 */
export function constantValue(
  graph: Graph,
  name: string,
  external: ExternalFiles,
): ConstantValue | undefined {
  const t = constantTensor(graph, name);
  if (t) {
    if (t.dataType === DataType.STRING) return undefined;
    return { values: tensorToFloat64(t, external), dims: tensorDims(t), dataType: t.dataType };
  }
  const p = graph.producer(name);
  if (!p || p.domain !== '') return undefined;
  if (p.opType === 'Identity') return constantValue(graph, p.inputs[0], external);
  if (p.opType === 'Reshape' && p.inputs[1]) {
    const src = constantValue(graph, p.inputs[0], external);
    const shape = constantValue(graph, p.inputs[1], external);
    if (!src || !shape) return undefined;
    const allowZero = p.attrInt('allowzero', 0) === 1;
    const dims = Array.from(shape.values, (d, i) => (d === 0 && !allowZero ? src.dims[i] : d));
    const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const resolved = dims.map((d) => (d === -1 ? src.values.length / known : d));
    if (elementCount(resolved) !== src.values.length || resolved.some((d) => !Number.isInteger(d) || d < 0))
      return undefined;
    return { ...src, dims: resolved };
  }
  if (p.opType === 'Flatten') {
    const src = constantValue(graph, p.inputs[0], external);
    if (!src) return undefined;
    let axis = p.attrInt('axis', 1);
    if (axis < 0) axis += src.dims.length;
    const rows = src.dims.slice(0, axis).reduce((a, b) => a * b, 1);
    return { ...src, dims: [rows, src.values.length / rows] };
  }
  return undefined;
}

/** Whether a value is a float32 constant (weights the stages can quantize). */
export function floatConstant(
  graph: Graph,
  name: string,
  external: ExternalFiles,
): ConstantValue | undefined {
  const c = name ? constantValue(graph, name, external) : undefined;
  return c && c.dataType === DataType.FLOAT ? c : undefined;
}

/** How stages name a node in exclude lists and change records: its name, or its first output for unnamed nodes. */
export function nodeKey(node: Node): string {
  return node.name || node.outputs[0] || node.opType;
}

/** Operators that only exist in already-quantized (or compressed) models. */
const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'QLinearConv',
  'QLinearMatMul',
  'MatMulInteger',
  'ConvInteger',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'MatMulNBits',
  'QGemm',
  'QLinearAdd',
  'QLinearMul',
]);

/** Quantization operators already in the model ("QuantizeLinear ×4, …"), or undefined for a float model. */
export function quantizationOpsIn(model: Model): string | undefined {
  const counts = new Map<string, number>();
  for (const g of model.graph.allGraphs())
    for (const n of g.nodes)
      if (QUANTIZED_OPS.has(n.opType)) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
  if (counts.size === 0) return undefined;
  return [...counts].map(([op, k]) => `${op} ×${k}`).join(', ');
}

/** Refuse a model that is already quantized, with the operators that show it. */
export function assertFloatModel(model: Model, stage: string): void {
  const found = quantizationOpsIn(model);
  if (found)
    throw new Error(
      `${stage}: the model is already quantized (${found}); run ${stage} on the float model instead`,
    );
}

/** Import a domain (e.g. com.microsoft) at a version when the model does not yet. */
export function importDomain(model: Model, domain: string, version: number): void {
  if (model.opsetVersion(domain) === undefined)
    model.proto.opsetImport.push({ ...model.proto.opsetImport[0], domain, version: BigInt(version) });
}

/** A scalar (or 1-D) initializer with a fresh name. */
export function addConstant(
  graph: Graph,
  base: string,
  dataType: number,
  dims: readonly number[],
  data: TypedArray,
): string {
  const name = graph.uniqueName(base);
  graph.addInitializer(makeTensor(name, dataType, dims, data));
  return name;
}

function typedScalar(dataType: number, value: number): Int8Array | Uint8Array | Int32Array | Float32Array {
  switch (dataType) {
    case DataType.INT8:
      return Int8Array.of(value);
    case DataType.UINT8:
      return Uint8Array.of(value);
    case DataType.INT32:
      return Int32Array.of(value);
    default:
      return Float32Array.of(value);
  }
}

/** Scale and zero-point initializers for per-tensor parameters (shared by a Q and its DQ). */
export function addQuantParams(graph: Graph, base: string, p: QuantParams, grid: QuantGrid) {
  return {
    scale: addConstant(graph, `${base}_scale`, DataType.FLOAT, [], Float32Array.of(p.scale)),
    zeroPoint: addConstant(graph, `${base}_zp`, grid.dataType, [], typedScalar(grid.dataType, p.zeroPoint)),
  };
}

/** Where a new node goes so that the node list stays topologically sorted: after the value's producer. */
function placeAfterProducer(graph: Graph, value: string): { after?: Node; before?: Node } {
  const producer = graph.producer(value);
  if (producer) return { after: producer };
  return graph.nodes.length ? { before: graph.nodes[0] } : {};
}

/**
 * Put a QuantizeLinear → DequantizeLinear pair on an activation: every node reading `value` (those
 * `reads` accepts) reads the dequantized copy instead. Graph outputs keep the float value (the model's
 * interface keeps its names). Returns the Q and DQ outputs.
 */
export function insertActivationQdq(
  graph: Graph,
  value: string,
  params: { scale: string; zeroPoint: string },
  reads: (reader: Node) => boolean = () => true,
): { q: string; dq: string } {
  const readers = graph.consumers(value).filter(reads);
  const place = placeAfterProducer(graph, value);
  const qName = graph.uniqueName(`${value}_q`);
  const q = graph.addNode(
    {
      opType: 'QuantizeLinear',
      name: graph.uniqueName(`${value}_Q`),
      inputs: [value, params.scale, params.zeroPoint],
      outputs: [qName],
    },
    place,
  );
  const dqName = graph.uniqueName(`${value}_dq`);
  graph.addNode(
    {
      opType: 'DequantizeLinear',
      name: graph.uniqueName(`${value}_DQ`),
      inputs: [qName, params.scale, params.zeroPoint],
      outputs: [dqName],
    },
    { after: q },
  );
  for (const n of readers) n.proto.input.forEach((x, k) => x === value && (n.proto.input[k] = dqName));
  graph.invalidate();
  return { q: qName, dq: dqName };
}

/**
 * Add an integer initializer and the DequantizeLinear that turns it back into float, placed before
 * `before`. Per-channel parameters set the DQ's axis; without zero points the DQ uses 0 (int32 biases).
 * Returns the DQ output.
 */
export function addDequantizedConstant(
  graph: Graph,
  base: string,
  q: { data: Int8Array | Uint8Array | Int32Array; dataType: number; dims: readonly number[] },
  params: { scales: Float32Array; zeroPoints?: Int8Array | Uint8Array | Int32Array; axis?: number },
  before: Node,
): string {
  const dataName = addConstant(graph, `${base}_${dtypeName(q.dataType)}`, q.dataType, q.dims, q.data);
  const perChannel = params.axis !== undefined;
  const shape = perChannel ? [params.scales.length] : [];
  const scale = addConstant(graph, `${base}_scale`, DataType.FLOAT, shape, params.scales);
  const zp = params.zeroPoints
    ? [addConstant(graph, `${base}_zp`, q.dataType, shape, params.zeroPoints)]
    : [];
  const out = graph.uniqueName(`${base}_dq`);
  graph.addNode(
    {
      opType: 'DequantizeLinear',
      name: graph.uniqueName(`${base}_DQ`),
      inputs: [dataName, scale, ...zp],
      outputs: [out],
      attributes: perChannel ? [makeAttr('axis', params.axis!)] : [],
    },
    { before },
  );
  return out;
}

/**
 * Drop constants (initializers and Constant nodes) that nothing reads any more, after a stage replaced
 * them with quantized copies. Only the given names are considered, so unrelated dead code stays.
 */
export function removeUnusedConstants(graph: Graph, names: Iterable<string>): number {
  let removed = 0;
  const queue = [...new Set(names)];
  while (queue.length) {
    const name = queue.pop()!;
    if (graph.consumers(name).length > 0 || graph.isGraphOutput(name)) continue;
    if (graph.initializers.has(name)) {
      graph.removeInitializer(name);
      removed++;
      continue;
    }
    const p = graph.producer(name);
    if (p && p.domain === '' && ['Constant', 'Reshape', 'Flatten', 'Identity'].includes(p.opType)) {
      if (p.outputs.some((o) => o && (graph.consumers(o).length > 0 || graph.isGraphOutput(o)))) continue;
      graph.removeNode(p);
      queue.push(...p.inputs.filter((i) => i));
      removed++;
    }
  }
  return removed;
}

/**
 * Fold bias additions into the layer before them, as onnxruntime's own pre-processing does, so the
 * quantized layer carries an int32 bias instead of a separate requantized Add: Conv → Add(per-channel
 * constant) becomes Conv with bias; MatMul(2-D input, constant weight) → Add(constant [N]) becomes Gemm.
 * Returns the names of the folded Add nodes.
 */
export function foldBiasAdds(
  graph: Graph,
  external: ExternalFiles,
  facts: Map<string, ValueFacts>,
  exclude: ReadonlySet<string>,
): string[] {
  const folded: string[] = [];
  for (const add of [...graph.nodes]) {
    if (add.opType !== 'Add' || add.domain !== '' || exclude.has(nodeKey(add))) continue;
    for (const side of [0, 1]) {
      const x = add.inputs[side];
      const p = graph.producer(x);
      if (!p || p.domain !== '' || exclude.has(nodeKey(p))) continue;
      if (graph.consumers(x).length !== 1 || graph.isGraphOutput(x)) continue;
      const c = floatConstant(graph, add.inputs[1 - side], external);
      if (!c) continue;
      const outShape = facts.get(add.outputs[0])?.shape;
      const inShape = facts.get(x)?.shape;
      if (!outShape || !inShape || outShape.length !== inShape.length) continue;
      const done =
        (p.opType === 'Conv' && foldIntoConv(graph, p, add, c, inShape.length, external)) ||
        (p.opType === 'MatMul' && foldIntoGemm(graph, p, add, c, facts, external));
      if (done) {
        folded.push(nodeKey(add));
        break;
      }
    }
  }
  return folded;
}

/**
 * Fold multiplications by a constant into the Conv before them: Conv → Mul(per-channel or scalar
 * constant) becomes one Conv with its weights and bias scaled per output channel. Exporters write
 * such scales separately (PaddleOCR's learnable affine blocks: Conv → Mul → Add after most layers);
 * left alone, each Mul is one more requantization of the activations, and its noise adds up.
 * Returns the names of the folded Mul nodes.
 */
export function foldScaleMuls(
  graph: Graph,
  external: ExternalFiles,
  facts: Map<string, ValueFacts>,
  exclude: ReadonlySet<string>,
): string[] {
  const folded: string[] = [];
  for (const mul of [...graph.nodes]) {
    if (mul.opType !== 'Mul' || mul.domain !== '' || exclude.has(nodeKey(mul))) continue;
    for (const side of [0, 1]) {
      const x = mul.inputs[side];
      const conv = graph.producer(x);
      if (!conv || conv.opType !== 'Conv' || conv.domain !== '' || exclude.has(nodeKey(conv))) continue;
      if (graph.consumers(x).length !== 1 || graph.isGraphOutput(x)) continue;
      const c = floatConstant(graph, mul.inputs[1 - side], external);
      const inShape = facts.get(x)?.shape;
      const outShape = facts.get(mul.outputs[0])?.shape;
      if (!c || !inShape || !outShape || outShape.length !== inShape.length) continue;
      const w = floatConstant(graph, conv.inputs[1], external);
      const biasName = conv.inputs[2];
      const bias = biasName ? floatConstant(graph, biasName, external) : undefined;
      if (!w || (biasName && !bias)) continue;
      const channels = w.dims[0];
      const factors = perChannelValues(c, channels, inShape.length);
      if (!factors) continue;
      const inner = w.values.length / channels;
      const base = nodeKey(conv);
      const weight = addConstant(
        graph,
        `${base}_weight_scaled`,
        DataType.FLOAT,
        w.dims,
        Float32Array.from(w.values, (v, i) => v * factors[Math.floor(i / inner)]),
      );
      const old = [conv.inputs[1], ...(biasName ? [biasName] : [])];
      conv.setInput(1, weight);
      if (bias)
        conv.setInput(
          2,
          addConstant(
            graph,
            `${base}_bias_scaled`,
            DataType.FLOAT,
            [channels],
            Float32Array.from(bias.values, (v, k) => v * factors[k]),
          ),
        );
      const out = mul.outputs[0];
      graph.removeNode(mul);
      conv.setOutput(0, out);
      removeUnusedConstants(graph, [...mul.inputs, ...old]);
      folded.push(nodeKey(mul));
      break;
    }
  }
  return folded;
}

/** Per-channel values of a constant that broadcasts along axis 1 of a rank-`rank` tensor, or undefined. */
function perChannelValues(c: ConstantValue, channels: number, rank: number): Float64Array | undefined {
  const dims = c.dims;
  if (dims.length > rank) return undefined;
  const padded = [...Array(rank - dims.length).fill(1), ...dims];
  if (padded.some((d, i) => i !== 1 && d !== 1)) return undefined;
  if (padded[1] === channels) return c.values;
  if (padded[1] === 1 && c.values.length === 1) return new Float64Array(channels).fill(c.values[0]);
  return undefined;
}

function foldIntoConv(
  graph: Graph,
  conv: Node,
  add: Node,
  c: ConstantValue,
  rank: number,
  external: ExternalFiles,
): boolean {
  const w = floatConstant(graph, conv.inputs[1], external);
  if (!w) return false;
  const channels = w.dims[0];
  const addend = perChannelValues(c, channels, rank);
  if (!addend) return false;
  const oldName = conv.inputs[2];
  const old = oldName ? floatConstant(graph, oldName, external) : undefined;
  if (oldName && !old) return false;
  const bias = Float32Array.from({ length: channels }, (_, k) => (old ? old.values[k] : 0) + addend[k]);
  const name = addConstant(graph, `${nodeKey(conv)}_bias`, DataType.FLOAT, [channels], bias);
  if (conv.inputs.length > 2) conv.setInput(2, name);
  else {
    while (conv.proto.input.length < 2) conv.proto.input.push('');
    conv.proto.input.push(name);
  }
  const out = add.outputs[0];
  graph.removeNode(add);
  conv.setOutput(0, out);
  removeUnusedConstants(graph, [...add.inputs, ...(oldName ? [oldName] : [])]);
  return true;
}

function foldIntoGemm(
  graph: Graph,
  mm: Node,
  add: Node,
  c: ConstantValue,
  facts: Map<string, ValueFacts>,
  external: ExternalFiles,
): boolean {
  const a = facts.get(mm.inputs[0])?.shape;
  const w = floatConstant(graph, mm.inputs[1], external);
  if (!a || a.length !== 2 || !w || w.dims.length !== 2) return false;
  const n = w.dims[1];
  const dims = c.dims.filter((d, i) => !(d === 1 && i < c.dims.length - 1));
  if (c.values.length !== n || dims.length !== 1) return false;
  const bias = addConstant(graph, `${nodeKey(mm)}_bias`, DataType.FLOAT, [n], Float32Array.from(c.values));
  const out = add.outputs[0];
  graph.addNode(
    {
      opType: 'Gemm',
      name: mm.name || undefined,
      inputs: [mm.inputs[0], mm.inputs[1], bias],
      outputs: [out],
    },
    { before: mm },
  );
  graph.removeNode(add);
  graph.removeNode(mm);
  removeUnusedConstants(graph, add.inputs);
  return true;
}
