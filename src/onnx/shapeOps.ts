import type { Dim, Node } from './ir';
import { DataType, dtypeInfo } from './dtype';
import { elementCount, tensorToFloat64 } from './tensor';
import type { TensorProto } from './proto/onnx_pb';

/**
 * The value of a small tensor known before run time (a Shape result, a Constant, a small
 * initializer), row-major. Integer tensors may hold symbolic entries (a dim name taken from a
 * Shape) and unknown ones (undefined); float tensors hold numbers only.
 */
export interface ConstValue {
  elemType: number;
  dims: number[];
  values: Dim[];
}

/** What a rule infers for one output of a node. */
export interface OutputFacts {
  elemType?: number;
  shape?: Dim[];
  value?: ConstValue;
}

/** What a rule may ask about the node it infers. Input indices past the end or '' give undefined. */
export interface InferContext {
  node: Node;
  /** Default-domain opset of the model, when the caller knows it. */
  opset?: number;
  /** Whether input `i` is given (not omitted). */
  has(i: number): boolean;
  shape(i: number): Dim[] | undefined;
  elemType(i: number): number | undefined;
  value(i: number): ConstValue | undefined;
  /** The input's value as plain numbers, when it is known and has no symbolic or unknown entry. */
  numbers(i: number): number[] | undefined;
}

export type ShapeRule = (ctx: InferContext) => (OutputFacts | undefined)[];

/** Integer tensors with more elements than this are never evaluated or kept as constant values. */
export const CONST_LIMIT = 4096;
/** The same for float tensors: only scales and the like matter for shapes, never weights. */
export const FLOAT_CONST_LIMIT = 64;

const INT_TYPES: ReadonlySet<number> = new Set([
  DataType.INT8,
  DataType.UINT8,
  DataType.INT16,
  DataType.UINT16,
  DataType.INT32,
  DataType.UINT32,
  DataType.INT64,
  DataType.UINT64,
]);

/** Whether a tensor of this type and element count is small enough to evaluate and keep. */
export function keepsValue(elemType: number, count: number): boolean {
  return count <= (dtypeInfo(elemType).float ? FLOAT_CONST_LIMIT : CONST_LIMIT);
}

const isNum = (d: Dim): d is number => typeof d === 'number';
function allNumbers(ds: readonly Dim[]): ds is number[] {
  return ds.every(isNum);
}
function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}
function product(ds: readonly number[]): number {
  let p = 1;
  for (const d of ds) p *= d;
  return p;
}
function unknownDims(rank: number): Dim[] {
  return new Array<Dim>(rank).fill(undefined);
}

/** A product of dims as a number times symbolic names; undefined when a dim is unknown. */
function symbolicProduct(ds: readonly Dim[]): { coef: number; syms: string[] } | undefined {
  let coef = 1;
  const syms: string[] = [];
  for (const d of ds) {
    if (d === undefined) return undefined;
    if (typeof d === 'number') coef *= d;
    else syms.push(d);
  }
  return { coef, syms };
}
function productDim(ds: readonly Dim[]): Dim {
  const p = symbolicProduct(ds);
  if (!p) return undefined;
  if (p.syms.length === 0) return p.coef;
  return p.syms.length === 1 && p.coef === 1 ? p.syms[0] : undefined;
}

/** One dim of a multidirectional broadcast; undefined when it cannot be told. */
function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (a === b) return a;
  if (a === undefined || b === undefined) {
    const other = a ?? b;
    return isNum(other) ? other : undefined;
  }
  if (isNum(a) && !isNum(b)) return a;
  if (isNum(b) && !isNum(a)) return b;
  return undefined;
}

/** Multidirectional (numpy) broadcasting of several shapes. */
export function broadcastShapes(shapes: readonly (readonly Dim[] | undefined)[]): Dim[] | undefined {
  let rank = 0;
  for (const s of shapes) {
    if (!s) return undefined;
    rank = Math.max(rank, s.length);
  }
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s!.length;
    for (let i = 0; i < s!.length; i++) out[off + i] = broadcastDim(out[off + i], s![i]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Constant values

/** Decode a tensor's value when it is small and numeric; undefined otherwise (never throws). */
export function tensorValue(t: TensorProto): ConstValue | undefined {
  const dims = t.dims.map(Number);
  if (!keepsValue(t.dataType, elementCount(dims)) || t.dataType === DataType.STRING) return undefined;
  try {
    const data = tensorToFloat64(t);
    if (data.length !== product(dims)) return undefined;
    return { elemType: t.dataType, dims, values: Array.from(data) };
  } catch {
    return undefined;
  }
}

/** Round a computed number to what the element type can hold (float32, integers, bool). */
function toType(v: number, elemType: number): number {
  if (elemType === DataType.FLOAT) return Math.fround(v);
  if (elemType === DataType.BOOL) return v ? 1 : 0;
  if (INT_TYPES.has(elemType)) return Number.isFinite(v) ? Math.trunc(v) : v;
  return v;
}

/** Element-wise evaluation with broadcasting; undefined when too large or shapes disagree. */
function evalElementwise(
  inputs: readonly ConstValue[],
  elemType: number,
  f: (xs: Dim[]) => Dim,
): ConstValue | undefined {
  const shape = broadcastShapes(inputs.map((v) => v.dims));
  if (!shape || !allNumbers(shape)) return undefined;
  for (const v of inputs)
    for (let i = 0; i < v.dims.length; i++) {
      const d = v.dims[i];
      if (d !== 1 && d !== shape[shape.length - v.dims.length + i]) return undefined;
    }
  const count = product(shape);
  if (!keepsValue(elemType, count)) return undefined;
  const strides = inputs.map((v) => {
    const s = new Array<number>(shape.length).fill(0);
    let acc = 1;
    for (let i = v.dims.length - 1; i >= 0; i--) {
      const axis = shape.length - v.dims.length + i;
      s[axis] = v.dims[i] === 1 ? 0 : acc;
      acc *= v.dims[i];
    }
    return s;
  });
  const values: Dim[] = new Array<Dim>(count);
  const index = new Array<number>(shape.length).fill(0);
  const xs: Dim[] = new Array<Dim>(inputs.length);
  for (let n = 0; n < count; n++) {
    for (let k = 0; k < inputs.length; k++) {
      let off = 0;
      for (let a = 0; a < shape.length; a++) off += index[a] * strides[k][a];
      xs[k] = inputs[k].values[off];
    }
    const r = f(xs);
    values[n] = isNum(r) ? toType(r, elemType) : r;
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++index[a] < shape[a]) break;
      index[a] = 0;
    }
  }
  return { elemType, dims: shape, values };
}

type Binary = (a: Dim, b: Dim, elemType: number) => Dim;
const numeric =
  (f: (a: number, b: number, elemType: number) => number): Binary =>
  (a, b, t) =>
    isNum(a) && isNum(b) ? f(a, b, t) : undefined;
