import { create } from '@bufbuild/protobuf';
import { type TensorProto, TensorProtoSchema, TensorProto_DataLocation } from './proto/onnx_pb';
import { DataType, byteLength, dtypeInfo, type TypedArray } from './dtype';

/** Files that hold external tensor data, by the `location` their tensors name. */
export type ExternalFiles = ReadonlyMap<string, Uint8Array>;

export class TensorDataError extends Error {
  override name = 'TensorDataError';
}

export function elementCount(dims: readonly (bigint | number)[]): number {
  let n = 1;
  for (const d of dims) n *= Number(d);
  return n;
}

export function tensorDims(t: TensorProto): number[] {
  return t.dims.map(Number);
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === TensorProto_DataLocation.EXTERNAL;
}

/** The `key` → `value` entries of a tensor's external_data list. */
export function externalInfo(t: TensorProto): { location: string; offset: number; length?: number } {
  const get = (k: string) => t.externalData.find((e) => e.key === k)?.value;
  const location = get('location');
  if (!location) throw new TensorDataError(`tensor "${t.name}" is marked external but names no location`);
  const offset = Number(get('offset') ?? 0);
  const len = get('length');
  return { location, offset, length: len === undefined ? undefined : Number(len) };
}

/**
 * The tensor's bytes in raw_data layout (little-endian, sub-byte types packed), without copying when
 * the tensor stores raw_data or external data. Typed fields are packed into a new buffer.
 */
export function tensorBytes(t: TensorProto, external?: ExternalFiles): Uint8Array {
  if (isExternal(t)) {
    const { location, offset, length } = externalInfo(t);
    const file = external?.get(location) ?? external?.get(location.split('/').pop() ?? location);
    if (!file)
      throw new TensorDataError(
        `tensor "${t.name}" stores its data in "${location}", which was not provided (open it together with the model)`,
      );
    const n = length ?? file.byteLength - offset;
    if (offset + n > file.byteLength)
      throw new TensorDataError(
        `tensor "${t.name}" needs bytes ${offset}–${offset + n} of "${location}", which has only ${file.byteLength}`,
      );
    return file.subarray(offset, offset + n);
  }
  if (t.rawData.byteLength > 0 || elementCount(t.dims) === 0) return t.rawData;
  return packTypedFields(t);
}

function packTypedFields(t: TensorProto): Uint8Array {
  const info = dtypeInfo(t.dataType);
  const count = elementCount(t.dims);
  const out = new Uint8Array(byteLength(t.dataType, count));
  const view = new DataView(out.buffer);
  switch (info.field) {
    case 'floatData':
      t.floatData.forEach((v, i) => view.setFloat32(i * 4, v, true));
      break;
    case 'doubleData':
      t.doubleData.forEach((v, i) => view.setFloat64(i * 8, v, true));
      break;
    case 'int64Data':
      t.int64Data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
      break;
    case 'uint64Data':
      if (t.dataType === DataType.UINT32)
        t.uint64Data.forEach((v, i) => view.setUint32(i * 4, Number(v), true));
      else t.uint64Data.forEach((v, i) => view.setBigUint64(i * 8, v, true));
      break;
    case 'int32Data': {
      const bits = info.bits;
      if (bits === 4 || bits === 2) {
        // Sub-byte types store already-packed bytes, one per int32 element.
        t.int32Data.forEach((v, i) => (out[i] = v & 0xff));
      } else if (bits === 8) t.int32Data.forEach((v, i) => view.setUint8(i, v & 0xff));
      else if (bits === 16) t.int32Data.forEach((v, i) => view.setUint16(i * 2, v & 0xffff, true));
      else t.int32Data.forEach((v, i) => view.setInt32(i * 4, v, true));
      break;
    }
    case 'stringData':
      throw new TensorDataError(`tensor "${t.name}" holds strings, which have no byte layout`);
  }
  return out;
}

/**
 * The tensor's elements in their natural typed array (Float32Array for float, Uint16Array bits for
 * float16/bfloat16, BigInt64Array for int64, ...). A view into the file when the bytes are aligned,
 * a copy otherwise. Sub-byte types are not representable this way; use {@link tensorToFloat64}.
 */
