import type { Dim, Graph, Node } from '../onnx/ir';
import { DataType, dtypeInfo } from '../onnx/dtype';
import type { TensorProto } from '../onnx/proto/onnx_pb';
import {
  elementCount,
  floatToHalf,
  halfToFloat,
  makeTensor,
  tensorArray,
  tensorToFloat64,
  type ExternalFiles,
} from '../onnx/tensor';
import type { ValueFacts } from '../onnx/shapes';
import type { RtTensor } from '../runtime/types';

class EvalError extends Error {}

/**
 * A numeric tensor known before run time, row-major, every element held as a float64 number
 * (int64 beyond 2^53 loses precision; values are rounded to the element type after every op).
 */
export interface ConstTensor {
  dataType: number;
  dims: number[];
  data: Float64Array;
}

/** Element types the evaluator computes with (others are left to onnxruntime). */
const SUPPORTED: ReadonlySet<number> = new Set([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.INT8,
  DataType.UINT8,
  DataType.INT16,
  DataType.UINT16,
  DataType.INT32,
  DataType.UINT32,
  DataType.INT64,
  DataType.UINT64,
  DataType.BOOL,
]);

export function isEvaluatorType(dataType: number): boolean {
  return SUPPORTED.has(dataType);
}

const INT_BITS: Partial<Record<number, { bits: number; signed: boolean }>> = {
  [DataType.INT8]: { bits: 8, signed: true },
  [DataType.UINT8]: { bits: 8, signed: false },
  [DataType.INT16]: { bits: 16, signed: true },
  [DataType.UINT16]: { bits: 16, signed: false },
  [DataType.INT32]: { bits: 32, signed: true },
  [DataType.UINT32]: { bits: 32, signed: false },
  [DataType.INT64]: { bits: 64, signed: true },
  [DataType.UINT64]: { bits: 64, signed: false },
};

export function isIntegerType(dataType: number): boolean {
  return INT_BITS[dataType] !== undefined;
}

/** Round every element to what `dataType` holds (float32 rounding, integer truncation and wrap, bool). */
export function roundTo(data: Float64Array, dataType: number): Float64Array {
  if (dataType === DataType.FLOAT) {
    for (let i = 0; i < data.length; i++) data[i] = Math.fround(data[i]);
  } else if (dataType === DataType.FLOAT16) {
    for (let i = 0; i < data.length; i++) data[i] = halfToFloat(floatToHalf(data[i]));
  } else if (dataType === DataType.BOOL) {
    for (let i = 0; i < data.length; i++) data[i] = data[i] !== 0 && !Number.isNaN(data[i]) ? 1 : 0;
  } else {
    const info = INT_BITS[dataType];
    if (!info) return data;
    for (let i = 0; i < data.length; i++) {
      let v = Math.trunc(data[i]);
      if (!Number.isFinite(v)) v = 0;
      if (info.bits < 64) {
        const span = 2 ** info.bits;
        v = ((v % span) + span) % span;
        if (info.signed && v >= span / 2) v -= span;
      }
      data[i] = v;
    }
  }
  return data;
}