const binaryEval: Record<string, Binary> = {
  Add: (a, b) => (a === 0 ? b : b === 0 ? a : isNum(a) && isNum(b) ? a + b : undefined),
  Sub: (a, b) => (b === 0 ? a : isNum(a) && isNum(b) ? a - b : undefined),
  Mul: (a, b) => (a === 1 ? b : b === 1 ? a : isNum(a) && isNum(b) ? a * b : undefined),
  Div: (a, b, t) =>
    b === 1
      ? a
      : isNum(a) && isNum(b)
        ? INT_TYPES.has(t)
          ? b === 0
            ? undefined
            : Math.trunc(a / b)
          : a / b
        : undefined,
  Pow: numeric((a, b) => a ** b),
  Mod: numeric((a, b, t) => (INT_TYPES.has(t) ? a - b * Math.floor(a / b) : a % b)),
  Max: numeric((a, b) => Math.max(a, b)),
  Min: numeric((a, b) => Math.min(a, b)),
  Equal: (a, b) => (a !== undefined && a === b ? 1 : numeric((x, y) => (x === y ? 1 : 0))(a, b, 0)),
  Less: numeric((a, b) => (a < b ? 1 : 0)),
  Greater: numeric((a, b) => (a > b ? 1 : 0)),
  LessOrEqual: numeric((a, b) => (a <= b ? 1 : 0)),
  GreaterOrEqual: numeric((a, b) => (a >= b ? 1 : 0)),
  And: numeric((a, b) => (a && b ? 1 : 0)),
  Or: numeric((a, b) => (a || b ? 1 : 0)),
  Xor: numeric((a, b) => (!a !== !b ? 1 : 0)),
};
const unaryEval: Record<string, (a: number) => number> = {
  Neg: (a) => -a,
  Abs: Math.abs,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Round: (a) => {
    const r = Math.round(a);
    return Math.abs(a % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  },
  Sqrt: Math.sqrt,
  Reciprocal: (a) => 1 / a,
  Not: (a) => (a ? 0 : 1),
  Relu: (a) => Math.max(0, a),
  Sign: Math.sign,
  Exp: Math.exp,
  Log: Math.log,
};

/** The values of the first `n` inputs when all are known (stops at the first unknown one). */
function inputValues(ctx: InferContext, n: number): ConstValue[] | undefined {
  const out: ConstValue[] = [];
  for (let i = 0; i < n; i++) {
    const v = ctx.value(i);
    if (!v) return undefined;
    out.push(v);
  }
  return out;
}

/** A value re-labelled with new dims (Reshape, Squeeze, Unsqueeze, Flatten, Identity). */
function relabel(v: ConstValue | undefined, shape: Dim[] | undefined): ConstValue | undefined {
  if (!v || !shape || !allNumbers(shape) || product(shape) !== v.values.length) return undefined;
  return { elemType: v.elemType, dims: shape, values: v.values };
}

// ---------------------------------------------------------------------------------------------
// Rules

const same = (ctx: InferContext, i = 0): OutputFacts => ({ elemType: ctx.elemType(i), shape: ctx.shape(i) });

/** Output dims of a convolution or pooling window along one axis. */
function windowOut(
  size: Dim,
  kernel: number | undefined,
  stride: number,
  dilation: number,
  padBegin: number,
  padEnd: number,
  autoPad: string,
  ceilMode: boolean,
): Dim {
  if (!isNum(size) || kernel === undefined) return undefined;
  const effective = (kernel - 1) * dilation + 1;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(size / stride);
  const span = autoPad === 'VALID' ? size - effective : size + padBegin + padEnd - effective;
  let out = Math.floor(span / stride) + 1;
  if (ceilMode) {
    out = Math.ceil(span / stride) + 1;
    // The last window must start inside the input or its leading padding.
    if ((out - 1) * stride >= size + (autoPad === 'VALID' ? 0 : padBegin)) out--;
  }
  // A window larger than the padded input is an error at run time, not a size.
  return out >= 0 ? out : undefined;
}

function windowAttrs(node: Node, spatial: number) {
  const ones = new Array<number>(spatial).fill(1);
  const strides = node.attrInts('strides') ?? ones;
  const dilations = node.attrInts('dilations') ?? ones;
  const pads = node.attrInts('pads') ?? new Array<number>(2 * spatial).fill(0);
  const autoPad = node.attrString('auto_pad', 'NOTSET');
  return {
    strides: strides.length === spatial ? strides : ones,
    dilations: dilations.length === spatial ? dilations : ones,
    pads: pads.length === 2 * spatial ? pads : new Array<number>(2 * spatial).fill(0),
    autoPad,
  };
}

function convShape(node: Node, x: Dim[] | undefined, w: Dim[] | undefined): Dim[] | undefined {
  const rank = x?.length ?? w?.length;
  if (rank === undefined || rank < 3) return undefined;
  const spatial = rank - 2;
  const kernelAttr = node.attrInts('kernel_shape');
  const kernel = Array.from({ length: spatial }, (_, i) => {
    const k = kernelAttr?.[i] ?? w?.[2 + i];
    return isNum(k) ? k : undefined;
  });
  const { strides, dilations, pads, autoPad } = windowAttrs(node, spatial);
  const out: Dim[] = [x?.[0], w?.[0]];
  for (let i = 0; i < spatial; i++)
    out.push(
      windowOut(x?.[2 + i], kernel[i], strides[i], dilations[i], pads[i], pads[spatial + i], autoPad, false),
    );
  return out;
}

function convTransposeShape(node: Node, x: Dim[] | undefined, w: Dim[] | undefined): Dim[] | undefined {
  const rank = x?.length ?? w?.length;
  if (rank === undefined || rank < 3) return undefined;
  const spatial = rank - 2;
  const group = node.attrInt('group', 1);
  const kernelAttr = node.attrInts('kernel_shape');
  const { strides, dilations, pads, autoPad } = windowAttrs(node, spatial);
  const outputPadding = node.attrInts('output_padding') ?? [];
  const outputShape = node.attrInts('output_shape');
  const m = w?.[1];
  const out: Dim[] = [x?.[0], isNum(m) ? m * group : group === 1 ? m : undefined];
  for (let i = 0; i < spatial; i++) {
    if (outputShape && outputShape.length >= spatial) {
      out.push(outputShape[outputShape.length - spatial + i]);
      continue;
    }
    const k = kernelAttr?.[i] ?? w?.[2 + i];
    const size = x?.[2 + i];
    if (!isNum(k) || !isNum(size)) {
      out.push(undefined);
      continue;
    }
    const s = strides[i];
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      out.push(size * s);
      continue;
    }
    const padding = autoPad === 'VALID' ? 0 : pads[i] + pads[spatial + i];
    const total = s * (size - 1) + (outputPadding[i] ?? 0) + (k - 1) * dilations[i] + 1 - padding;
    out.push(total >= 0 ? total : undefined);
  }
  return out;
}

function poolShape(node: Node, x: Dim[] | undefined): Dim[] | undefined {
  if (!x || x.length < 3) return undefined;
  const spatial = x.length - 2;
  const kernel = node.attrInts('kernel_shape');
  const { strides, dilations, pads, autoPad } = windowAttrs(node, spatial);
  const ceilMode = node.attrInt('ceil_mode', 0) === 1;
  const out: Dim[] = [x[0], x[1]];
  for (let i = 0; i < spatial; i++)
    out.push(
      windowOut(
        x[2 + i],
        kernel?.[i],
        strides[i],
        dilations[i],
        pads[i],
        pads[spatial + i],
        autoPad,
        ceilMode,
      ),
    );
  return out;
}

