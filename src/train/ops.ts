import * as tf from '@tensorflow/tfjs';
import type { Node } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { batchNormTraining } from './batchNorm';
import { hostBinary, hostGather, normAxis, reshapeTarget } from './hostMath';
import {
  asNhwc,
  asTensor,
  hostInts,
  hostValue,
  isFloatType,
  onnxShape,
  tensorValue,
  toNhwcPerm,
  type Value,
} from './values';

/** What a translated operator sees. */
export interface OpContext {
  node: Node;
  /** Default-domain opset of the model (attribute vs input forms changed across versions). */
  opset: number;
  training: boolean;
  inputs: (Value | undefined)[];
  /** Called in training mode with a BatchNormalization node's batch statistics. */
  onBatchStats?(node: Node, mean: tf.Tensor1D, variance: tf.Tensor1D): void;
}

export type OpTranslation = (ctx: OpContext) => Value[];

/** Raised when a node cannot be translated (unsupported attribute combination, missing constant). */
export class TranslationError extends Error {
  constructor(node: Node, message: string) {
    super(`${node.opType} "${node.name || node.outputs[0]}": ${message}`);
    this.name = 'TranslationError';
  }
}

const input = (ctx: OpContext, i: number): Value => {
  const v = ctx.inputs[i];
  if (!v) throw new TranslationError(ctx.node, `input ${i} is missing`);
  return v;
};
const tensorIn = (ctx: OpContext, i: number) => asTensor(input(ctx, i));
const optional = (ctx: OpContext, i: number) => (ctx.node.inputs[i] ? ctx.inputs[i] : undefined);

/** Small float constants (Resize scales, Clip bounds) read on the host. */
function hostFloats(v: Value | undefined, ctx: OpContext, what: string): number[] | undefined {
  if (!v) return undefined;
  if (v.kind === 'host') return v.data;
  if (v.t.size > 64) throw new TranslationError(ctx.node, `${what} must be a small constant`);
  return Array.from(v.t.dataSync());
}

/** Ops that act element by element keep whatever layout their input has. */
function unary(f: (t: tf.Tensor, node: Node) => tf.Tensor): OpTranslation {
  return (ctx) => {
    const v = input(ctx, 0);
    const t = v.kind === 'tensor' ? v.t : asTensor(v);
    return [tensorValue(f(t, ctx.node), v.kind === 'tensor' && v.nhwc)];
  };
}

/** Bring `other` into the layout of a rank-4 NHWC tensor, broadcasting as ONNX would in NCHW. */
function alignToNhwc(other: Value): tf.Tensor {
  if (other.kind === 'tensor' && other.nhwc) return other.t;
  const t = asTensor(other);
  if (t.rank === 0) return t;
  const padded = t.rank < 4 ? t.reshape([...new Array<number>(4 - t.rank).fill(1), ...t.shape]) : t;
  return tf.transpose(padded, toNhwcPerm);
}

function binary(
  f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  host?: (x: number, y: number) => number,
): OpTranslation {
  return (ctx) => {
    const a = input(ctx, 0);
    const b = input(ctx, 1);
    if (host && a.kind === 'host' && b.kind === 'host') {
      const r = hostBinary(a, b, host);
      return [hostValue(r.data, r.shape, a.elemType)];
    }
    const aNhwc = a.kind === 'tensor' && a.nhwc && onnxShape(b).length <= 4;
    const bNhwc = b.kind === 'tensor' && b.nhwc && onnxShape(a).length <= 4;
    if (aNhwc || bNhwc) return [tensorValue(f(alignToNhwc(a), alignToNhwc(b)), true)];
    return [tensorValue(f(asTensor(a), asTensor(b)))];
  };
}

function variadic(
  f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  finish?: (t: tf.Tensor, n: number) => tf.Tensor,
) {
  return (ctx: OpContext): Value[] => {
    const values = ctx.inputs.filter((v): v is Value => v !== undefined);
    const allNhwc = values.every((v) => v.kind === 'tensor' && v.nhwc);
    let acc = allNhwc ? (values[0] as { t: tf.Tensor }).t : asTensor(values[0]);
    for (const v of values.slice(1)) acc = f(acc, allNhwc ? (v as { t: tf.Tensor }).t : asTensor(v));
    return [tensorValue(finish ? finish(acc, values.length) : acc, allNhwc)];
  };
}

// ---------------------------------------------------------------------------------------------
// Convolution and pooling (NHWC inside, spatial rank 1 or 2)

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin, end] per spatial axis. */
  pads: [number, number][];
}