/** Read a stored tensor; undefined for types the evaluator does not compute with (strings, int4, ...). */
export function fromTensorProto(t: TensorProto, external?: ExternalFiles): ConstTensor | undefined {
  if (!SUPPORTED.has(t.dataType)) return undefined;
  try {
    const data = tensorToFloat64(t, external);
    const dims = t.dims.map(Number);
    if (data.length !== elementCount(dims)) return undefined;
    return { dataType: t.dataType, dims, data };
  } catch {
    return undefined;
  }
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** Write a tensor as a TensorProto with raw_data in its element type. */
export function toTensorProto(name: string, c: ConstTensor): TensorProto {
  const d = c.data;
  const n = d.length;
  switch (c.dataType) {
    case DataType.FLOAT:
      return makeTensor(name, c.dataType, c.dims, Float32Array.from(d));
    case DataType.DOUBLE:
      return makeTensor(name, c.dataType, c.dims, Float64Array.from(d));
    case DataType.FLOAT16: {
      const bits = new Uint16Array(n);
      for (let i = 0; i < n; i++) bits[i] = floatToHalf(d[i]);
      return makeTensor(name, c.dataType, c.dims, bits);
    }
    case DataType.INT64:
    case DataType.UINT64: {
      const arr = c.dataType === DataType.INT64 ? new BigInt64Array(n) : new BigUint64Array(n);
      for (let i = 0; i < n; i++) {
        // Numbers near ±2^63 (INT64_MAX used as "to the end" in Slice) must not wrap around.
        let v = BigInt(Math.trunc(Number.isFinite(d[i]) ? d[i] : 0));
        if (c.dataType === DataType.INT64) v = v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : v;
        else v = v < 0n ? 0n : v > 2n ** 64n - 1n ? 2n ** 64n - 1n : v;
        arr[i] = v;
      }
      return makeTensor(name, c.dataType, c.dims, arr);
    }
    default: {
      const info = dtypeInfo(c.dataType);
      if (!info.raw) throw new Error(`cannot store a ${info.name} tensor`);
      const arr = new (info.raw as Float64ArrayConstructor)(n);
      arr.set(d);
      return makeTensor(name, c.dataType, c.dims, arr);
    }
  }
}

/** A tensor as onnxruntime takes it (typed array of the element type; float16 as its bits). */
export function toRtTensor(c: ConstTensor): RtTensor {
  const info = dtypeInfo(c.dataType);
  if (!info.ort) throw new Error(`onnxruntime-js has no ${info.name} tensors`);
  return { type: info.ort, dims: c.dims, data: tensorArray(toTensorProto('value', c)) };
}

export function bytesOf(c: { dataType: number; dims: readonly number[] }): number {
  return Math.ceil((dtypeInfo(c.dataType).bits * elementCount(c.dims)) / 8);
}

function make(dataType: number, dims: number[], data: Float64Array): ConstTensor {
  return { dataType, dims, data: roundTo(data, dataType) };
}

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) throw new EvalError(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Output shape of broadcasting `shapes` (numpy rules). */
export function broadcast(shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes)
    for (let i = 0; i < s.length; i++) {
      const k = rank - s.length + i;
      const d = s[i];
      if (out[k] === 1) out[k] = d;
      else if (d !== 1 && d !== out[k])
        throw new EvalError(`shapes ${shapes.map((x) => `[${x}]`)} do not broadcast`);
    }
  return out;
}

/** For each output element, the flat index into an input broadcast to `out`. */
function broadcastIndex(inDims: readonly number[], out: readonly number[]): Int32Array {
  const total = elementCount(out);
  const idx = new Int32Array(total);
  const rank = out.length;
  const inStrides = stridesOf(inDims);
  const eff = new Array<number>(rank).fill(0);
  for (let i = 0; i < inDims.length; i++) {
    const k = rank - inDims.length + i;
    eff[k] = inDims[i] === 1 ? 0 : inStrides[i];
  }
  const counter = new Array<number>(rank).fill(0);
  let flat = 0;
  for (let i = 0; i < total; i++) {
    idx[i] = flat;
    for (let k = rank - 1; k >= 0; k--) {
      counter[k]++;
      flat += eff[k];
      if (counter[k] < out[k]) break;
      flat -= eff[k] * counter[k];
      counter[k] = 0;
    }
  }
  return idx;
}

function elementwise(
  inputs: readonly ConstTensor[],
  dataType: number,
  f: (xs: number[]) => number,
): ConstTensor {
  const out = broadcast(inputs.map((t) => t.dims));
  const n = elementCount(out);
  const maps = inputs.map((t) => (elementCount(t.dims) === n ? undefined : broadcastIndex(t.dims, out)));
  const data = new Float64Array(n);
  const xs = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inputs.length; k++) {
      const m = maps[k];
      xs[k] = inputs[k].data[m ? m[i] : i];
    }
    data[i] = f(xs);
  }
  return make(dataType, out, data);
}

const intDiv = (a: number, b: number) => (b === 0 ? 0 : Math.trunc(a / b));