function matmulShape(a: Dim[] | undefined, b: Dim[] | undefined): Dim[] | undefined {
  if (!a || !b || a.length === 0 || b.length === 0) return undefined;
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  if (!batch) return undefined;
  const out = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]);
  if (b.length > 1) out.push(b2[b2.length - 1]);
  return out;
}

/** Axes from the `axes` attribute (older opsets) or from input `index` (newer ones). */
function axesOf(ctx: InferContext, index: number): { axes?: number[]; given: boolean } {
  const fromAttr = ctx.node.attrInts('axes');
  if (fromAttr) return { axes: fromAttr, given: true };
  if (ctx.has(index)) return { axes: ctx.numbers(index), given: true };
  return { given: false };
}

function reduceRule(evaluate?: (xs: number[]) => number): ShapeRule {
  return (ctx) => {
    const x = ctx.shape(0);
    const elemType = ctx.elemType(0);
    const keep = ctx.node.attrInt('keepdims', 1) === 1;
    const { axes, given } = axesOf(ctx, 1);
    if (!x) return [{ elemType }];
    let reduced: Set<number>;
    if (given && !axes) return [{ elemType, shape: keep ? unknownDims(x.length) : undefined }];
    if (!axes || axes.length === 0) {
      if (ctx.node.attrInt('noop_with_empty_axes', 0) === 1)
        return [{ elemType, shape: x, value: ctx.value(0) }];
      reduced = new Set(x.map((_, i) => i));
    } else {
      const norm = axes.map((a) => normAxis(a, x.length));
      if (norm.some((a) => a === undefined)) return [{ elemType }];
      reduced = new Set(norm as number[]);
    }
    const shape: Dim[] = [];
    x.forEach((d, i) => {
      if (!reduced.has(i)) shape.push(d);
      else if (keep) shape.push(1);
    });
    const v = ctx.value(0);
    let value: ConstValue | undefined;
    if (evaluate && v && v.dims.length === 1 && allNumbers(v.values) && allNumbers(shape))
      value = { elemType: v.elemType, dims: shape, values: [toType(evaluate(v.values), v.elemType)] };
    return [{ elemType, shape, value }];
  };
}

function unary(elemType?: number): ShapeRule {
  return (ctx) => [{ elemType: elemType ?? ctx.elemType(0), shape: ctx.shape(0) }];
}
function unaryWithEval(opType: string): ShapeRule {
  const f = unaryEval[opType];
  return (ctx) => {
    const elemType = opType === 'Not' ? DataType.BOOL : ctx.elemType(0);
    const v = ctx.value(0);
    const value =
      v && elemType !== undefined
        ? evalElementwise([v], elemType, ([a]) => (isNum(a) ? f(a) : undefined))
        : undefined;
    return [{ elemType, shape: ctx.shape(0), value }];
  };
}

/** Element-wise n-ary ops with multidirectional broadcasting. */
function broadcastRule(options: { bool?: boolean; typeFrom?: number; evaluate?: Binary } = {}): ShapeRule {
  return (ctx) => {
    const n = ctx.node.inputs.length;
    const shapes = Array.from({ length: n }, (_, i) => (ctx.has(i) ? ctx.shape(i) : undefined));
    const elemType = options.bool ? DataType.BOOL : (ctx.elemType(options.typeFrom ?? 0) ?? ctx.elemType(1));
    const shape = n === 1 ? shapes[0] : broadcastShapes(shapes);
    let value: ConstValue | undefined;
    const f = options.evaluate;
    if (f && elemType !== undefined) {
      const vs = inputValues(ctx, n);
      if (vs) {
        const compute = INT_TYPES.has(vs[0].elemType) ? vs[0].elemType : elemType;
        value = evalElementwise(vs, elemType, (xs) =>
          xs.slice(1).reduce((acc, x) => f(acc, x, compute), xs[0]),
        );
      }
    }
    return [{ elemType, shape, value }];
  };
}

function reshapeTarget(x: Dim[] | undefined, target: Dim[], allowZero: boolean): Dim[] | undefined {
  let inferAt = -1;
  const out: Dim[] = [];
  for (let i = 0; i < target.length; i++) {
    const t = target[i];
    if (t === 0 && !allowZero) out.push(x?.[i]);
    else if (t === -1) {
      if (inferAt >= 0) return undefined;
      inferAt = i;
      out.push(undefined);
    } else if (isNum(t) && t < 0) return undefined;
    else out.push(t);
  }
  if (inferAt >= 0 && x) {
    const total = symbolicProduct(x);
    const known = symbolicProduct(out.filter((_, i) => i !== inferAt));
    if (total && known && known.coef !== 0) {
      const syms = [...total.syms];
      let ok = total.coef % known.coef === 0;
      for (const s of known.syms) {
        const k = syms.indexOf(s);
        if (k < 0) ok = false;
        else syms.splice(k, 1);
      }
      const coef = total.coef / known.coef;
      if (ok) out[inferAt] = syms.length === 0 ? coef : syms.length === 1 && coef === 1 ? syms[0] : undefined;
    }
  }
  return out;
}

/** Start and length of a slice along an axis of known size (ONNX clamping rules). */
function clampSlice(
  size: number,
  start: number,
  end: number,
  step: number,
): { start: number; length: number } {
  if (start < 0) start += size;
  if (end < 0) end += size;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), size);
    end = Math.min(Math.max(end, 0), size);
    return { start, length: Math.max(0, Math.ceil((end - start) / step)) };
  }
  start = Math.min(Math.max(start, 0), size - 1);
  end = Math.min(Math.max(end, -1), size - 1);
  return { start, length: Math.max(0, Math.ceil((start - end) / -step)) };
}

const BIG = 2 ** 31 - 1;

function sliceRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const node = ctx.node;
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  let starts: number[] | undefined;
  let ends: number[] | undefined;
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (node.attribute('starts')) {
    starts = node.attrInts('starts');
    ends = node.attrInts('ends');
    axes = node.attrInts('axes');
  } else {
    starts = ctx.numbers(1);
    ends = ctx.numbers(2);
    axes = ctx.has(3) ? ctx.numbers(3) : undefined;
    steps = ctx.has(4) ? ctx.numbers(4) : undefined;
    if (ctx.has(3) && !axes && x) {
      return [{ elemType, shape: unknownDims(x.length) }];
    }
  }
  if (!x) return [{ elemType }];
  if (!starts || !ends) {
    // Which axes are sliced is known even when the bounds are not.
    if (axes) {
      const shape = [...x];
      for (const a of axes) {
        const k = normAxis(a, x.length);
        if (k !== undefined) shape[k] = undefined;
      }
      return [{ elemType, shape }];
    }
    return [{ elemType, shape: unknownDims(x.length) }];
  }
  const ax = axes ?? starts.map((_, i) => i);
  const shape = [...x];
  const v = ctx.value(0);
  let value: ConstValue | undefined;
  for (let i = 0; i < ax.length; i++) {
    const a = normAxis(ax[i], x.length);
    if (a === undefined) return [{ elemType }];
    const step = steps?.[i] ?? 1;
    if (step === 0) return [{ elemType }];
    const size = x[a];
    if (isNum(size)) {
      const { start, length } = clampSlice(size, starts[i], ends[i], step);
      shape[a] = length;
      if (v && v.dims.length === 1 && a === 0)
        value = {
          elemType: v.elemType,
          dims: [length],
          values: Array.from({ length }, (_, k) => v.values[start + k * step]),
        };
    } else if (step === 1 && starts[i] === 0 && ends[i] >= BIG) shape[a] = size;
    else if (step === 1 && starts[i] < 0 && ends[i] >= BIG) shape[a] = -starts[i];
    else shape[a] = undefined;
  }
  if (v && v.dims.length === 1 && ax.length === 0) value = v;
  return [{ elemType, shape, value }];
}