function windowOf(node: Node, spatial: number[], kernel: number[], transposed = false): Window {
  const rank = kernel.length;
  const strides = node.attrInts('strides') ?? new Array<number>(rank).fill(1);
  const dilations = node.attrInts('dilations') ?? new Array<number>(rank).fill(1);
  const autoPad = node.attrString('auto_pad', 'NOTSET');
  const explicit = node.attrInts('pads') ?? new Array<number>(2 * rank).fill(0);
  const pads: [number, number][] = [];
  for (let i = 0; i < rank; i++) {
    if (!transposed && (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER')) {
      const out = Math.ceil(spatial[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - spatial[i]);
      const small = Math.floor(total / 2);
      pads.push(autoPad === 'SAME_UPPER' ? [small, total - small] : [total - small, small]);
    } else if (autoPad === 'VALID') pads.push([0, 0]);
    else pads.push([explicit[i], explicit[i + rank]]);
  }
  return { kernel, strides, dilations, pads };
}

/** Lift a rank-3 (N, C, L) value to rank 4 (N, C, 1, L) so 1-D ops reuse the 2-D kernels. */
function as2d(v: Value): { x: tf.Tensor4D; was1d: boolean } {
  const shape = onnxShape(v);
  if (shape.length === 4) return { x: asNhwc(v), was1d: false };
  if (shape.length === 3) {
    const t = asTensor(v);
    return {
      x: tf.transpose(t.reshape([shape[0], shape[1], 1, shape[2]]), toNhwcPerm) as tf.Tensor4D,
      was1d: true,
    };
  }
  throw new Error(`only 1-D and 2-D spatial inputs are supported, got rank ${shape.length}`);
}

function from2d(y: tf.Tensor4D, was1d: boolean): Value {
  if (!was1d) return tensorValue(y, true);
  const [n, , w, c] = y.shape;
  return tensorValue(tf.transpose(y, [0, 3, 1, 2]).reshape([n, c, w]));
}

function spatialOf(kernel: number[], was1d: boolean): [number, number] {
  return was1d ? [1, kernel[0]] : [kernel[0], kernel[1]];
}

function padNhwc(x: tf.Tensor4D, pads: [number, number][], was1d: boolean, value = 0): tf.Tensor4D {
  const p = was1d ? [[0, 0], pads[0]] : pads;
  if (p.every(([a, b]) => a === 0 && b === 0)) return x;
  return tf.pad(x, [[0, 0], p[0] as [number, number], p[1] as [number, number], [0, 0]], value);
}

const conv: OpTranslation = (ctx) => {
  const { node } = ctx;
  const xv = input(ctx, 0);
  const w = tensorIn(ctx, 1);
  const bias = optional(ctx, 2);
  const { x, was1d } = as2d(xv);
  const kernel = w.shape.slice(2);
  const spatial = onnxShape(xv).slice(2);
  const win = windowOf(node, spatial, kernel);
  const group = node.attrInt('group', 1);
  const [kh, kw] = spatialOf(kernel, was1d);
  const strides = spatialOf(win.strides, was1d);
  const dilations = spatialOf(win.dilations, was1d);
  // Explicit padding inside the convolution: a separate Pad costs a copy forward and a slice backward.
  const p2 = was1d ? [[0, 0] as [number, number], win.pads[0]!] : win.pads;
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    p2[0]!,
    p2[1]!,
    [0, 0],
  ];
  const outC = w.shape[0]!;
  const inC = x.shape[3];
  const w4 = w.reshape([outC, w.shape[1]!, kh, kw]);
  let y: tf.Tensor4D;
  if (group === 1) {
    y = tf.conv2d(x, tf.transpose(w4, [2, 3, 1, 0]) as tf.Tensor4D, strides, pad, 'NHWC', dilations);
  } else if (group === inC && w.shape[1] === 1) {
    const mult = outC / inC;
    const filter = tf.transpose(w4.reshape([inC, mult, kh, kw]), [2, 3, 0, 1]) as tf.Tensor4D;
    y = tf.depthwiseConv2d(x, filter, strides, pad, 'NHWC', dilations);
  } else {
    const xs = tf.split(x, group, 3);
    const ws = tf.split(w4, group, 0);
    y = tf.concat(
      xs.map((xg, g) =>
        tf.conv2d(
          xg as tf.Tensor4D,
          tf.transpose(ws[g], [2, 3, 1, 0]) as tf.Tensor4D,
          strides,
          'valid',
          'NHWC',
          dilations,
        ),
      ),
      3,
    );
  }
  if (bias) y = tf.add(y, asTensor(bias));
  return [from2d(y, was1d)];
};

const convTranspose: OpTranslation = (ctx) => {
  const { node } = ctx;
  const xv = input(ctx, 0);
  const w = tensorIn(ctx, 1);
  const bias = optional(ctx, 2);
  if (node.attrInt('group', 1) !== 1)
    throw new TranslationError(node, 'grouped ConvTranspose is not supported');
  const { x, was1d } = as2d(xv);
  const kernel = w.shape.slice(2);
  const rank = kernel.length;
  const strides = node.attrInts('strides') ?? new Array<number>(rank).fill(1);
  const dilations = node.attrInts('dilations') ?? new Array<number>(rank).fill(1);
  if (dilations.some((d) => d !== 1))
    throw new TranslationError(node, 'dilated ConvTranspose is not supported');
  const outPad = node.attrInts('output_padding') ?? new Array<number>(rank).fill(0);
  const spatial = onnxShape(xv).slice(2);
  const full = spatial.map((s, i) => (s - 1) * strides[i] + kernel[i] + outPad[i]);
  const outputShape = node.attrInts('output_shape');
  const autoPad = node.attrString('auto_pad', 'NOTSET');
  const explicit = node.attrInts('pads') ?? new Array<number>(2 * rank).fill(0);
  const pads: [number, number][] = [];
  for (let i = 0; i < rank; i++) {
    const target =
      outputShape?.[outputShape.length - rank + i] ??
      (autoPad.startsWith('SAME') ? spatial[i] * strides[i] : undefined);
    if (target !== undefined) {
      const total = Math.max(0, full[i] - target);
      const half = Math.floor(total / 2);
      pads.push(autoPad === 'SAME_UPPER' ? [half, total - half] : [total - half, half]);
    } else pads.push([explicit[i], explicit[i + rank]]);
  }
  const [kh, kw] = spatialOf(kernel, was1d);
  const [sh, sw] = spatialOf(strides, was1d);
  const inC = w.shape[0]!;
  const outC = w.shape[1]!;
  const filter = tf.transpose(w.reshape([inC, outC, kh, kw]), [2, 3, 1, 0]) as tf.Tensor4D;
  const [n, h, wd] = x.shape;
  const validShape: [number, number, number, number] = [n, (h - 1) * sh + kh, (wd - 1) * sw + kw, outC];
  let y = tf.conv2dTranspose(x, filter, validShape, [sh, sw], 'valid');
  const op2 = spatialOf(outPad, was1d);
  if (op2[0] || op2[1])
    y = tf.pad(y, [
      [0, 0],
      [0, op2[0]],
      [0, op2[1]],
      [0, 0],
    ]);
  const p2 = was1d ? [[0, 0] as [number, number], pads[0]] : pads;
  y = tf.slice(
    y,
    [0, p2[0][0], p2[1][0], 0],
    [n, y.shape[1] - p2[0][0] - p2[0][1], y.shape[2] - p2[1][0] - p2[1][1], outC],
  );
  if (bias) y = tf.add(y, asTensor(bias));
  return [from2d(y, was1d)];
};

function pool(kind: 'max' | 'avg'): OpTranslation {
  return (ctx) => {
    const { node } = ctx;
    const xv = input(ctx, 0);
    const kernel = node.attrInts('kernel_shape');
    if (!kernel) throw new TranslationError(node, 'kernel_shape is missing');
    const { x, was1d } = as2d(xv);
    const spatial = onnxShape(xv).slice(2);
    const win = windowOf(node, spatial, kernel);
    if (win.dilations.some((d) => d !== 1))
      throw new TranslationError(node, 'dilated pooling is not supported');
    const ceil = node.attrInt('ceil_mode', 0) === 1;
    // ceil_mode adds windows that overhang the end: pad for them, then count only real cells.
    // onnxruntime also truncates a negative span toward zero (a window larger than the input
    // still yields one output over the cells that exist).
    const pads = win.pads.map(([b, e], i): [number, number] => {
      const span = spatial[i] + b + e - kernel[i];
      const outputs = (ceil ? Math.ceil(span / win.strides[i]) : Math.trunc(span / win.strides[i])) + 1;
      const extra = Math.max(0, (outputs - 1) * win.strides[i] + kernel[i] - (spatial[i] + b + e));
      return [b, e + extra];
    });
    const k = spatialOf(kernel, was1d);
    const s = spatialOf(win.strides, was1d);
    let y: tf.Tensor4D;
    if (kind === 'max') {
      y = tf.maxPool(padNhwc(x, pads, was1d, -3.4e38), k, s, 'valid');
    } else {
      y = tf.avgPool(padNhwc(x, pads, was1d), k, s, 'valid');
      const includePad = node.attrInt('count_include_pad', 0) === 1;
      const countPads = pads.map(([b, e], i): [number, number] =>
        includePad ? [0, e - win.pads[i][1]] : [b, e],
      );
      if (countPads.some(([b, e]) => b || e)) {
        // Average over the cells that exist: divide by the share of real cells in each window.
        const ones = tf.ones([1, x.shape[1], x.shape[2], 1]) as tf.Tensor4D;
        const inner = includePad ? padNhwc(ones, win.pads, was1d, 1) : ones;
        const share = tf.avgPool(padNhwc(inner, countPads, was1d), k, s, 'valid');
        y = tf.div(y, share);
      }
    }
    return [from2d(y, was1d)];
  };
}

function globalPool(kind: 'max' | 'avg'): OpTranslation {
  return (ctx) => {
    const xv = input(ctx, 0);
    const shape = onnxShape(xv);
    if (shape.length === 4) {
      const x = asNhwc(xv);
      return [tensorValue(kind === 'max' ? tf.max(x, [1, 2], true) : tf.mean(x, [1, 2], true), true)];
    }
    const axes = shape.slice(2).map((_, i) => i + 2);
    const t = asTensor(xv);
    return [tensorValue(kind === 'max' ? tf.max(t, axes, true) : tf.mean(t, axes, true))];
  };
}

const batchNormalization: OpTranslation = (ctx) => {
  const { node } = ctx;
  const xv = input(ctx, 0);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => tensorIn(ctx, i) as tf.Tensor1D);
  const epsilon = node.attrFloat('epsilon', 1e-5);
  const shape = onnxShape(xv);
  const channels = shape[1];
  // Channels last: NHWC for images, (N, L, C) for sequences, (N, C) as is.
  let x: tf.Tensor;
  let back: (y: tf.Tensor) => Value;
  if (shape.length === 4) {
    x = asNhwc(xv);
    back = (y) => tensorValue(y, true);
  } else if (shape.length === 2) {
    x = asTensor(xv);
    back = (y) => tensorValue(y);
  } else {
    const perm = [0, ...shape.slice(2).map((_, i) => i + 2), 1];
    x = tf.transpose(asTensor(xv), perm);
    const inverse = perm.map((_, i) => perm.indexOf(i));
    back = (y) => tensorValue(tf.transpose(y, inverse));
  }
  if (!ctx.training) return [back(tf.batchNorm(x, mean, variance, bias, scale, epsilon))];
  const rows = x.size / channels;
  const y = batchNormTraining(x.reshape([rows, channels]) as tf.Tensor2D, scale, bias, epsilon, (s) =>
    ctx.onBatchStats?.(node, s.mean, s.variance),
  );
  return [back(y.reshape(x.shape))];
};