type Binary = (a: number, b: number, t: number) => number;
const BINARY: Record<string, Binary> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b, t) => (isIntegerType(t) ? intDiv(a, b) : a / b),
  Pow: (a, b) => a ** b,
  BitShift: (a, b) => a * 2 ** b,
};
const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  Equal: (a, b) => a === b,
  Less: (a, b) => a < b,
  Greater: (a, b) => a > b,
  LessOrEqual: (a, b) => a <= b,
  GreaterOrEqual: (a, b) => a >= b,
  And: (a, b) => a !== 0 && b !== 0,
  Or: (a, b) => a !== 0 || b !== 0,
  Xor: (a, b) => (a !== 0) !== (b !== 0),
};
const UNARY: Record<string, (a: number) => number> = {
  Neg: (a) => -a,
  Abs: Math.abs,
  Sqrt: Math.sqrt,
  Exp: Math.exp,
  Log: Math.log,
  Reciprocal: (a) => 1 / a,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Round: (a) => {
    const f = Math.floor(a);
    const d = a - f;
    return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
  },
  Relu: (a) => (a > 0 ? a : 0),
  Sigmoid: (a) => 1 / (1 + Math.exp(-a)),
  Tanh: Math.tanh,
  Sign: Math.sign,
  Sin: Math.sin,
  Cos: Math.cos,
  Not: (a) => (a ? 0 : 1),
  IsNaN: (a) => (Number.isNaN(a) ? 1 : 0),
};

/** What the evaluator may ask about a node's environment. */
export interface EvalEnv {
  opset: number;
  /** Declared or inferred shape of a value (for Shape and Size on non-constant inputs). */
  shape?: (name: string) => Dim[] | undefined;
  /** Evaluation stops (returns undefined) for outputs larger than this many elements. */
  maxElements: number;
}

function ints(t: ConstTensor | undefined): number[] | undefined {
  return t ? Array.from(t.data) : undefined;
}

function attrOrInput(node: Node, attrName: string, input: ConstTensor | undefined): number[] | undefined {
  return node.attrInts(attrName) ?? ints(input);
}

function reshapeDims(inDims: readonly number[], target: readonly number[], allowZero: boolean): number[] {
  const total = elementCount(inDims);
  const out = target.map((d, i) => (d === 0 && !allowZero ? inDims[i] : d));
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    const known = out.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
    out[unknown] = known === 0 ? 0 : total / known;
  }
  if (elementCount(out) !== total || out.some((d) => !Number.isInteger(d) || d < 0))
    throw new EvalError(`cannot reshape [${inDims}] to [${target}]`);
  return out;
}

export function transpose(t: ConstTensor, perm: readonly number[]): ConstTensor {
  const rank = t.dims.length;
  const outDims = perm.map((p) => t.dims[p]);
  const inStrides = stridesOf(t.dims);
  const n = t.data.length;
  const data = new Float64Array(n);
  const counter = new Array<number>(rank).fill(0);
  const step = perm.map((p) => inStrides[p]);
  let src = 0;
  for (let i = 0; i < n; i++) {
    data[i] = t.data[src];
    for (let k = rank - 1; k >= 0; k--) {
      counter[k]++;
      src += step[k];
      if (counter[k] < outDims[k]) break;
      src -= step[k] * counter[k];
      counter[k] = 0;
    }
  }
  return { dataType: t.dataType, dims: outDims, data };
}

/** Keep, along `axis`, only the positions listed in `keep` (in that order). */
export function takeAlong(t: ConstTensor, axis: number, keep: readonly number[]): ConstTensor {
  const outer = elementCount(t.dims.slice(0, axis));
  const inner = elementCount(t.dims.slice(axis + 1));
  const dim = t.dims[axis];
  const data = new Float64Array(outer * keep.length * inner);
  let o = 0;
  for (let a = 0; a < outer; a++)
    for (const k of keep) {
      if (k < 0 || k >= dim) throw new EvalError(`index ${k} out of range for dim ${dim}`);
      const base = (a * dim + k) * inner;
      for (let i = 0; i < inner; i++) data[o++] = t.data[base + i];
    }
  const dims = [...t.dims];
  dims[axis] = keep.length;
  return { dataType: t.dataType, dims, data };
}

function concat(ts: readonly ConstTensor[], axis: number): ConstTensor {
  const rank = ts[0].dims.length;
  const a = normAxis(axis, rank);
  const outer = elementCount(ts[0].dims.slice(0, a));
  const dims = [...ts[0].dims];
  dims[a] = ts.reduce((s, t) => s + t.dims[a], 0);
  const data = new Float64Array(elementCount(dims));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (const t of ts) {
      const chunk = elementCount(t.dims.slice(a));
      data.set(t.data.subarray(i * chunk, (i + 1) * chunk), o);
      o += chunk;
    }
  return { dataType: ts[0].dataType, dims, data };
}