function concatValues(values: ConstValue[], axis: number, shape: Dim[]): ConstValue | undefined {
  if (!allNumbers(shape) || !keepsValue(values[0].elemType, product(shape))) return undefined;
  const outer = product(shape.slice(0, axis));
  const inner = product(shape.slice(axis + 1));
  const out: Dim[] = [];
  for (let o = 0; o < outer; o++)
    for (const v of values) {
      const chunk = v.dims[axis] * inner;
      for (let k = 0; k < chunk; k++) out.push(v.values[o * chunk + k]);
    }
  return { elemType: values[0].elemType, dims: shape, values: out };
}

function concatRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const n = ctx.node.inputs.length;
  const shapes = Array.from({ length: n }, (_, i) => ctx.shape(i));
  let elemType: number | undefined;
  for (let i = 0; i < n && elemType === undefined; i++) elemType = ctx.elemType(i);
  const known = shapes.filter((s): s is Dim[] => s !== undefined);
  if (known.length === 0) return [{ elemType }];
  const rank = known[0].length;
  if (known.some((s) => s.length !== rank)) return [{ elemType }];
  const axis = normAxis(ctx.node.attrInt('axis', 0), rank);
  if (axis === undefined) return [{ elemType }];
  const shape: Dim[] = [];
  for (let d = 0; d < rank; d++) {
    if (d === axis) {
      let sum: number | undefined = 0;
      for (const s of shapes) {
        const dim = s?.[d];
        sum = isNum(dim) && sum !== undefined ? sum + dim : undefined;
      }
      shape.push(sum === undefined && n === 1 ? known[0][d] : sum);
    } else {
      let dim: Dim;
      for (const s of known) if (isNum(s[d])) dim = s[d];
      if (dim === undefined && known.every((s) => s[d] === known[0][d])) dim = known[0][d];
      shape.push(dim);
    }
  }
  const values = inputValues(ctx, n);
  const value = values ? concatValues(values, axis, shape) : undefined;
  return [{ elemType, shape, value }];
}

function splitRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const node = ctx.node;
  const count = node.outputs.length;
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  if (!x) return Array.from({ length: count }, () => ({ elemType }));
  const axis = normAxis(node.attrInt('axis', 0), x.length);
  if (axis === undefined) return Array.from({ length: count }, () => ({ elemType }));
  const size = x[axis];
  let sizes: Dim[] | undefined = node.attrInts('split');
  if (!sizes && ctx.has(1)) sizes = ctx.numbers(1) ?? unknownDims(count);
  if (!sizes) {
    const parts = node.attrInt('num_outputs', count);
    if (isNum(size)) {
      const chunk = Math.ceil(size / parts);
      sizes = Array.from({ length: count }, (_, i) => Math.max(0, Math.min(chunk, size - i * chunk)));
    } else sizes = unknownDims(count);
  }
  const v = ctx.value(0);
  let offset = 0;
  return Array.from({ length: count }, (_, i) => {
    const shape = [...x];
    const len = sizes![i];
    shape[axis] = len;
    let value: ConstValue | undefined;
    if (v && v.dims.length === 1 && isNum(len)) {
      value = { elemType: v.elemType, dims: [len], values: v.values.slice(offset, offset + len) };
      offset += len;
    }
    return { elemType, shape, value };
  });
}

function gatherRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const x = ctx.shape(0);
  const idx = ctx.shape(1);
  const elemType = ctx.elemType(0);
  if (!x || !idx) return [{ elemType }];
  const axis = normAxis(ctx.node.attrInt('axis', 0), x.length);
  if (axis === undefined) return [{ elemType }];
  const shape = [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)];
  const v = ctx.value(0);
  const ind = ctx.numbers(1);
  let value: ConstValue | undefined;
  if (v && ind && allNumbers(shape) && keepsValue(v.elemType, product(shape))) {
    const outer = product(v.dims.slice(0, axis));
    const inner = product(v.dims.slice(axis + 1));
    const size = v.dims[axis];
    const values: Dim[] = [];
    let ok = true;
    for (let o = 0; o < outer; o++)
      for (const raw of ind) {
        const k = raw < 0 ? raw + size : raw;
        if (k < 0 || k >= size) ok = false;
        for (let j = 0; j < inner; j++) values.push(v.values[(o * size + k) * inner + j]);
      }
    if (ok) value = { elemType: v.elemType, dims: shape, values };
  }
  return [{ elemType, shape, value }];
}

function squeezeRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  const { axes, given } = axesOf(ctx, 1);
  if (!x) return [{ elemType }];
  let shape: Dim[] | undefined;
  if (given && !axes) shape = undefined;
  else if (!axes || axes.length === 0) shape = allNumbers(x) ? x.filter((d) => d !== 1) : undefined;
  else {
    const drop = new Set(axes.map((a) => normAxis(a, x.length)));
    shape = drop.has(undefined) ? undefined : x.filter((_, i) => !drop.has(i));
  }
  return [{ elemType, shape, value: relabel(ctx.value(0), shape) }];
}

function unsqueezeRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  const { axes } = axesOf(ctx, 1);
  if (!x || !axes) return [{ elemType }];
  const rank = x.length + axes.length;
  const at = new Set(axes.map((a) => normAxis(a, rank)));
  if (at.has(undefined) || at.size !== axes.length) return [{ elemType }];
  const shape: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) shape.push(at.has(i) ? 1 : x[k++]);
  return [{ elemType, shape, value: relabel(ctx.value(0), shape) }];
}

function padRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  if (!x) return [{ elemType }];
  const pads = ctx.node.attrInts('pads') ?? ctx.node.attrInts('paddings') ?? ctx.numbers(1);
  if (!pads) return [{ elemType, shape: unknownDims(x.length) }];
  const axes = (ctx.has(3) ? ctx.numbers(3) : undefined) ?? x.map((_, i) => i);
  if (pads.length !== 2 * axes.length) return [{ elemType }];
  const shape = [...x];
  axes.forEach((a, i) => {
    const k = normAxis(a, x.length);
    if (k === undefined) return;
    const extra = pads[i] + pads[axes.length + i];
    const d = x[k];
    shape[k] = extra === 0 ? d : isNum(d) ? d + extra : undefined;
  });
  return [{ elemType, shape }];
}

function scaleDim(d: Dim, scale: number): Dim {
  if (scale === 1) return d;
  // onnxruntime multiplies in float32 and truncates.
  return isNum(d) ? Math.floor(Math.fround(Math.fround(scale) * Math.fround(d))) : undefined;
}

function resizeRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const node = ctx.node;
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  if (!x) return [{ elemType }];
  const axes = (node.attrInts('axes') ?? x.map((_, i) => i)).map((a) => normAxis(a, x.length));
  if (axes.some((a) => a === undefined)) return [{ elemType }];
  const shape = [...x];
  const scalesAttr = node.attribute('scales')?.floats;
  const inputs = node.inputs.length;
  const sizes = node.opType === 'Resize' && inputs >= 4 && ctx.has(3) ? ctx.numbers(3) : undefined;
  if (sizes && sizes.length === axes.length) {
    const policy = node.attrString('keep_aspect_ratio_policy', 'stretch');
    if (policy === 'stretch') axes.forEach((a, i) => (shape[a!] = sizes[i]));
    else {
      const ratios = axes.map((a, i) => {
        const d = x[a!];
        return isNum(d) ? sizes[i] / d : NaN;
      });
      const r = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      axes.forEach((a) => {
        const d = x[a!];
        shape[a!] = isNum(d) && Number.isFinite(r) ? Math.round(r * d) : undefined;
      });
    }
    return [{ elemType, shape }];
  }
  const scaleIndex = node.opType === 'Upsample' || inputs === 2 ? 1 : 2;
  const scales = scalesAttr ?? (ctx.has(scaleIndex) ? ctx.numbers(scaleIndex) : undefined);
  if (!scales || scales.length !== axes.length) return [{ elemType, shape: unknownDims(x.length) }];
  axes.forEach((a, i) => (shape[a!] = scaleDim(x[a!], scales[i])));
  return [{ elemType, shape }];
}

function recurrentRule(gates: number, cellState: boolean): ShapeRule {
  return (ctx) => {
    const node = ctx.node;
    const x = ctx.shape(0);
    const w = ctx.shape(1);
    const elemType = ctx.elemType(0);
    const layout = node.attrInt('layout', 0);
    const direction = node.attrString('direction', 'forward');
    const dirs: Dim = direction === 'bidirectional' ? 2 : w && isNum(w[0]) ? w[0] : 1;
    let hidden: Dim = node.attribute('hidden_size') ? node.attrInt('hidden_size', 0) : undefined;
    if (hidden === undefined && w && isNum(w[1])) hidden = w[1] / gates;
    const seq = x?.[layout === 0 ? 0 : 1];
    const batch = x?.[layout === 0 ? 1 : 0];
    const y: Dim[] = layout === 0 ? [seq, dirs, batch, hidden] : [batch, seq, dirs, hidden];
    const yh: Dim[] = layout === 0 ? [dirs, batch, hidden] : [batch, dirs, hidden];
    const outs: OutputFacts[] = [
      { elemType, shape: y },
      { elemType, shape: yh },
    ];
    if (cellState) outs.push({ elemType, shape: yh });
    return outs;
  };
}

function einsumRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const elemType = ctx.elemType(0);
  const equation = ctx.node.attrString('equation', '').replace(/\s/g, '');
  const [lhs, rhs] = equation.split('->');
  const terms = lhs.split(',');
  const letters = new Map<string, Dim>();
  const counts = new Map<string, number>();
  const ellipses: Dim[][] = [];
  for (let t = 0; t < terms.length; t++) {
    const shape = ctx.shape(t);
    if (!shape) return [{ elemType }];
    const [before, after] = terms[t].split('...');
    const ellipsisRank = after === undefined ? 0 : shape.length - before.length - after.length;
    if (ellipsisRank < 0) return [{ elemType }];
    if (after !== undefined) ellipses.push(shape.slice(before.length, before.length + ellipsisRank));
    const labels = [...before, ...(after ?? '')];
    const dims = [...shape.slice(0, before.length), ...shape.slice(before.length + ellipsisRank)];
    if (labels.length !== dims.length) return [{ elemType }];
    labels.forEach((l, i) => {
      counts.set(l, (counts.get(l) ?? 0) + 1);
      const prev = letters.get(l);
      // A label broadcast against 1 takes the other size; a number beats a name.
      const d = dims[i];
      letters.set(l, prev === undefined || prev === 1 || (isNum(d) && d !== 1 && !isNum(prev)) ? d : prev);
    });
  }
  const ellipsis = broadcastShapes(ellipses) ?? [];
  const output =
    rhs ??
    (ellipses.length ? '...' : '') +
      [...counts.keys()]
        .filter((l) => counts.get(l) === 1)
        .sort()
        .join('');
  const [before, after] = output.split('...');
  const shape: Dim[] = [...before].map((l) => letters.get(l));
  if (after !== undefined) shape.push(...ellipsis, ...[...after].map((l) => letters.get(l)));
  return [{ elemType, shape }];
}

function constantRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const node = ctx.node;
  for (const a of node.proto.attribute) {
    switch (a.name) {
      case 'value':
        if (!a.t) break;
        return [{ elemType: a.t.dataType, shape: a.t.dims.map(Number), value: tensorValue(a.t) }];
      case 'sparse_value':
        return [{ elemType: a.sparseTensor?.values?.dataType, shape: a.sparseTensor?.dims.map(Number) }];
      case 'value_float':
        return [
          {
            elemType: DataType.FLOAT,
            shape: [],
            value: { elemType: DataType.FLOAT, dims: [], values: [a.f] },
          },
        ];
      case 'value_floats':
        return [
          {
            elemType: DataType.FLOAT,
            shape: [a.floats.length],
            value: { elemType: DataType.FLOAT, dims: [a.floats.length], values: [...a.floats] },
          },
        ];
      case 'value_int':
        return [
          {
            elemType: DataType.INT64,
            shape: [],
            value: { elemType: DataType.INT64, dims: [], values: [Number(a.i)] },
          },
        ];
      case 'value_ints': {
        const values = a.ints.map(Number);
        return [
          {
            elemType: DataType.INT64,
            shape: [values.length],
            value: { elemType: DataType.INT64, dims: [values.length], values },
          },
        ];
      }
      case 'value_string':
        return [{ elemType: DataType.STRING, shape: [] }];
      case 'value_strings':
        return [{ elemType: DataType.STRING, shape: [a.strings.length] }];
    }
  }
  return [];
}

function castRule(ctx: InferContext, to: number | undefined): (OutputFacts | undefined)[] {
  const v = ctx.value(0);
  let value: ConstValue | undefined;
  if (v && to !== undefined && (INT_TYPES.has(to) || dtypeInfo(to).float || to === DataType.BOOL)) {
    const keepSymbols = INT_TYPES.has(to);
    value = {
      elemType: to,
      dims: v.dims,
      values: v.values.map((x) => (isNum(x) ? toType(x, to) : keepSymbols ? x : undefined)),
    };
  }
  return [{ elemType: to, shape: ctx.shape(0), value }];
}

function ifRule(ctx: InferContext): (OutputFacts | undefined)[] {
  const branches = ctx.node.subgraphs.filter(
    (s) => s.attribute === 'then_branch' || s.attribute === 'else_branch',
  );
  if (branches.length !== 2) return [];
  const [a, b] = branches.map((s) => s.graphs[0]);
  return ctx.node.outputs.map((_, i) => {
    const na = a.outputs[i]?.name;
    const nb = b.outputs[i]?.name;
    if (na === undefined || nb === undefined) return undefined;
    const ta = a.valueElemType(na);
    const tb = b.valueElemType(nb);
    const sa = a.valueShape(na);
    const sb = b.valueShape(nb);
    const shape =
      sa && sb && sa.length === sb.length ? sa.map((d, k) => (d === sb[k] ? d : undefined)) : undefined;
    return { elemType: ta === tb ? ta : undefined, shape };
  });
}