const layerNormalization: OpTranslation = (ctx) => {
  const x = tensorIn(ctx, 0);
  const scale = tensorIn(ctx, 1);
  const bias = optional(ctx, 2);
  const axis = normAxis(ctx.node.attrInt('axis', -1), x.rank);
  const axes = x.shape.slice(axis).map((_, i) => axis + i);
  const { mean, variance } = tf.moments(x, axes, true);
  let y = tf.mul(
    tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, ctx.node.attrFloat('epsilon', 1e-5)))),
    scale,
  );
  if (bias) y = tf.add(y, asTensor(bias));
  return [tensorValue(y)];
};

const lrn: OpTranslation = (ctx) => {
  const { node } = ctx;
  const size = node.attrInt('size', 1);
  const x = asNhwc(input(ctx, 0));
  const y = tf.localResponseNormalization(
    x,
    (size - 1) / 2,
    node.attrFloat('bias', 1),
    node.attrFloat('alpha', 1e-4) / size,
    node.attrFloat('beta', 0.75),
  );
  return [tensorValue(y, true)];
};

// ---------------------------------------------------------------------------------------------
// Dense layers

function matMul2(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank === 1) return matMul2(a.expandDims(0), b).squeeze([-2]);
  if (b.rank === 1) return matMul2(a, b.expandDims(1)).squeeze([-1]);
  if (a.rank === 2 && b.rank === 2) return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
  if (b.rank === 2) {
    // (…, M, K) × (K, N): one 2-D product over the flattened leading dimensions.
    const k = a.shape[a.rank - 1];
    const y = tf.matMul(a.reshape([-1, k]) as tf.Tensor2D, b as tf.Tensor2D);
    return y.reshape([...a.shape.slice(0, -1), b.shape[1]!]);
  }
  const batch = (t: tf.Tensor) => t.shape.slice(0, -2);
  const common = batch(a).length >= batch(b).length ? batch(a) : batch(b);
  const lift = (t: tf.Tensor) => {
    const target = [
      ...common.map((d, i) => Math.max(d, batch(t)[i - (common.length - batch(t).length)] ?? 1)),
    ];
    return tf.broadcastTo(t, [...target, ...t.shape.slice(-2)]);
  };
  return tf.matMul(lift(a), lift(b));
}