export function tensorArray(t: TensorProto, external?: ExternalFiles): TypedArray {
  const info = dtypeInfo(t.dataType);
  if (!info.raw)
    throw new TensorDataError(`tensor "${t.name}" has type ${info.name}, which has no typed array`);
  const bytes = tensorBytes(t, external);
  const size = info.raw.BYTES_PER_ELEMENT;
  const count = Math.floor(bytes.byteLength / size);
  if (bytes.byteOffset % size === 0)
    return new info.raw(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  return new info.raw(bytes.slice(0, count * size).buffer);
}

/** float16 bits → number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** number → float16 bits, rounded once to the nearest float16 (ties to even), as IEEE 754 converts. */
export function floatToHalf(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  // 65520 is halfway between the largest float16 (65504) and 65536: it and above round to infinity.
  if (a >= 65520) return sign | 0x7c00;
  // Subnormals are multiples of 2^-24 (a result of 1024 is the smallest normal, 0x0400).
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // Scaling by powers of two is exact, so the mantissa is rounded exactly once; a carry to 1024
  // moves into the exponent as it should.
  return sign | (((e + 15) << 10) + roundHalfEven((a / 2 ** e - 1) * 1024));
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

function bfloatToFloat(b: number): number {
  return new Float32Array(new Uint32Array([b << 16]).buffer)[0];
}

/**
 * Every element as a float64 number, for statistics and displays (int64 beyond 2^53 loses precision;
 * complex types give interleaved real/imaginary parts). Strings are not numeric and throw.
 */
export function tensorToFloat64(t: TensorProto, external?: ExternalFiles): Float64Array {
  const info = dtypeInfo(t.dataType);
  const count =
    elementCount(t.dims) * (t.dataType === DataType.COMPLEX64 || t.dataType === DataType.COMPLEX128 ? 2 : 1);
  if (info.bits === 4 || info.bits === 2) {
    const bytes = tensorBytes(t, external);
    const out = new Float64Array(count);
    const perByte = 8 / info.bits;
    const mask = (1 << info.bits) - 1;
    const signed = t.dataType === DataType.INT4 || t.dataType === DataType.INT2;
    for (let i = 0; i < count; i++) {
      let v = (bytes[Math.floor(i / perByte)] >> ((i % perByte) * info.bits)) & mask;
      if (signed && v >= 1 << (info.bits - 1)) v -= 1 << info.bits;
      out[i] = t.dataType === DataType.FLOAT4E2M1 ? fp4ToFloat(v) : v;
    }
    return out;
  }
  const arr = tensorArray(t, external);
  const out = new Float64Array(arr.length);
  const float8 = float8Formats[t.dataType];
  if (t.dataType === DataType.FLOAT16)
    for (let i = 0; i < arr.length; i++) out[i] = halfToFloat(Number(arr[i]));
  else if (t.dataType === DataType.BFLOAT16)
    for (let i = 0; i < arr.length; i++) out[i] = bfloatToFloat(Number(arr[i]));
  else if (float8) for (let i = 0; i < arr.length; i++) out[i] = float8ToFloat(Number(arr[i]), float8);
  else if (t.dataType === DataType.FLOAT8E8M0)
    for (let i = 0; i < arr.length; i++) out[i] = e8m0ToFloat(Number(arr[i]));
  else for (let i = 0; i < arr.length; i++) out[i] = Number(arr[i]);
  return out;
}

/**
 * The 8-bit float formats of ONNX (onnx.proto, "Float8 types"): exponent/mantissa widths, bias, and
 * how they encode NaN and infinity. FN: no infinities; UZ: no negative zero, 0x80 is NaN.
 */
interface Float8Format {
  exponentBits: number;
  mantissaBits: number;
  bias: number;
  /** 'ieee': all-ones exponent is inf/NaN; 'fn': only all-ones exponent and mantissa is NaN; 'uz': 0x80 is NaN. */
  special: 'ieee' | 'fn' | 'uz';
}

const float8Formats: Partial<Record<number, Float8Format>> = {
  [DataType.FLOAT8E4M3FN]: { exponentBits: 4, mantissaBits: 3, bias: 7, special: 'fn' },
  [DataType.FLOAT8E4M3FNUZ]: { exponentBits: 4, mantissaBits: 3, bias: 8, special: 'uz' },
  [DataType.FLOAT8E5M2]: { exponentBits: 5, mantissaBits: 2, bias: 15, special: 'ieee' },
  [DataType.FLOAT8E5M2FNUZ]: { exponentBits: 5, mantissaBits: 2, bias: 16, special: 'uz' },
};

/** Decode one float8 byte. */
function float8ToFloat(b: number, f: Float8Format): number {
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >> f.mantissaBits) & ((1 << f.exponentBits) - 1);
  const m = b & ((1 << f.mantissaBits) - 1);
  const maxE = (1 << f.exponentBits) - 1;
  const maxM = (1 << f.mantissaBits) - 1;
  if (f.special === 'uz' && b === 0x80) return NaN;
  if (f.special === 'fn' && e === maxE && m === maxM) return NaN;
  if (f.special === 'ieee' && e === maxE) return m ? NaN : sign * Infinity;
  const scale = 1 << f.mantissaBits;
  if (e === 0) return sign * (m / scale) * 2 ** (1 - f.bias);
  return sign * (1 + m / scale) * 2 ** (e - f.bias);
}

/** float8e8m0: an unsigned exponent with bias 127 (scale factors of the MX formats); 0xff is NaN. */
function e8m0ToFloat(b: number): number {
  return b === 0xff ? NaN : 2 ** (b - 127);
}

function fp4ToFloat(v: number): number {
  const magnitudes = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
  return (v & 8 ? -1 : 1) * magnitudes[v & 7];
}

/** Build a TensorProto whose data sits in raw_data (the compact form every tool reads). */
export function makeTensor(
  name: string,
  dataType: number,
  dims: readonly number[],
  data: TypedArray | Uint8Array | readonly number[],
): TensorProto {
  const info = dtypeInfo(dataType);
  let raw: Uint8Array;
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else {
    if (!info.raw) throw new TensorDataError(`makeTensor: pass packed bytes for ${info.name}`);
    const arr = new info.raw(data.length);
    if (arr instanceof BigInt64Array || arr instanceof BigUint64Array)
      data.forEach((v, i) => (arr[i] = BigInt(v)));
    else data.forEach((v, i) => (arr[i] = Number(v)));
    raw = new Uint8Array(arr.buffer);
  }
  const expected = byteLength(dataType, elementCount(dims));
  if (raw.byteLength !== expected)
    throw new TensorDataError(`makeTensor "${name}": ${raw.byteLength} bytes given, ${expected} expected`);
  return create(TensorProtoSchema, { name, dataType, dims: dims.map(BigInt), rawData: raw });
}

export interface TensorStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  zeros: number;
  /** Fraction of elements that are exactly zero. */
  sparsity: number;
  histogram: { x0: number; x1: number; count: number }[];
}

/** Summary statistics and a histogram of a tensor's values (for the inspector). */
export function tensorStats(values: Float64Array | Float32Array, bins = 40): TensorStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let zeros = 0;
  let finite = 0;
  for (const v of values) {
    if (v === 0) zeros++;
    if (!Number.isFinite(v)) continue;
    finite++;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = finite ? sum / finite : NaN;
  let sq = 0;
  for (const v of values) if (Number.isFinite(v)) sq += (v - mean) ** 2;
  const histogram: TensorStats['histogram'] = [];
  if (finite) {
    const width = max > min ? (max - min) / bins : 1;
    const n = max > min ? bins : 1;
    for (let i = 0; i < n; i++) histogram.push({ x0: min + i * width, x1: min + (i + 1) * width, count: 0 });
    for (const v of values) {
      if (!Number.isFinite(v)) continue;
      const k = Math.min(n - 1, Math.floor((v - min) / width));
      histogram[k].count++;
    }
  }
  return {
    count: values.length,
    min: finite ? min : NaN,
    max: finite ? max : NaN,
    mean,
    std: finite ? Math.sqrt(sq / finite) : NaN,
    zeros,
    sparsity: values.length ? zeros / values.length : 0,
    histogram,
  };
}