const passThrough = [
  'Sigmoid',
  'Tanh',
  'Clip',
  'LeakyRelu',
  'HardSigmoid',
  'HardSwish',
  'Erf',
  'Gelu',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  'Elu',
  'Selu',
  'Celu',
  'ThresholdedRelu',
  'Softplus',
  'Softsign',
  'Mish',
  'Shrink',
  'Sin',
  'Cos',
  'Tan',
  'Asin',
  'Acos',
  'Atan',
  'Sinh',
  'Cosh',
  'Asinh',
  'Acosh',
  'Atanh',
  'LRN',
  'InstanceNormalization',
  'GroupNormalization',
  'LpNormalization',
  'MeanVarianceNormalization',
  'CumSum',
  'Trilu',
  'ReverseSequence',
  'BitwiseNot',
  'ScatterElements',
  'ScatterND',
  'Scatter',
];

const rules = new Map<string, ShapeRule>();
for (const op of passThrough) rules.set(op, unary());
for (const op of Object.keys(unaryEval)) rules.set(op, unaryWithEval(op));
for (const op of ['IsNaN', 'IsInf']) rules.set(op, unary(DataType.BOOL));

for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Max', 'Min'])
  rules.set(op, broadcastRule({ evaluate: binaryEval[op] }));
for (const op of ['Sum', 'Mean', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor'])
  rules.set(op, broadcastRule({ evaluate: op === 'Sum' ? binaryEval.Add : undefined }));
for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'])
  rules.set(op, broadcastRule({ bool: true, evaluate: binaryEval[op] }));
rules.set('Where', (ctx) => {
  const shapes = [0, 1, 2].map((i) => ctx.shape(i));
  const elemType = ctx.elemType(1) ?? ctx.elemType(2);
  const vs = inputValues(ctx, 3);
  const value =
    elemType !== undefined && vs
      ? evalElementwise(vs, elemType, ([c, a, b]) => (isNum(c) ? (c ? a : b) : a === b ? a : undefined))
      : undefined;
  return [{ elemType, shape: broadcastShapes(shapes), value }];
});

// The slope broadcasts to X one way only (and per channel in opsets before 7).
rules.set('PRelu', unary());
rules.set('Det', (ctx) => [{ elemType: ctx.elemType(0), shape: ctx.shape(0)?.slice(0, -2) }]);
rules.set('Bernoulli', (ctx) => [
  {
    elemType: ctx.node.attribute('dtype') ? ctx.node.attrInt('dtype', 0) : ctx.elemType(0),
    shape: ctx.shape(0),
  },
]);
for (const op of ['NegativeLogLikelihoodLoss', 'SoftmaxCrossEntropyLoss'])
  rules.set(op, (ctx) => {
    const elemType = ctx.elemType(0);
    const loss = ctx.node.attrString('reduction', 'mean') === 'none' ? ctx.shape(1) : [];
    return [
      { elemType, shape: loss },
      { elemType, shape: ctx.shape(0) },
    ];
  });
rules.set('Identity', (ctx) => [{ ...same(ctx), value: ctx.value(0) }]);
rules.set('Cast', (ctx) => castRule(ctx, ctx.node.attribute('to') ? ctx.node.attrInt('to', 0) : undefined));
rules.set('CastLike', (ctx) => castRule(ctx, ctx.elemType(1)));
rules.set('Dropout', (ctx) => {
  const maskType = ctx.opset !== undefined && ctx.opset < 10 ? ctx.elemType(0) : DataType.BOOL;
  return [same(ctx), { elemType: maskType, shape: ctx.shape(0) }];
});
rules.set('BatchNormalization', (ctx) => {
  const stats: OutputFacts = {
    elemType: ctx.elemType(3) ?? ctx.elemType(1),
    shape: ctx.shape(3) ?? ctx.shape(1),
  };
  return [same(ctx), stats, stats, stats, stats];
});
rules.set('LayerNormalization', (ctx) => {
  const x = ctx.shape(0);
  const axis = x ? normAxis(ctx.node.attrInt('axis', -1), x.length) : undefined;
  const statShape = x && axis !== undefined ? x.map((d, i) => (i < axis ? d : 1)) : undefined;
  const stash = ctx.node.attrInt('stash_type', DataType.FLOAT);
  return [same(ctx), { elemType: stash, shape: statShape }, { elemType: stash, shape: statShape }];
});

rules.set('Conv', (ctx) => [
  { elemType: ctx.elemType(0), shape: convShape(ctx.node, ctx.shape(0), ctx.shape(1)) },
]);
rules.set('ConvInteger', (ctx) => [
  { elemType: DataType.INT32, shape: convShape(ctx.node, ctx.shape(0), ctx.shape(1)) },
]);
rules.set('QLinearConv', (ctx) => [
  { elemType: ctx.elemType(7) ?? ctx.elemType(0), shape: convShape(ctx.node, ctx.shape(0), ctx.shape(3)) },
]);
rules.set('ConvTranspose', (ctx) => [
  { elemType: ctx.elemType(0), shape: convTransposeShape(ctx.node, ctx.shape(0), ctx.shape(1)) },
]);
for (const op of ['AveragePool', 'LpPool'])
  rules.set(op, (ctx) => [{ elemType: ctx.elemType(0), shape: poolShape(ctx.node, ctx.shape(0)) }]);
rules.set('MaxPool', (ctx) => {
  const shape = poolShape(ctx.node, ctx.shape(0));
  return [
    { elemType: ctx.elemType(0), shape },
    { elemType: DataType.INT64, shape },
  ];
});
rules.set('MaxUnpool', (ctx) => {
  const x = ctx.shape(0);
  if (ctx.has(2)) {
    const explicit = ctx.value(2)?.values;
    return [{ elemType: ctx.elemType(0), shape: explicit ?? (x ? unknownDims(x.length) : undefined) }];
  }
  if (!x || x.length < 3) return [{ elemType: ctx.elemType(0) }];
  const spatial = x.length - 2;
  const kernel = ctx.node.attrInts('kernel_shape');
  const { strides, pads } = windowAttrs(ctx.node, spatial);
  const shape: Dim[] = [x[0], x[1]];
  for (let i = 0; i < spatial; i++) {
    const d = x[2 + i];
    const k = kernel?.[i];
    shape.push(
      isNum(d) && k !== undefined ? (d - 1) * strides[i] + k - pads[i] - pads[spatial + i] : undefined,
    );
  }
  return [{ elemType: ctx.elemType(0), shape }];
});
for (const op of ['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool'])
  rules.set(op, (ctx) => {
    const x = ctx.shape(0);
    return [
      {
        elemType: ctx.elemType(0),
        shape: x && x.length >= 2 ? [x[0], x[1], ...x.slice(2).map(() => 1)] : undefined,
      },
    ];
  });

rules.set('Gemm', (ctx) => {
  const a = ctx.shape(0);
  const b = ctx.shape(1);
  const ta = ctx.node.attrInt('transA', 0) === 1;
  const tb = ctx.node.attrInt('transB', 0) === 1;
  const m = a && a.length === 2 ? a[ta ? 1 : 0] : undefined;
  const n = b && b.length === 2 ? b[tb ? 0 : 1] : undefined;
  return [{ elemType: ctx.elemType(0) ?? ctx.elemType(1), shape: [m, n] }];
});
rules.set('MatMul', (ctx) => [
  { elemType: ctx.elemType(0) ?? ctx.elemType(1), shape: matmulShape(ctx.shape(0), ctx.shape(1)) },
]);
rules.set('MatMulInteger', (ctx) => [
  { elemType: DataType.INT32, shape: matmulShape(ctx.shape(0), ctx.shape(1)) },
]);
rules.set('QLinearMatMul', (ctx) => [
  { elemType: ctx.elemType(7) ?? ctx.elemType(0), shape: matmulShape(ctx.shape(0), ctx.shape(3)) },
]);
rules.set('Einsum', einsumRule);

rules.set('Flatten', (ctx) => {
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  if (!x) return [{ elemType, shape: [undefined, undefined] }];
  const axis = ctx.node.attrInt('axis', 1);
  const k = axis < 0 ? axis + x.length : axis;
  if (k < 0 || k > x.length) return [{ elemType }];
  const shape = [productDim(x.slice(0, k)), productDim(x.slice(k))];
  return [{ elemType, shape, value: relabel(ctx.value(0), shape) }];
});
rules.set('Reshape', (ctx) => {
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  const attrShape = ctx.node.attrInts('shape');
  const target = attrShape ?? ctx.value(1)?.values;
  if (!target) {
    const s = ctx.shape(1);
    return [{ elemType, shape: s && s.length === 1 && isNum(s[0]) ? unknownDims(s[0]) : undefined }];
  }
  const shape = reshapeTarget(x, target, ctx.node.attrInt('allowzero', 0) === 1);
  return [{ elemType, shape, value: relabel(ctx.value(0), shape) }];
});
rules.set('Transpose', (ctx) => {
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  if (!x) return [{ elemType }];
  const perm = ctx.node.attrInts('perm') ?? x.map((_, i) => x.length - 1 - i);
  if (perm.length !== x.length) return [{ elemType }];
  const shape = perm.map((p) => x[p]);
  return [{ elemType, shape, value: x.length <= 1 ? ctx.value(0) : undefined }];
});
rules.set('Squeeze', squeezeRule);
rules.set('Unsqueeze', unsqueezeRule);
rules.set('Concat', concatRule);
rules.set('Split', splitRule);
rules.set('Slice', sliceRule);
rules.set('Gather', gatherRule);
rules.set('GatherElements', (ctx) => [{ elemType: ctx.elemType(0), shape: ctx.shape(1) }]);
rules.set('GatherND', (ctx) => {
  const x = ctx.shape(0);
  const idx = ctx.shape(1);
  const elemType = ctx.elemType(0);
  const batch = ctx.node.attrInt('batch_dims', 0);
  const last = idx?.[idx.length - 1];
  if (!x || !idx || !isNum(last)) return [{ elemType }];
  return [{ elemType, shape: [...idx.slice(0, -1), ...x.slice(batch + last)] }];
});
rules.set('Pad', padRule);
rules.set('Resize', resizeRule);
rules.set('Upsample', resizeRule);
rules.set('DepthToSpace', (ctx) => {
  const x = ctx.shape(0);
  const b = ctx.node.attrInt('blocksize', 1);
  const mul = (d: Dim, f: number): Dim => (isNum(d) ? d * f : undefined);
  return [
    {
      elemType: ctx.elemType(0),
      shape:
        x?.length === 4
          ? [x[0], isNum(x[1]) ? x[1] / (b * b) : undefined, mul(x[2], b), mul(x[3], b)]
          : undefined,
    },
  ];
});
rules.set('SpaceToDepth', (ctx) => {
  const x = ctx.shape(0);
  const b = ctx.node.attrInt('blocksize', 1);
  const div = (d: Dim): Dim => (isNum(d) ? Math.floor(d / b) : undefined);
  return [
    {
      elemType: ctx.elemType(0),
      shape:
        x?.length === 4 ? [x[0], isNum(x[1]) ? x[1] * b * b : undefined, div(x[2]), div(x[3])] : undefined,
    },
  ];
});

rules.set('Shape', (ctx) => {
  const x = ctx.shape(0);
  if (!x) return [{ elemType: DataType.INT64, shape: [undefined] }];
  const r = x.length;
  const clamp = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
  const start = clamp(ctx.node.attrInt('start', 0));
  const end = ctx.node.attribute('end') ? clamp(ctx.node.attrInt('end', r)) : r;
  const values = x.slice(start, Math.max(start, end));
  return [
    {
      elemType: DataType.INT64,
      shape: [values.length],
      value: { elemType: DataType.INT64, dims: [values.length], values },
    },
  ];
});
rules.set('Size', (ctx) => {
  const x = ctx.shape(0);
  const n = x ? productDim(x) : undefined;
  return [
    {
      elemType: DataType.INT64,
      shape: [],
      value: n !== undefined ? { elemType: DataType.INT64, dims: [], values: [n] } : undefined,
    },
  ];
});
rules.set('ConstantOfShape', (ctx) => {
  const t = ctx.node.attribute('value')?.t;
  const elemType = t?.dataType ?? DataType.FLOAT;
  const target = ctx.value(0)?.values;
  let shape: Dim[] | undefined = target;
  if (!shape) {
    const s = ctx.shape(0);
    shape = s && s.length === 1 && isNum(s[0]) ? unknownDims(s[0]) : undefined;
  }
  let value: ConstValue | undefined;
  if (shape && allNumbers(shape) && keepsValue(elemType, product(shape))) {
    const fill = t ? tensorValue(t)?.values[0] : 0;
    if (fill !== undefined)
      value = { elemType, dims: shape, values: new Array<Dim>(product(shape)).fill(fill) };
  }
  return [{ elemType, shape, value }];
});
rules.set('Constant', constantRule);
rules.set('Expand', (ctx) => {
  const elemType = ctx.elemType(0);
  const target = ctx.value(1)?.values;
  const x = ctx.shape(0);
  if (!target) {
    const s = ctx.shape(1);
    return [
      {
        elemType,
        shape: x && s && s.length === 1 && isNum(s[0]) ? unknownDims(Math.max(x.length, s[0])) : undefined,
      },
    ];
  }
  const shape = broadcastShapes([x, target]);
  const v = ctx.value(0);
  const value =
    v && shape && allNumbers(shape)
      ? evalElementwise(
          [v, { elemType: v.elemType, dims: shape, values: new Array<Dim>(product(shape)).fill(0) }],
          v.elemType,
          ([a]) => a,
        )
      : undefined;
  return [{ elemType, shape, value }];
});
rules.set('Tile', (ctx) => {
  const x = ctx.shape(0);
  const repeats = ctx.numbers(1);
  const elemType = ctx.elemType(0);
  if (!x) return [{ elemType }];
  if (!repeats || repeats.length !== x.length) return [{ elemType, shape: unknownDims(x.length) }];
  return [
    { elemType, shape: x.map((d, i) => (repeats[i] === 1 ? d : isNum(d) ? d * repeats[i] : undefined)) },
  ];
});
rules.set('Range', (ctx) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => ctx.numbers(i)?.[0]);
  const elemType = ctx.elemType(0);
  // range(0, T, 1) over a symbolic T (a causal mask's positions) has T elements.
  const symbolicLimit = ctx.value(1)?.values[0];
  if (start === 0 && delta === 1 && typeof symbolicLimit === 'string')
    return [{ elemType, shape: [symbolicLimit] }];
  if (start === undefined || limit === undefined || delta === undefined || delta === 0)
    return [{ elemType, shape: [undefined] }];
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  const value =
    elemType !== undefined && keepsValue(elemType, n)
      ? {
          elemType,
          dims: [n],
          values: Array.from({ length: n }, (_, i) => toType(start + i * delta, elemType)),
        }
      : undefined;
  return [{ elemType, shape: [n], value }];
});
rules.set('NonZero', (ctx) => [{ elemType: DataType.INT64, shape: [ctx.shape(0)?.length, undefined] }]);
rules.set('OneHot', (ctx) => {
  const idx = ctx.shape(0);
  const depth = ctx.numbers(1)?.[0];
  const elemType = ctx.elemType(2);
  if (!idx) return [{ elemType }];
  const rank = idx.length + 1;
  const axis = normAxis(ctx.node.attrInt('axis', -1), rank);
  if (axis === undefined) return [{ elemType }];
  const shape = [...idx];
  shape.splice(axis, 0, depth);
  return [{ elemType, shape }];
});
for (const op of ['EyeLike', 'RandomNormalLike', 'RandomUniformLike'])
  rules.set(op, (ctx) => [
    {
      elemType: ctx.node.attribute('dtype') ? ctx.node.attrInt('dtype', 0) : ctx.elemType(0),
      shape: ctx.shape(0),
    },
  ]);