function sliceTensor(
  t: ConstTensor,
  starts: number[],
  ends: number[],
  axes: number[] | undefined,
  steps: number[] | undefined,
): ConstTensor {
  const rank = t.dims.length;
  const begin = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  const count = [...t.dims];
  starts.forEach((s0, i) => {
    const a = normAxis(axes ? axes[i] : i, rank);
    const dim = t.dims[a];
    const st = steps ? steps[i] : 1;
    if (st === 0) throw new EvalError('slice step 0');
    let s = s0 < 0 ? s0 + dim : s0;
    let e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (st > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
      count[a] = Math.max(0, Math.ceil((e - s) / st));
    } else {
      s = Math.min(Math.max(s, -1), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
      count[a] = Math.max(0, Math.ceil((e - s) / st));
    }
    begin[a] = s;
    step[a] = st;
  });
  const inStrides = stridesOf(t.dims);
  const n = elementCount(count);
  const data = new Float64Array(n);
  const counter = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += (begin[k] + counter[k] * step[k]) * inStrides[k];
    data[i] = t.data[src];
    for (let k = rank - 1; k >= 0; k--) {
      if (++counter[k] < count[k]) break;
      counter[k] = 0;
    }
  }
  return { dataType: t.dataType, dims: count, data };
}

function gather(t: ConstTensor, indices: ConstTensor, axis: number): ConstTensor {
  const a = normAxis(axis, t.dims.length);
  const dim = t.dims[a];
  const keep = Array.from(indices.data, (i) => (i < 0 ? i + dim : i));
  const taken = takeAlong(t, a, keep);
  const dims = [...t.dims.slice(0, a), ...indices.dims, ...t.dims.slice(a + 1)];
  return { dataType: t.dataType, dims, data: taken.data };
}

function reduce(
  t: ConstTensor,
  axes: number[] | undefined,
  keepDims: boolean,
  noopEmpty: boolean,
  op: string,
): ConstTensor {
  const rank = t.dims.length;
  if ((!axes || axes.length === 0) && noopEmpty) return t;
  const set = new Set((axes && axes.length ? axes : t.dims.map((_, i) => i)).map((a) => normAxis(a, rank)));
  const outDimsKeep = t.dims.map((d, i) => (set.has(i) ? 1 : d));
  const n = elementCount(outDimsKeep);
  const init = op === 'ReduceMax' ? -Infinity : op === 'ReduceMin' ? Infinity : op === 'ReduceProd' ? 1 : 0;
  const acc = new Float64Array(n).fill(init);
  const outStrides = stridesOf(outDimsKeep);
  const counter = new Array<number>(rank).fill(0);
  for (let i = 0; i < t.data.length; i++) {
    let o = 0;
    for (let k = 0; k < rank; k++) if (!set.has(k)) o += counter[k] * outStrides[k];
    const v = t.data[i];
    if (op === 'ReduceMax') acc[o] = Math.max(acc[o], v);
    else if (op === 'ReduceMin') acc[o] = Math.min(acc[o], v);
    else if (op === 'ReduceProd') acc[o] *= v;
    else if (op === 'ReduceSumSquare') acc[o] += v * v;
    else if (op === 'ReduceL1') acc[o] += Math.abs(v);
    else acc[o] += v;
    for (let k = rank - 1; k >= 0; k--) {
      if (++counter[k] < t.dims[k]) break;
      counter[k] = 0;
    }
  }
  const per = t.data.length / Math.max(n, 1);
  if (op === 'ReduceMean') for (let i = 0; i < n; i++) acc[i] /= per;
  const dims = keepDims ? outDimsKeep : t.dims.filter((_, i) => !set.has(i));
  return make(t.dataType, dims, acc);
}