const gemm: OpTranslation = (ctx) => {
  const { node } = ctx;
  let y = tf.matMul(
    tensorIn(ctx, 0) as tf.Tensor2D,
    tensorIn(ctx, 1) as tf.Tensor2D,
    node.attrInt('transA', 0) === 1,
    node.attrInt('transB', 0) === 1,
  ) as tf.Tensor;
  const alpha = node.attrFloat('alpha', 1);
  if (alpha !== 1) y = tf.mul(y, alpha);
  const c = optional(ctx, 2);
  if (c) {
    const beta = node.attrFloat('beta', 1);
    y = tf.add(y, beta === 1 ? asTensor(c) : tf.mul(asTensor(c), beta));
  }
  return [tensorValue(y)];
};

// ---------------------------------------------------------------------------------------------
// Shapes and data movement (host integers where the data is integers)

function axesFrom(ctx: OpContext, inputIndex: number): number[] | undefined {
  const attr = ctx.node.attrInts('axes');
  if (attr) return attr;
  const v = optional(ctx, inputIndex);
  return v ? hostInts(v, 'axes') : undefined;
}

const reshape: OpTranslation = (ctx) => {
  const v = input(ctx, 0);
  const target = reshapeTarget(
    onnxShape(v),
    ctx.opset < 5 ? (ctx.node.attrInts('shape') ?? []) : hostInts(input(ctx, 1), 'Reshape shape'),
    ctx.node.attrInt('allowzero', 0) === 1,
  );
  if (v.kind === 'host') return [hostValue(v.data, target, v.elemType)];
  return [tensorValue(asTensor(v).reshape(target))];
};

const flatten: OpTranslation = (ctx) => {
  const v = input(ctx, 0);
  const shape = onnxShape(v);
  const axis = normAxis(ctx.node.attrInt('axis', 1), shape.length + 1);
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const target = [outer, shape.slice(axis).reduce((p, d) => p * d, 1)];
  if (v.kind === 'host') return [hostValue(v.data, target, v.elemType)];
  return [tensorValue(asTensor(v).reshape(target))];
};

const transpose: OpTranslation = (ctx) => {
  const v = input(ctx, 0);
  const rank = onnxShape(v).length;
  const perm = ctx.node.attrInts('perm') ?? [...Array(rank).keys()].reverse();
  // NHWC held data asked for NHWC: nothing to move.
  if (v.kind === 'tensor' && v.nhwc && perm.join() === toNhwcPerm.join()) return [tensorValue(v.t)];
  return [tensorValue(tf.transpose(asTensor(v), perm))];
};

const squeeze: OpTranslation = (ctx) => {
  const v = input(ctx, 0);
  const shape = onnxShape(v);
  const axes = (axesFrom(ctx, 1) ?? shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) =>
    normAxis(a, shape.length),
  );
  const target = shape.filter((_, i) => !axes.includes(i));
  if (v.kind === 'host') return [hostValue(v.data, target, v.elemType)];
  return [tensorValue(asTensor(v).reshape(target))];
};

const unsqueeze: OpTranslation = (ctx) => {
  const v = input(ctx, 0);
  const shape = onnxShape(v);
  const axes = axesFrom(ctx, 1) ?? [];
  const rank = shape.length + axes.length;
  const norm = axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
  const target = [...shape];
  for (const a of norm) target.splice(a, 0, 1);
  if (v.kind === 'host') return [hostValue(v.data, target, v.elemType)];
  return [tensorValue(asTensor(v).reshape(target))];
};

