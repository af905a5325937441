import * as ort from 'onnxruntime-node';
import type { TensorProto } from '../proto/onnx_pb';
import { DataType, dtypeInfo } from '../dtype';
import { elementCount, halfToFloat, tensorArray, tensorBytes, tensorToFloat64 } from '../tensor';

/** A tensor whose element type onnxruntime's JavaScript API cannot hold (bfloat16, float8, complex, ...). */
export class UnsupportedOrtTypeError extends Error {
  override name = 'UnsupportedOrtTypeError';
}

const utf8 = new TextDecoder();

/**
 * An onnxruntime-node tensor holding the same elements as a TensorProto, whatever field stores them
 * (raw_data or the typed fields); strings become JS strings, int4/uint4 stay packed as ort expects.
 */
export function toOrtTensor(t: TensorProto): ort.Tensor {
  const info = dtypeInfo(t.dataType);
  const dims = t.dims.map(Number);
  if (!info.ort)
    throw new UnsupportedOrtTypeError(`element type ${info.name} has no onnxruntime-js tensor type`);
  if (t.dataType === DataType.STRING)
    return new ort.Tensor(
      'string',
      t.stringData.map((s) => utf8.decode(s)),
      dims,
    );
  if (t.dataType === DataType.INT4 || t.dataType === DataType.UINT4) {
    const bytes = tensorBytes(t).slice();
    return t.dataType === DataType.INT4
      ? new ort.Tensor('int4', new Int8Array(bytes.buffer), dims)
      : new ort.Tensor('uint4', bytes, dims);
  }
  // A copy, so the tensor owns an aligned buffer of exactly its own elements.
  const data = tensorArray(t).slice();
  return new ort.Tensor(
    info.ort as keyof ort.Tensor.DataTypeMap,
    data as ort.Tensor.DataTypeMap['float32'],
    dims,
  );
}

/** How two tensors differ, or undefined when they match within tolerance. */
export function tensorMismatch(
  expected: TensorProto,
  actual: ort.Tensor,
  tolerance: { rtol: number; atol: number } = { rtol: 1e-3, atol: 1e-5 },
): string | undefined {
  const info = dtypeInfo(expected.dataType);
  if (info.ort !== actual.type) return `type ${actual.type}, expected ${info.ort ?? info.name}`;
  const dims = expected.dims.map(Number);
  if (dims.length !== actual.dims.length || dims.some((d, i) => d !== actual.dims[i]))
    return `shape [${actual.dims.join(',')}], expected [${dims.join(',')}]`;
  const count = elementCount(dims);
  if (expected.dataType === DataType.STRING) {
    const want = expected.stringData.map((s) => utf8.decode(s));
    const got = actual.data as string[];
    const i = want.findIndex((w, k) => w !== got[k]);
    return i < 0 ? undefined : `element ${i}: "${got[i]}", expected "${want[i]}"`;
  }
  if (expected.dataType === DataType.INT64 || expected.dataType === DataType.UINT64) {
    const want = tensorArray(expected) as BigInt64Array | BigUint64Array;
    const got = actual.data as BigInt64Array | BigUint64Array;
    for (let i = 0; i < count; i++)
      if (want[i] !== got[i]) return `element ${i}: ${got[i]}, expected ${want[i]}`;
    return undefined;
  }
  // Integers and booleans must match exactly; floats within tolerance, NaN matching NaN.
  const { rtol, atol } = info.float ? tolerance : { rtol: 0, atol: 0 };
  const want = tensorToFloat64(expected);
  const raw = actual.data as ArrayLike<number>;
  const got = (k: number) => (actual.type === 'float16' ? halfToFloat(raw[k]) : Number(raw[k]));
  let worst: { i: number; excess: number } | undefined;
  for (let i = 0; i < count; i++) {
    const a = got(i);
    const e = want[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (!worst || !(excess <= worst.excess))) worst = { i, excess };
  }
  if (!worst) return undefined;
  let scale = 0;
  for (const v of want) if (Math.abs(v) > scale) scale = Math.abs(v);
  return `element ${worst.i}: ${got(worst.i)}, expected ${want[worst.i]} (rtol ${rtol}, atol ${atol}; largest |expected| ${scale})`;
}