function matmul(a: ConstTensor, b: ConstTensor): ConstTensor {
  const ad = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const bd = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
  const [m, k] = ad.slice(-2);
  const [k2, n] = bd.slice(-2);
  if (k !== k2) throw new EvalError('MatMul inner dims differ');
  const batch = broadcast([ad.slice(0, -2), bd.slice(0, -2)]);
  const nb = elementCount(batch);
  const ai = broadcastIndex(ad.slice(0, -2), batch);
  const bi = broadcastIndex(bd.slice(0, -2), batch);
  const data = new Float64Array(nb * m * n);
  for (let p = 0; p < nb; p++) {
    const ao = ai[p] * m * k;
    const bo = bi[p] * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a.data[ao + i * k + q] * b.data[bo + q * n + j];
        data[p * m * n + i * n + j] = s;
      }
  }
  let dims = [...batch, m, n];
  if (a.dims.length === 1) dims = dims.filter((_, i) => i !== dims.length - 2);
  if (b.dims.length === 1) dims = dims.slice(0, -1);
  return make(a.dataType, dims, data);
}

/** The value of a Constant node, when it is a numeric tensor. */
export function constantNodeValue(node: Node, external?: ExternalFiles): ConstTensor | undefined {
  for (const a of node.proto.attribute) {
    if (a.name === 'value' && a.t) return fromTensorProto(a.t, external);
    if (a.name === 'value_float') return make(DataType.FLOAT, [], Float64Array.of(a.f));
    if (a.name === 'value_floats')
      return make(DataType.FLOAT, [a.floats.length], Float64Array.from(a.floats));
    if (a.name === 'value_int') return make(DataType.INT64, [], Float64Array.of(Number(a.i)));
    if (a.name === 'value_ints')
      return make(
        DataType.INT64,
        [a.ints.length],
        Float64Array.from(a.ints, (v) => Number(v)),
      );
  }
  return undefined;
}

/** Operators whose result depends on more than their inputs; never evaluated ahead of time. */
export const NONDETERMINISTIC: ReadonlySet<string> = new Set([
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Multinomial',
  'Bernoulli',
]);

/** Ops whose output is computed from the input's shape alone (the input itself need not be constant). */
export const SHAPE_OPS: ReadonlySet<string> = new Set(['Shape', 'Size']);

function shapeOf(name: string, env: EvalEnv): number[] | undefined {
  const s = env.shape?.(name);
  return s && s.every((d): d is number => typeof d === 'number' && d >= 0) ? s : undefined;
}

/**
 * Evaluate one default-domain node from constant inputs. Returns undefined when the op (or this
 * use of it) is not supported here, or an output would exceed `env.maxElements`.
 */
export function evaluateNode(
  node: Node,
  inputs: readonly (ConstTensor | undefined)[],
  env: EvalEnv,
): (ConstTensor | undefined)[] | undefined {
  if (node.domain !== '') return undefined;
  try {
    const r = evaluateOp(node, inputs, env);
    if (!r || r.some((t) => t && t.data.length > env.maxElements)) return undefined;
    return r;
  } catch {
    // Evaluation is best effort: a malformed or unusual node is simply left to run time.
    return undefined;
  }
}