const concat: OpTranslation = (ctx) => {
  const values = ctx.inputs.filter((v): v is Value => v !== undefined);
  const rank = onnxShape(values[0]).length;
  const axis = normAxis(ctx.node.attrInt('axis', 0), rank);
  if (values.every((v) => v.kind === 'host')) {
    if (rank !== 1) {
      const ts = values.map(asTensor);
      const r = tf.concat(ts, axis);
      return [hostValue(Array.from(r.dataSync()), r.shape, (values[0] as { elemType: number }).elemType)];
    }
    const data = values.flatMap((v) => (v as { data: number[] }).data);
    return [hostValue(data, [data.length], (values[0] as { elemType: number }).elemType)];
  }
  if (rank === 4 && values.every((v) => v.kind === 'tensor' && v.nhwc)) {
    const nhwcAxis = [0, 3, 1, 2][axis];
    return [
      tensorValue(
        tf.concat(
          values.map((v) => (v as { t: tf.Tensor }).t),
          nhwcAxis,
        ),
        true,
      ),
    ];
  }
  return [tensorValue(tf.concat(values.map(asTensor), axis))];
};

const split: OpTranslation = (ctx) => {
  const t = tensorIn(ctx, 0);
  const axis = normAxis(ctx.node.attrInt('axis', 0), t.rank);
  const count = ctx.node.outputs.length;
  const sizes =
    ctx.node.attrInts('split') ?? (optional(ctx, 1) ? hostInts(ctx.inputs[1], 'split') : undefined);
  let parts: tf.Tensor[];
  if (sizes) parts = tf.split(t, sizes, axis);
  else {
    const dim = t.shape[axis];
    const chunk = Math.ceil(dim / count);
    const explicit = Array.from({ length: count }, (_, i) => Math.min(chunk, dim - i * chunk));
    parts = tf.split(t, explicit, axis);
  }
  return parts.map((p) => tensorValue(p));
};

const slice: OpTranslation = (ctx) => {
  const v = input(ctx, 0);
  const shape = onnxShape(v);
  const { node } = ctx;
  const starts = ctx.opset < 10 ? (node.attrInts('starts') ?? []) : hostInts(ctx.inputs[1], 'starts');
  const ends = ctx.opset < 10 ? (node.attrInts('ends') ?? []) : hostInts(ctx.inputs[2], 'ends');
  const axes =
    (ctx.opset < 10 ? node.attrInts('axes') : optional(ctx, 3) && hostInts(ctx.inputs[3], 'axes')) ||
    starts.map((_, i) => i);
  const steps =
    (ctx.opset >= 10 && optional(ctx, 4) && hostInts(ctx.inputs[4], 'steps')) || starts.map(() => 1);
  const begin = shape.map(() => 0);
  const end = [...shape];
  const stride = shape.map(() => 1);
  let endMask = 0;
  axes.forEach((rawAxis, i) => {
    const axis = normAxis(rawAxis, shape.length);
    const dim = shape[axis];
    const step = steps[i];
    const clampIndex = (x: number, lo: number, hi: number) => Math.min(Math.max(x < 0 ? x + dim : x, lo), hi);
    if (step > 0) {
      begin[axis] = clampIndex(starts[i], 0, dim);
      end[axis] = clampIndex(ends[i], 0, dim);
    } else {
      begin[axis] = clampIndex(starts[i], 0, dim - 1);
      const e = ends[i] < -dim ? -1 : clampIndex(ends[i], -1, dim - 1);
      if (e < 0) endMask |= 1 << axis;
      end[axis] = e;
    }
    stride[axis] = step;
  });
  if (v.kind === 'host' && shape.length === 1) {
    const out: number[] = [];
    const stop = endMask & 1 ? -1 : end[0];
    for (let i = begin[0]; stride[0] > 0 ? i < stop : i > stop; i += stride[0]) out.push(v.data[i]);
    return [hostValue(out, [out.length], v.elemType)];
  }
  // tf.slice for unit steps and tf.gather for the others: tfjs has no StridedSlice gradient.
  let r = asTensor(v);
  const unit = stride.every((st) => st === 1);
  if (unit)
    r = tf.slice(
      r,
      begin,
      end.map((e, i) => Math.max(0, e - begin[i]!)),
    );
  else
    stride.forEach((st, axis) => {
      const stop = endMask & (1 << axis) ? -1 : end[axis]!;
      const picked: number[] = [];
      for (let i = begin[axis]!; st > 0 ? i < stop : i > stop; i += st) picked.push(i);
      if (st === 1 && picked.length === shape[axis]) return;
      r = tf.gather(r, tf.tensor1d(picked, 'int32'), axis);
    });
  if (v.kind === 'host') return [hostValue(Array.from(r.dataSync()), r.shape, v.elemType)];
  return [tensorValue(r)];
};

const gather: OpTranslation = (ctx) => {
  const data = input(ctx, 0);
  const indices = input(ctx, 1);
  const shape = onnxShape(data);
  const axis = normAxis(ctx.node.attrInt('axis', 0), shape.length);
  if (data.kind === 'host' && indices.kind === 'host') {
    const r = hostGather(data.data, data.shape, indices.data, indices.shape, axis);
    return [hostValue(r.data, r.shape, data.elemType)];
  }
  const idx = hostInts(indices, 'Gather indices').map((i) => (i < 0 ? i + shape[axis] : i));
  const idxShape = onnxShape(indices);
  const flat = tf.gather(asTensor(data), tf.tensor1d(idx, 'int32'), axis);
  const target = [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)];
  return [tensorValue(flat.reshape(target))];
};