for (const op of ['RandomNormal', 'RandomUniform'])
  rules.set(op, (ctx) => [
    { elemType: ctx.node.attrInt('dtype', DataType.FLOAT), shape: ctx.node.attrInts('shape') },
  ]);

rules.set(
  'ReduceSum',
  reduceRule((xs) => xs.reduce((a, b) => a + b, 0)),
);
rules.set(
  'ReduceProd',
  reduceRule((xs) => xs.reduce((a, b) => a * b, 1)),
);
rules.set(
  'ReduceMax',
  reduceRule((xs) => Math.max(...xs)),
);
rules.set(
  'ReduceMin',
  reduceRule((xs) => Math.min(...xs)),
);
for (const op of ['ReduceMean', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'])
  rules.set(op, reduceRule());
for (const op of ['ArgMax', 'ArgMin'])
  rules.set(op, (ctx) => {
    const x = ctx.shape(0);
    if (!x) return [{ elemType: DataType.INT64 }];
    const axis = normAxis(ctx.node.attrInt('axis', 0), x.length);
    if (axis === undefined) return [{ elemType: DataType.INT64 }];
    const keep = ctx.node.attrInt('keepdims', 1) === 1;
    const shape = keep ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis);
    return [{ elemType: DataType.INT64, shape }];
  });
rules.set('TopK', (ctx) => {
  const x = ctx.shape(0);
  const k = ctx.node.attribute('k') ? ctx.node.attrInt('k', 0) : ctx.numbers(1)?.[0];
  let shape: Dim[] | undefined;
  if (x) {
    const axis = normAxis(ctx.node.attrInt('axis', -1), x.length);
    if (axis !== undefined) shape = x.map((d, i) => (i === axis ? k : d));
  }
  return [
    { elemType: ctx.elemType(0), shape },
    { elemType: DataType.INT64, shape },
  ];
});

rules.set('QuantizeLinear', (ctx) => {
  const dtype = ctx.node.attrInt('output_dtype', 0);
  const elemType = dtype || (ctx.has(2) ? ctx.elemType(2) : DataType.UINT8);
  return [{ elemType, shape: ctx.shape(0) }];
});
rules.set('DequantizeLinear', (ctx) => {
  const dtype = ctx.node.attrInt('output_dtype', 0);
  return [{ elemType: dtype || (ctx.elemType(1) ?? DataType.FLOAT), shape: ctx.shape(0) }];
});
rules.set('DynamicQuantizeLinear', (ctx) => [
  { elemType: DataType.UINT8, shape: ctx.shape(0) },
  { elemType: DataType.FLOAT, shape: [] },
  { elemType: DataType.UINT8, shape: [] },
]);
rules.set('LSTM', recurrentRule(4, true));
rules.set('GRU', recurrentRule(3, false));
rules.set('RNN', recurrentRule(1, false));
rules.set('If', ifRule);
rules.set('GridSample', (ctx) => {
  const x = ctx.shape(0);
  const grid = ctx.shape(1);
  if (!x || !grid || x.length < 3 || grid.length !== x.length) return [{ elemType: ctx.elemType(0) }];
  return [{ elemType: ctx.elemType(0), shape: [x[0], x[1], ...grid.slice(1, -1)] }];
});
rules.set('RoiAlign', (ctx) => {
  const x = ctx.shape(0);
  const rois = ctx.shape(1);
  return [
    {
      elemType: ctx.elemType(0),
      shape: [rois?.[0], x?.[1], ctx.node.attrInt('output_height', 1), ctx.node.attrInt('output_width', 1)],
    },
  ];
});
rules.set('NonMaxSuppression', () => [{ elemType: DataType.INT64, shape: [undefined, 3] }]);

/** onnxruntime's contrib operators that its optimizer writes into saved models. */
const microsoftRules = new Map<string, ShapeRule>();
for (const op of ['Gelu', 'FastGelu', 'BiasGelu', 'QuickGelu', 'QLinearSigmoid', 'QLinearLeakyRelu'])
  microsoftRules.set(op, unary());
microsoftRules.set('FusedConv', rules.get('Conv')!);
microsoftRules.set('FusedGemm', rules.get('Gemm')!);
microsoftRules.set('SkipLayerNormalization', (ctx) => [same(ctx)]);
for (const op of ['QLinearAdd', 'QLinearMul'])
  microsoftRules.set(op, (ctx) => [
    { elemType: ctx.elemType(0), shape: broadcastShapes([ctx.shape(0), ctx.shape(3)]) },
  ]);
microsoftRules.set('QLinearGlobalAveragePool', (ctx) => {
  const x = ctx.shape(0);
  const channelsLast = ctx.node.attrInt('channels_last', 0) === 1;
  const shape =
    x && x.length >= 3
      ? channelsLast
        ? [x[0], ...x.slice(1, -1).map(() => 1), x[x.length - 1]]
        : [x[0], x[1], ...x.slice(2).map(() => 1)]
      : undefined;
  return [{ elemType: ctx.elemType(0), shape }];
});
for (const op of ['DynamicQuantizeMatMul', 'MatMulIntegerToFloat'])
  microsoftRules.set(op, (ctx) => [
    {
      elemType: op === 'DynamicQuantizeMatMul' ? ctx.elemType(0) : ctx.elemType(2),
      shape: matmulShape(ctx.shape(0), ctx.shape(1)),
    },
  ]);

/** The shape rule for an operator ('' for the default ONNX domain), if we have one. */
export function shapeRule(opType: string, domain = ''): ShapeRule | undefined {
  if (domain === '') return rules.get(opType);
  if (domain === 'com.microsoft') return microsoftRules.get(opType);
  return undefined;
}