function evaluateOp(
  node: Node,
  inputs: readonly (ConstTensor | undefined)[],
  env: EvalEnv,
): (ConstTensor | undefined)[] | undefined {
  const op = node.opType;
  const x = inputs[0];
  const opset = env.opset;
  if (op === 'Shape') {
    const s = x?.dims ?? shapeOf(node.inputs[0], env);
    if (!s) return undefined;
    const rank = s.length;
    const clampAxis = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const start = clampAxis(node.attrInt('start', 0));
    const end = node.attribute('end') ? clampAxis(node.attrInt('end', rank)) : rank;
    const vals = s.slice(start, Math.max(start, end));
    return [make(DataType.INT64, [vals.length], Float64Array.from(vals))];
  }
  if (op === 'Size') {
    const s = x?.dims ?? shapeOf(node.inputs[0], env);
    return s ? [make(DataType.INT64, [], Float64Array.of(elementCount(s)))] : undefined;
  }
  if (op === 'Constant') return [constantNodeValue(node)];
  if (op === 'ConstantOfShape') {
    if (!x) return undefined;
    const dims = Array.from(x.data);
    if (elementCount(dims) > env.maxElements) return undefined;
    const v = node.attribute('value')?.t;
    const fill = v ? fromTensorProto(v) : { dataType: DataType.FLOAT, dims: [1], data: Float64Array.of(0) };
    if (!fill) return undefined;
    return [make(fill.dataType, dims, new Float64Array(elementCount(dims)).fill(fill.data[0] ?? 0))];
  }
  // Everything below needs all its given inputs.
  for (let i = 0; i < node.inputs.length; i++) if (node.inputs[i] && !inputs[i]) return undefined;
  if (!x) return undefined;
  if (op === 'Identity' || (op === 'Dropout' && node.outputs.filter((o) => o).length === 1)) return [x];
  if (op === 'Cast' || op === 'CastLike') {
    const to = op === 'Cast' ? node.attrInt('to', 0) : inputs[1]!.dataType;
    if (!SUPPORTED.has(to)) return undefined;
    return [make(to, [...x.dims], Float64Array.from(x.data))];
  }
  if (op === 'Reshape') {
    const target = ints(inputs[1]) ?? node.attrInts('shape');
    if (!target) return undefined;
    return [{ ...x, dims: reshapeDims(x.dims, target, node.attrInt('allowzero', 0) === 1) }];
  }
  if (op === 'Flatten') {
    const a = node.attrInt('axis', 1);
    const axis = a < 0 ? a + x.dims.length : a;
    return [{ ...x, dims: [elementCount(x.dims.slice(0, axis)), elementCount(x.dims.slice(axis))] }];
  }
  if (op === 'Squeeze') {
    const axes = attrOrInput(node, 'axes', inputs[1]);
    const rank = x.dims.length;
    const drop = new Set(
      axes ? axes.map((a) => normAxis(a, rank)) : x.dims.flatMap((d, i) => (d === 1 ? [i] : [])),
    );
    return [{ ...x, dims: x.dims.filter((_, i) => !drop.has(i)) }];
  }
  if (op === 'Unsqueeze') {
    const axes = attrOrInput(node, 'axes', inputs[1]);
    if (!axes) return undefined;
    const rank = x.dims.length + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, rank)));
    const dims: number[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) dims.push(set.has(i) ? 1 : x.dims[k++]);
    return [{ ...x, dims }];
  }
  if (op === 'Transpose') {
    const perm = node.attrInts('perm') ?? x.dims.map((_, i) => x.dims.length - 1 - i);
    return [transpose(x, perm)];
  }
  if (op === 'Concat') {
    const parts = inputs.filter((t): t is ConstTensor => !!t && elementCount(t.dims) > 0);
    if (parts.length === 0) return [inputs[0]!];
    return [concat(parts, node.attrInt('axis', 0))];
  }
  if (op === 'Slice') {
    if (opset < 10) {
      const starts = node.attrInts('starts');
      const ends = node.attrInts('ends');
      if (!starts || !ends) return undefined;
      return [sliceTensor(x, starts, ends, node.attrInts('axes'), undefined)];
    }
    return [sliceTensor(x, ints(inputs[1])!, ints(inputs[2])!, ints(inputs[3]), ints(inputs[4]))];
  }
  if (op === 'Gather') return [gather(x, inputs[1]!, node.attrInt('axis', 0))];
  if (op === 'Split') {
    const rank = x.dims.length;
    const axis = normAxis(node.attrInt('axis', 0), rank);
    const outputs = node.outputs.length;
    let sizes = attrOrInput(node, 'split', opset >= 13 ? inputs[1] : undefined);
    if (!sizes) {
      const dim = x.dims[axis];
      const per = Math.ceil(dim / outputs);
      sizes = Array.from({ length: outputs }, (_, i) => Math.max(0, Math.min(per, dim - per * i)));
    }
    let start = 0;
    return sizes.map((s) => {
      const keep = Array.from({ length: s }, (_, i) => start + i);
      start += s;
      return takeAlong(x, axis, keep);
    });
  }
  if (op === 'Expand') {
    const shape = ints(inputs[1])!;
    const out = broadcast([x.dims, shape]);
    if (elementCount(out) > env.maxElements) return undefined;
    const zeros = { dataType: x.dataType, dims: out, data: new Float64Array(elementCount(out)) };
    return [elementwise([x, zeros], x.dataType, (v) => v[0])];
  }
  if (op === 'Tile') {
    const reps = ints(inputs[1])!;
    const outDims = x.dims.map((d, i) => d * reps[i]);
    if (elementCount(outDims) > env.maxElements) return undefined;
    const outStrides = stridesOf(outDims);
    const inStrides = stridesOf(x.dims);
    const n = elementCount(outDims);
    const data = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let src = 0;
      let rem = i;
      for (let k = 0; k < outDims.length; k++) {
        const c = Math.floor(rem / outStrides[k]);
        rem -= c * outStrides[k];
        src += (c % x.dims[k]) * inStrides[k];
      }
      data[i] = x.data[src];
    }
    return [{ dataType: x.dataType, dims: outDims, data }];
  }
  if (op === 'Range') {
    const [start, limit, delta] = [x.data[0], inputs[1]!.data[0], inputs[2]!.data[0]];
    if (delta === 0) return undefined;
    const n = Math.max(Math.ceil((limit - start) / delta), 0);
    if (n > env.maxElements) return undefined;
    return [
      make(
        x.dataType,
        [n],
        Float64Array.from({ length: n }, (_, i) => start + i * delta),
      ),
    ];
  }
  if (op === 'Where') {
    const [c, a, b] = inputs as ConstTensor[];
    return [elementwise([c, a, b], a.dataType, (v) => (v[0] ? v[1] : v[2]))];
  }
  if (op in BINARY) {
    const b = inputs[1]!;
    const f = BINARY[op];
    if (op === 'BitShift') {
      const right = node.attrString('direction', 'LEFT') === 'RIGHT';
      return [
        elementwise([x, b], x.dataType, (v) => (right ? Math.floor(v[0] / 2 ** v[1]) : v[0] * 2 ** v[1])),
      ];
    }
    return [elementwise([x, b], x.dataType, (v) => f(v[0], v[1], x.dataType))];
  }
  if (op === 'Mod') {
    const fmod = node.attrInt('fmod', 0) === 1;
    return [
      elementwise([x, inputs[1]!], x.dataType, ([a, b]) => {
        if (fmod || !isIntegerType(x.dataType)) return a % b;
        if (b === 0) return 0;
        const r = a % b;
        return r !== 0 && r < 0 !== b < 0 ? r + b : r;
      }),
    ];
  }
  if (op in COMPARE) {
    const f = COMPARE[op];
    return [elementwise([x, inputs[1]!], DataType.BOOL, (v) => (f(v[0], v[1]) ? 1 : 0))];
  }
  if (op === 'Max' || op === 'Min' || op === 'Sum' || op === 'Mean') {
    const all = inputs as ConstTensor[];
    const f =
      op === 'Max'
        ? (v: number[]) => Math.max(...v)
        : op === 'Min'
          ? (v: number[]) => Math.min(...v)
          : op === 'Sum'
            ? (v: number[]) => v.reduce((p, q) => p + q, 0)
            : (v: number[]) => v.reduce((p, q) => p + q, 0) / v.length;
    return [elementwise(all, x.dataType, f)];
  }
  if (op in UNARY) {
    const f = UNARY[op];
    return [make(op === 'IsNaN' ? DataType.BOOL : x.dataType, [...x.dims], x.data.map(f))];
  }
  if (op === 'Clip') {
    const lo = opset < 11 ? node.attrFloat('min', -Infinity) : inputs[1] ? inputs[1].data[0] : -Infinity;
    const hi = opset < 11 ? node.attrFloat('max', Infinity) : inputs[2] ? inputs[2].data[0] : Infinity;
    return [
      make(
        x.dataType,
        [...x.dims],
        x.data.map((v) => Math.min(Math.max(v, lo), hi)),
      ),
    ];
  }
  if (op.startsWith('Reduce')) {
    if (
      ![
        'ReduceSum',
        'ReduceMean',
        'ReduceMax',
        'ReduceMin',
        'ReduceProd',
        'ReduceSumSquare',
        'ReduceL1',
      ].includes(op)
    )
      return undefined;
    const axesInInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
    const axes = axesInInput ? ints(inputs[1]) : node.attrInts('axes');
    return [
      reduce(x, axes, node.attrInt('keepdims', 1) === 1, node.attrInt('noop_with_empty_axes', 0) === 1, op),
    ];
  }
  if (op === 'MatMul') {
    const [a, b] = inputs as ConstTensor[];
    if (elementCount(a.dims) * (b.dims.at(-1) ?? 1) > 1e8) return undefined;
    return [matmul(a, b)];
  }
  return undefined;
}