const shapeOp: OpTranslation = (ctx) => {
  const shape = onnxShape(input(ctx, 0));
  const rank = shape.length;
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + rank : x, 0), rank);
  const start = clamp(ctx.node.attrInt('start', 0));
  const end = clamp(ctx.node.attribute('end') ? ctx.node.attrInt('end', rank) : rank);
  const dims = shape.slice(start, end);
  return [hostValue(dims, [dims.length], DataType.INT64)];
};

const cast: OpTranslation = (ctx) => {
  const v = input(ctx, 0);
  const to = ctx.node.attrInt('to', DataType.FLOAT);
  if (v.kind === 'host') {
    const data = isFloatType(to) ? v.data : v.data.map((x) => Math.trunc(x));
    return [hostValue(data, v.shape, to)];
  }
  if (isFloatType(to)) return [v];
  // Float data turned into integers (rare in the trainable part): it leaves autodiff here.
  return [hostValue(Array.from(asTensor(v).dataSync(), Math.trunc), onnxShape(v), to)];
};

const expand: OpTranslation = (ctx) => {
  const t = tensorIn(ctx, 0);
  const target = hostInts(ctx.inputs[1], 'Expand shape');
  const rank = Math.max(t.rank, target.length);
  const a = [...new Array<number>(rank - t.rank).fill(1), ...t.shape];
  const b = [...new Array<number>(rank - target.length).fill(1), ...target];
  return [
    tensorValue(
      tf.broadcastTo(
        t.reshape(a),
        a.map((d, i) => Math.max(d, b[i])),
      ),
    ),
  ];
};

const tile: OpTranslation = (ctx) => [
  tensorValue(tf.tile(tensorIn(ctx, 0), hostInts(ctx.inputs[1], 'repeats'))),
];

const pad: OpTranslation = (ctx) => {
  const { node } = ctx;
  const t = tensorIn(ctx, 0);
  const pads = ctx.opset < 11 ? (node.attrInts('pads') ?? []) : hostInts(ctx.inputs[1], 'pads');
  const constant =
    ctx.opset < 11
      ? node.attrFloat('value', 0)
      : (hostFloats(optional(ctx, 2), ctx, 'constant_value')?.[0] ?? 0);
  const axes = ctx.opset >= 18 && optional(ctx, 3) ? hostInts(ctx.inputs[3], 'axes') : undefined;
  const rank = t.rank;
  const paddings: [number, number][] = t.shape.map(() => [0, 0]);
  const list = axes ? axes.map((a) => normAxis(a, rank)) : [...Array(rank).keys()];
  list.forEach((axis, i) => (paddings[axis] = [pads[i], pads[i + list.length]]));
  if (paddings.some(([b, e]) => b < 0 || e < 0))
    throw new TranslationError(node, 'negative pads are not supported');
  const mode = node.attrString('mode', 'constant');
  if (mode === 'constant') return [tensorValue(tf.pad(t, paddings, constant))];
  if (mode !== 'reflect' && mode !== 'edge')
    throw new TranslationError(node, `pad mode "${mode}" is not supported`);
  // Built from slices, reversals and concatenation, whose gradients are exact (tfjs's mirrorPad
  // gradient disagreed with finite differences here).
  let y = t;
  paddings.forEach(([before, after], axis) => {
    if (!before && !after) return;
    const size = y.shape[axis]!;
    const take = (start: number, count: number) => {
      const begin = y.shape.map(() => 0);
      begin[axis] = start;
      const extent = [...y.shape];
      extent[axis] = count;
      return tf.slice(y, begin, extent);
    };
    const repeat = (part: tf.Tensor, times: number) =>
      tf.tile(
        part,
        y.shape.map((_, i) => (i === axis ? times : 1)),
      );
    if (mode === 'reflect' && (before >= size || after >= size))
      throw new TranslationError(
        node,
        `reflect pads of ${Math.max(before, after)} exceed the dimension ${size}`,
      );
    const head = mode === 'edge' ? repeat(take(0, 1), before) : tf.reverse(take(1, before), axis);
    const tail =
      mode === 'edge' ? repeat(take(size - 1, 1), after) : tf.reverse(take(size - 1 - after, after), axis);
    y = tf.concat([...(before ? [head] : []), y, ...(after ? [tail] : [])], axis);
  });
  return [tensorValue(y)];
};

interface InterpolationOptions {
  linear: boolean;
  coords: string;
  nearest: string;
}

/** Row r holds the weights of the input cells that make output cell r (ONNX Resize semantics). */
export function interpolationMatrix(
  inSize: number,
  outSize: number,
  scale: number,
  o: InterpolationOptions,
): Float32Array {
  const m = new Float32Array(outSize * inSize);
  for (let r = 0; r < outSize; r++) {
    let x: number;
    switch (o.coords) {
      case 'align_corners':
        x = outSize === 1 ? 0 : (r * (inSize - 1)) / (outSize - 1);
        break;
      case 'asymmetric':
        x = r / scale;
        break;
      case 'pytorch_half_pixel':
        x = outSize > 1 ? (r + 0.5) / scale - 0.5 : 0;
        break;
      case 'tf_half_pixel_for_nn':
        x = (r + 0.5) / scale;
        break;
      default:
        x = (r + 0.5) / scale - 0.5;
    }
    if (o.linear) {
      const clamped = Math.min(Math.max(x, 0), inSize - 1);
      const i0 = Math.floor(clamped);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const w1 = clamped - i0;
      m[r * inSize + i0] += 1 - w1;
      m[r * inSize + i1] += w1;
    } else {
      let i: number;
      if (o.nearest === 'floor') i = Math.floor(x);
      else if (o.nearest === 'ceil') i = Math.ceil(x);
      else if (o.nearest === 'round_prefer_ceil') i = Math.round(x);
      else i = x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x);
      m[r * inSize + Math.min(Math.max(i, 0), inSize - 1)] = 1;
    }
  }
  return m;
}

