import * as tf from '@tensorflow/tfjs';

/**
 * A value flowing through the translated graph.
 *
 * Float data lives in tfjs tensors. A rank-4 tensor may be held channels-last (`nhwc`) while its ONNX
 * shape is NCHW: tfjs convolutions, pooling and resizing want NHWC, and keeping Conv→BN→Relu→Pool
 * chains in that layout avoids a transpose pair around every layer.
 *
 * Integer tensors (shapes, indices, axes) stay on the host as plain numbers, so PyTorch's
 * Shape→Gather→Concat→Reshape chains are computed in JavaScript without a GPU read-back, and the
 * batch dimension can change from one batch to the next.
 */
export type Value = TensorValue | HostValue;

export interface TensorValue {
  kind: 'tensor';
  t: tf.Tensor;
  /** True when `t` is the NHWC transpose of the NCHW value ONNX describes. */
  nhwc: boolean;
}

export interface HostValue {
  kind: 'host';
  data: number[];
  shape: number[];
  /** ONNX element type, kept so Cast and outputs know what the integers were. */
  elemType: number;
}

export const toNhwcPerm = [0, 2, 3, 1];
export const toNchwPerm = [0, 3, 1, 2];

export function tensorValue(t: tf.Tensor, nhwc = false): TensorValue {
  return { kind: 'tensor', t, nhwc: nhwc && t.rank === 4 };
}

export function hostValue(data: number[], shape: number[], elemType: number): HostValue {
  return { kind: 'host', data, shape, elemType };
}

/** The ONNX (NCHW) shape of a value. */
export function onnxShape(v: Value): number[] {
  if (v.kind === 'host') return v.shape;
  const s = v.t.shape;
  return v.nhwc ? [s[0]!, s[3]!, s[1]!, s[2]!] : [...s];
}

/** The value as a tensor in ONNX layout. */
export function asTensor(v: Value): tf.Tensor {
  if (v.kind === 'host') return tf.tensor(v.data, v.shape, isFloatType(v.elemType) ? 'float32' : 'int32');
  return v.nhwc ? tf.transpose(v.t, toNchwPerm) : v.t;
}

/** A rank-4 value as an NHWC tensor. */
export function asNhwc(v: Value): tf.Tensor4D {
  if (v.kind === 'tensor' && v.nhwc) return v.t as tf.Tensor4D;
  const t = asTensor(v);
  if (t.rank !== 4) throw new Error(`expected a 4-D tensor, got shape [${t.shape.join(', ')}]`);
  return tf.transpose(t, toNhwcPerm) as tf.Tensor4D;
}

/** The integers of a host value; a small float or int tensor is read back when it must be. */
export function hostInts(v: Value | undefined, what: string): number[] {
  if (!v) throw new Error(`${what} is missing`);
  if (v.kind === 'host') return v.data;
  if (v.t.size > 64) throw new Error(`${what} must be a constant list of integers`);
  return Array.from(asTensor(v).dataSync(), (x) => Math.trunc(x));
}

const FLOAT_TYPES = new Set([1, 10, 11, 16]);

export function isFloatType(elemType: number): boolean {
  return FLOAT_TYPES.has(elemType);
}