/**
 * Values computable before run time in one graph: stored constants (initializers that cannot be
 * overridden, Constant nodes) and outputs of deterministic nodes whose inputs are all such values
 * (Shape and Size only need a static input shape). Evaluation is lazy and memoized.
 */
export class ConstantEvaluator {
  private readonly values = new Map<string, ConstTensor | null>();
  private readonly constant = new Map<string, boolean>();
  private readonly external?: ExternalFiles;
  private readonly irVersion: number;
  readonly env: EvalEnv;

  constructor(
    readonly graph: Graph,
    options: {
      external?: ExternalFiles;
      opset: number;
      irVersion: number;
      facts?: ReadonlyMap<string, ValueFacts>;
      maxElements?: number;
    },
  ) {
    this.external = options.external;
    this.irVersion = options.irVersion;
    const facts = options.facts;
    this.env = {
      opset: options.opset,
      maxElements: options.maxElements ?? 1 << 24,
      shape: facts ? (name) => facts.get(name)?.shape : undefined,
    };
  }

  /** The stored tensor behind a name: a non-overridable initializer or a Constant node's value. */
  stored(name: string): TensorProto | undefined {
    const init = this.graph.initializers.get(name);
    if (init) return this.irVersion >= 4 && this.graph.isGraphInput(name) ? undefined : init;
    const p = this.graph.producer(name);
    if (p && p.opType === 'Constant' && p.domain === '') return p.attribute('value')?.t;
    return undefined;
  }