function resizeWith(ctx: OpContext, scales: number[] | undefined, sizes: number[] | undefined): Value[] {
  const { node } = ctx;
  const xv = input(ctx, 0);
  const shape = onnxShape(xv);
  if (shape.length !== 4) throw new TranslationError(node, 'only 4-D (NCHW) Resize is supported');
  let outH: number;
  let outW: number;
  if (sizes && sizes.length) [outH, outW] = sizes.slice(-2);
  else if (scales && scales.length) {
    if (scales[0] !== 1 || scales[1] !== 1)
      throw new TranslationError(node, 'only spatial scaling is supported');
    outH = Math.floor(shape[2] * scales[2]);
    outW = Math.floor(shape[3] * scales[3]);
  } else throw new TranslationError(node, 'needs scales or sizes');
  const mode = node.attrString('mode', 'nearest');
  if (mode !== 'nearest' && mode !== 'linear' && mode !== 'bilinear')
    throw new TranslationError(node, `resize mode "${mode}" is not supported`);
  const options: InterpolationOptions = {
    linear: mode !== 'nearest',
    coords: node.attrString('coordinate_transformation_mode', ctx.opset < 11 ? 'asymmetric' : 'half_pixel'),
    nearest: node.attrString('nearest_mode', 'round_prefer_floor'),
  };
  const scaleH = scales?.length ? scales[2]! : outH / shape[2]!;
  const scaleW = scales?.length ? scales[3]! : outW / shape[3]!;
  // Resizing is linear in the input: one matrix per axis reproduces onnxruntime's coordinate rules
  // exactly, and matrix products have exact gradients.
  const rowsH = tf.tensor2d(interpolationMatrix(shape[2]!, outH, scaleH, options), [outH, shape[2]!]);
  const rowsW = tf.tensor2d(interpolationMatrix(shape[3]!, outW, scaleW, options), [outW, shape[3]!]);
  const x = asNhwc(xv);
  const [n, h, w, c] = x.shape;
  const alongH = tf.matMul(tf.transpose(x, [0, 2, 3, 1]).reshape([-1, h]), rowsH, false, true);
  const hDone = tf.transpose(alongH.reshape([n, w, c, outH]), [0, 3, 1, 2]);
  const alongW = tf.matMul(tf.transpose(hDone, [0, 1, 3, 2]).reshape([-1, w]), rowsW, false, true);
  const y = tf.transpose(alongW.reshape([n, outH, c, outW]), [0, 1, 3, 2]);
  return [tensorValue(y, true)];
}

const resize: OpTranslation = (ctx) => {
  if (ctx.opset < 11) return resizeWith(ctx, hostFloats(optional(ctx, 1), ctx, 'scales'), undefined);
  return resizeWith(
    ctx,
    hostFloats(optional(ctx, 2), ctx, 'scales'),
    optional(ctx, 3) ? hostInts(ctx.inputs[3], 'sizes') : undefined,
  );
};

const upsample: OpTranslation = (ctx) =>
  resizeWith(
    ctx,
    ctx.node.attribute('scales')?.floats ?? hostFloats(optional(ctx, 1), ctx, 'scales'),
    undefined,
  );

function softmaxLike(f: (t: tf.Tensor) => tf.Tensor): OpTranslation {
  return (ctx) => {
    const t = tensorIn(ctx, 0);
    const axis = normAxis(ctx.node.attrInt('axis', ctx.opset < 13 ? 1 : -1), t.rank);
    if (ctx.opset < 13) {
      // Before opset 13 the input is coerced to 2-D at `axis`.
      const outer = t.shape.slice(0, axis).reduce((p, d) => p * d, 1);
      return [tensorValue(f(t.reshape([outer, -1])).reshape(t.shape))];
    }
    if (axis === t.rank - 1) return [tensorValue(f(t))];
    const perm = [...Array(t.rank).keys()];
    perm[axis] = t.rank - 1;
    perm[t.rank - 1] = axis;
    return [tensorValue(tf.transpose(f(tf.transpose(t, perm)), perm))];
  };
}

