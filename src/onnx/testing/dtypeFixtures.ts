import { create } from '@bufbuild/protobuf';
import { DataType, allDataTypes, dtypeName } from '../dtype';
import { type TensorProto, TensorProtoSchema } from '../proto/onnx_pb';

/**
 * One tensor per ONNX element type with values chosen at the edges of each format (extremes, signed
 * zero, NaN, infinities, subnormals), given both as raw_data bytes and as the typed field ONNX
 * prescribes for the type, with the values those bits stand for (from the ONNX spec, not from our code).
 */
export interface DTypeFixture {
  dataType: number;
  name: string;
  dims: number[];
  /** raw_data bytes (little-endian, sub-byte types packed low bits first); absent for strings. */
  raw?: Uint8Array;
  /** The same elements in the typed field (float_data, int32_data, ...). */
  typed: Partial<
    Pick<TensorProto, 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data' | 'stringData'>
  >;
  /** What tensorToFloat64 must give (complex: real/imaginary interleaved), or the strings. */
  expected: number[] | string[];
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
const enc = new TextEncoder();

const f32 = [1.5, -2.25, 3.4028234663852886e38, NaN, -0, 1.401298464324817e-45];
const f64 = [Math.PI, -0, Number.MAX_VALUE, 5e-324, NaN, -Infinity];
const i64 = [-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n, 2n ** 53n + 1n];
const u64 = [0n, 1n, 2n ** 64n - 1n, 2n ** 63n];
const half = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3555];
const bf16 = [0x3f80, 0xc000, 0x4049, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x8000];
const strings = ['', 'hello', 'ünïcødé ✓', 'a\u0000b'];

function fixture(
  dataType: number,
  dims: number[],
  raw: Uint8Array | undefined,
  typed: DTypeFixture['typed'],
  expected: number[] | string[],
): DTypeFixture {
  return { dataType, name: dtypeName(dataType), dims, raw, typed, expected };
}

const small = (dataType: number, bytes: number[], expected: number[]) =>
  fixture(dataType, [bytes.length], Uint8Array.from(bytes), { int32Data: bytes }, expected);