  /** Whether a value is an initializer or a Constant node output. */
  isStored(name: string): boolean {
    if (this.stored(name)) return true;
    const p = this.graph.producer(name);
    return !!p && p.opType === 'Constant' && p.domain === '';
  }

  /** Whether a node could be evaluated ahead of time given constant inputs. */
  foldable(node: Node): boolean {
    return (
      node.domain === '' &&
      node.subgraphs.length === 0 &&
      !NONDETERMINISTIC.has(node.opType) &&
      !(node.opType === 'Dropout' && node.outputs.filter((o) => o).length > 1)
    );
  }

  /** Whether a value is known before run time (without evaluating it). */
  isConstant(name: string): boolean {
    if (!name) return false;
    const known = this.constant.get(name);
    if (known !== undefined) return known;
    this.constant.set(name, false); // guards against cycles
    let result = this.isStored(name);
    if (!result) {
      const p = this.graph.producer(name);
      if (p && this.foldable(p)) {
        if (SHAPE_OPS.has(p.opType)) {
          result = this.staticShape(p.inputs[0]) || this.isConstant(p.inputs[0]);
        } else result = p.inputs.every((i) => i === '' || this.isConstant(i));
      }
    }
    this.constant.set(name, result);
    return result;
  }

  /** Record a value computed elsewhere (e.g. by onnxruntime). */
  set(name: string, value: ConstTensor): void {
    this.values.set(name, value);
  }

  has(name: string): boolean {
    return !!this.values.get(name);
  }

  /** The value of a constant, or undefined when it is not constant or not computable here. */
  value(name: string): ConstTensor | undefined {
    if (!name) return undefined;
    const memo = this.values.get(name);
    if (memo !== undefined) return memo ?? undefined;
    let result: ConstTensor | undefined;
    const t = this.stored(name);
    if (t) result = fromTensorProto(t, this.external);
    else {
      const p = this.graph.producer(name);
      if (p?.opType === 'Constant' && p.domain === '') result = constantNodeValue(p, this.external);
      else if (p && this.isConstant(name)) {
        const ins = SHAPE_OPS.has(p.opType)
          ? [this.staticShape(p.inputs[0]) ? undefined : this.value(p.inputs[0])]
          : p.inputs.map((i) => this.value(i));
        const outs = evaluateNode(p, ins, this.env);
        if (outs) p.outputs.forEach((o, k) => o && outs[k] && this.values.set(o, outs[k]));
        result = outs?.[p.outputs.indexOf(name)];
      }
    }
    this.values.set(name, result ?? null);
    return result;
  }

  private staticShape(name: string): boolean {
    const s = this.env.shape?.(name);
    return !!s && s.every((d) => typeof d === 'number' && d >= 0);
  }
}

/** float16 bit patterns of numbers (for comparing with onnxruntime's float16 output). */
export function halfBits(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => floatToHalf(v));
}