function reduce(
  f: (t: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor,
  axesInputFrom: number,
): OpTranslation {
  return (ctx) => {
    const t = tensorIn(ctx, 0);
    const keep = ctx.node.attrInt('keepdims', 1) === 1;
    const fromInput = ctx.opset >= axesInputFrom;
    const axes = fromInput
      ? optional(ctx, 1)
        ? hostInts(ctx.inputs[1], 'axes')
        : undefined
      : ctx.node.attrInts('axes');
    if (axes && axes.length === 0 && ctx.node.attrInt('noop_with_empty_axes', 0) === 1)
      return [tensorValue(t)];
    const list = axes && axes.length ? axes.map((a) => normAxis(a, t.rank)) : [...Array(t.rank).keys()];
    return [tensorValue(f(t, list, keep))];
  };
}

const clip: OpTranslation = (ctx) => {
  const { node } = ctx;
  const lo =
    ctx.opset < 11
      ? node.attrFloat('min', -3.4e38)
      : (hostFloats(optional(ctx, 1), ctx, 'min')?.[0] ?? -3.4e38);
  const hi =
    ctx.opset < 11
      ? node.attrFloat('max', 3.4e38)
      : (hostFloats(optional(ctx, 2), ctx, 'max')?.[0] ?? 3.4e38);
  return unary((t) => (lo === 0 && hi === 6 ? tf.relu6(t) : tf.clipByValue(t, lo, hi)))(ctx);
};

const constantOfShape: OpTranslation = (ctx) => {
  const shape = hostInts(ctx.inputs[0], 'ConstantOfShape shape');
  const value = ctx.node.attribute('value')?.t;
  const elemType = value?.dataType ?? DataType.FLOAT;
  const fill = value ? Number(tensorScalar(value)) : 0;
  if (!isFloatType(elemType)) {
    const count = shape.reduce((p, d) => p * d, 1);
    return [hostValue(new Array<number>(count).fill(fill), shape, elemType)];
  }
  return [tensorValue(tf.fill(shape, fill))];
};

function tensorScalar(t: import('../onnx/proto/onnx_pb').TensorProto): number {
  if (t.floatData.length) return t.floatData[0];
  if (t.int64Data.length) return Number(t.int64Data[0]);
  if (t.int32Data.length) return t.int32Data[0];
  if (t.doubleData.length) return t.doubleData[0];
  const raw = t.rawData;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (t.dataType) {
    case DataType.FLOAT:
      return view.getFloat32(0, true);
    case DataType.INT64:
      return Number(view.getBigInt64(0, true));
    case DataType.INT32:
      return view.getInt32(0, true);
    case DataType.DOUBLE:
      return view.getFloat64(0, true);
    default:
      return raw[0] ?? 0;
  }
}

const hardSigmoidOf = (t: tf.Tensor, alpha: number, beta: number) =>
  tf.clipByValue(tf.add(tf.mul(t, alpha), beta), 0, 1);

/** x for x > 0, α·(e^x − 1) below; built from ops that all have gradients (tf.where's condition has none). */
function scaledElu(t: tf.Tensor, alpha: number): tf.Tensor {
  const negative = tf.neg(tf.relu(tf.neg(t)));
  return tf.add(tf.relu(t), tf.mul(tf.elu(negative), alpha));
}

const identity: OpTranslation = (ctx) => [input(ctx, 0)];

/** The operators the training engine translates, by ONNX op type (default domain). */
export const OP_TRANSLATIONS: Readonly<Record<string, OpTranslation>> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: (ctx) => [tensorValue(matMul2(tensorIn(ctx, 0), tensorIn(ctx, 1)))],
  Add: binary(tf.add, (x, y) => x + y),
  Sub: binary(tf.sub, (x, y) => x - y),
  Mul: binary(tf.mul, (x, y) => x * y),
  Div: binary(tf.div, (x, y) => Math.trunc(x / y)),
  Pow: binary(tf.pow),
  Max: variadic(tf.maximum),
  Min: variadic(tf.minimum),
  Sum: variadic(tf.add),
  Mean: variadic(tf.add, (t, n) => tf.div(t, n)),
  Relu: unary(tf.relu),
  LeakyRelu: unary((t, n) => tf.leakyRelu(t, n.attrFloat('alpha', 0.01))),
  PRelu: binary((x, slope) => tf.prelu(x, slope)),
  Elu: unary((t, n) => scaledElu(t, n.attrFloat('alpha', 1))),
  Selu: unary((t, n) =>
    tf.mul(
      scaledElu(t, n.attrFloat('alpha', 1.67326319217681884765625)),
      n.attrFloat('gamma', 1.05070102214813232421875),
    ),
  ),
  Sigmoid: unary(tf.sigmoid),
  HardSigmoid: unary((t, n) => hardSigmoidOf(t, n.attrFloat('alpha', 0.2), n.attrFloat('beta', 0.5))),
  HardSwish: unary((t) => tf.mul(t, hardSigmoidOf(t, 1 / 6, 0.5))),
  Tanh: unary(tf.tanh),
  Softplus: unary(tf.softplus),
  Erf: unary(tf.erf),
  Gelu: unary((t, n) =>
    n.attrString('approximate', 'none') === 'tanh'
      ? tf.mul(
          tf.mul(t, 0.5),
          tf.add(1, tf.tanh(tf.mul(tf.add(t, tf.mul(tf.pow(t, 3), 0.044715)), Math.sqrt(2 / Math.PI)))),
        )
      : tf.mul(tf.mul(t, 0.5), tf.add(1, tf.erf(tf.div(t, Math.SQRT2)))),
  ),
  Exp: unary(tf.exp),
  Log: unary(tf.log),
  Sqrt: unary(tf.sqrt),
  Neg: unary(tf.neg),
  Abs: unary(tf.abs),
  Reciprocal: unary(tf.reciprocal),
  Clip: clip,
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNormalization,
  LRN: lrn,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalPool('avg'),
  GlobalMaxPool: globalPool('max'),
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  Shape: shapeOp,
  Cast: cast,
  Expand: expand,
  Tile: tile,
  Pad: pad,
  Resize: resize,
  Upsample: upsample,
  Softmax: softmaxLike((t) => tf.softmax(t)),
  LogSoftmax: softmaxLike((t) => tf.logSoftmax(t)),
  ReduceMean: reduce((t, a, k) => tf.mean(t, a, k), 18),
  ReduceSum: reduce((t, a, k) => tf.sum(t, a, k), 13),
  ReduceMax: reduce((t, a, k) => tf.max(t, a, k), 18),
  ReduceMin: reduce((t, a, k) => tf.min(t, a, k), 18),
  ConstantOfShape: constantOfShape,
  Identity: identity,
  // Dropout is the identity at inference; training the exported graph keeps it so (the model's own
  // regularisation is not reproduced, which only makes fine-tuning slightly less regularised).
  Dropout: identity,
};

export { tensorScalar };