/** Fixtures for every element type in dtype.ts `allDataTypes`, in id order. */
export const dtypeFixtures: readonly DTypeFixture[] = [
  fixture(DataType.FLOAT, [2, 3], bytesOf(Float32Array.from(f32)), { floatData: f32 }, f32.map(Math.fround)),
  small(DataType.UINT8, [0, 1, 127, 128, 255], [0, 1, 127, 128, 255]),
  fixture(
    DataType.INT8,
    [5],
    bytesOf(Int8Array.from([-128, -1, 0, 1, 127])),
    { int32Data: [-128, -1, 0, 1, 127] },
    [-128, -1, 0, 1, 127],
  ),
  fixture(
    DataType.UINT16,
    [4],
    bytesOf(Uint16Array.from([0, 1, 32768, 65535])),
    { int32Data: [0, 1, 32768, 65535] },
    [0, 1, 32768, 65535],
  ),
  fixture(
    DataType.INT16,
    [4],
    bytesOf(Int16Array.from([-32768, -1, 0, 32767])),
    { int32Data: [-32768, -1, 0, 32767] },
    [-32768, -1, 0, 32767],
  ),
  fixture(
    DataType.INT32,
    [2, 2],
    bytesOf(Int32Array.from([-2147483648, -1, 0, 2147483647])),
    { int32Data: [-2147483648, -1, 0, 2147483647] },
    [-2147483648, -1, 0, 2147483647],
  ),
  fixture(DataType.INT64, [5], bytesOf(BigInt64Array.from(i64)), { int64Data: i64 }, i64.map(Number)),
  fixture(DataType.STRING, [2, 2], undefined, { stringData: strings.map((s) => enc.encode(s)) }, strings),
  small(DataType.BOOL, [1, 0, 1, 1], [1, 0, 1, 1]),
  fixture(DataType.FLOAT16, [10], bytesOf(Uint16Array.from(half)), { int32Data: half }, [
    1,
    -2,
    65504,
    2 ** -24,
    2 ** -14,
    Infinity,
    -Infinity,
    NaN,
    -0,
    0.333251953125,
  ]),
  fixture(DataType.DOUBLE, [6], bytesOf(Float64Array.from(f64)), { doubleData: f64 }, f64),
  fixture(
    DataType.UINT32,
    [4],
    bytesOf(Uint32Array.from([0, 1, 2147483648, 4294967295])),
    { uint64Data: [0n, 1n, 2147483648n, 4294967295n] },
    [0, 1, 2147483648, 4294967295],
  ),
  fixture(DataType.UINT64, [4], bytesOf(BigUint64Array.from(u64)), { uint64Data: u64 }, u64.map(Number)),
  fixture(
    DataType.COMPLEX64,
    [2],
    bytesOf(Float32Array.from([1.5, -2, 0, 3.25])),
    { floatData: [1.5, -2, 0, 3.25] },
    [1.5, -2, 0, 3.25],
  ),
  fixture(
    DataType.COMPLEX128,
    [2],
    bytesOf(Float64Array.from([Math.E, -1, 1e300, -0])),
    { doubleData: [Math.E, -1, 1e300, -0] },
    [Math.E, -1, 1e300, -0],
  ),
  fixture(DataType.BFLOAT16, [8], bytesOf(Uint16Array.from(bf16)), { int32Data: bf16 }, [
    1,
    -2,
    3.140625,
    Infinity,
    -Infinity,
    NaN,
    2 ** -133,
    -0,
  ]),
  small(
    DataType.FLOAT8E4M3FN,
    [0x38, 0xb8, 0x7e, 0x7f, 0x01, 0x00, 0x80, 0x3c],
    [1, -1, 448, NaN, 2 ** -9, 0, -0, 1.5],
  ),
  small(DataType.FLOAT8E4M3FNUZ, [0x40, 0xc0, 0x7f, 0x80, 0x01, 0x00], [1, -1, 240, NaN, 2 ** -10, 0]),
  small(
    DataType.FLOAT8E5M2,
    [0x3c, 0xbc, 0x7b, 0x7c, 0xfc, 0x7e, 0x01, 0x80],
    [1, -1, 57344, Infinity, -Infinity, NaN, 2 ** -16, -0],
  ),
  small(DataType.FLOAT8E5M2FNUZ, [0x40, 0xc0, 0x7f, 0x80, 0x01, 0x00], [1, -1, 57344, NaN, 2 ** -17, 0]),
  // Sub-byte types: two (4-bit) or four (2-bit) elements per byte, the first in the low bits; an odd
  // count leaves the last byte's high bits as padding.
  fixture(
    DataType.UINT4,
    [5],
    Uint8Array.from([0x21, 0xf8, 0x07]),
    { int32Data: [0x21, 0xf8, 0x07] },
    [1, 2, 8, 15, 7],
  ),
  fixture(
    DataType.INT4,
    [5],
    Uint8Array.from([0x21, 0xf8, 0x07]),
    { int32Data: [0x21, 0xf8, 0x07] },
    [1, 2, -8, -1, 7],
  ),
  fixture(
    DataType.FLOAT4E2M1,
    [6],
    Uint8Array.from([0x71, 0xf9, 0x82]),
    { int32Data: [0x71, 0xf9, 0x82] },
    [0.5, 6, -0.5, -6, 1, -0],
  ),
  small(DataType.FLOAT8E8M0, [0x7f, 0x80, 0x00, 0xfe, 0xff], [1, 2, 2 ** -127, 2 ** 127, NaN]),
  fixture(
    DataType.UINT2,
    [6],
    Uint8Array.from([0xe4, 0x0b]),
    { int32Data: [0xe4, 0x0b] },
    [0, 1, 2, 3, 3, 2],
  ),
  fixture(
    DataType.INT2,
    [6],
    Uint8Array.from([0xe4, 0x0b]),
    { int32Data: [0xe4, 0x0b] },
    [0, 1, -2, -1, -1, -2],
  ),
];

if (dtypeFixtures.map((f) => f.dataType).join() !== allDataTypes.join())
  throw new Error('dtypeFixtures must cover every element type of allDataTypes, in order');

/** The fixture as a TensorProto storing its elements in raw_data. */
export function rawTensor(f: DTypeFixture, name = `raw_${f.name}`): TensorProto {
  if (!f.raw) throw new Error(`${f.name} has no raw_data form`);
  return create(TensorProtoSchema, { name, dataType: f.dataType, dims: f.dims.map(BigInt), rawData: f.raw });
}

/** The fixture as a TensorProto storing its elements in the typed field. */
export function typedTensor(f: DTypeFixture, name = `typed_${f.name}`): TensorProto {
  return create(TensorProtoSchema, { name, dataType: f.dataType, dims: f.dims.map(BigInt), ...f.typed });
}
