/** ONNX element types (TensorProto.DataType) and what Whittle knows about each. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

/** Which repeated field of TensorProto holds this type's values when raw_data is not used. */
export type TypedField = 'floatData' | 'int32Data' | 'stringData' | 'int64Data' | 'doubleData' | 'uint64Data';

export interface DTypeInfo {
  id: number;
  /** Lower-case name as ONNX and onnxruntime print it ('float', 'int8', 'float16', ...). */
  name: string;
  /** Bits per element in raw_data (4 for int4, 0 for string). */
  bits: number;
  /** The typed-array constructor whose elements match raw_data one to one, when one exists. */
  raw?: TypedArrayConstructor;
  field: TypedField;
  /** onnxruntime's tensor type string, when onnxruntime-js can build such a tensor. */
  ort?: string;
  /** Floating point (including reduced-precision floats). */
  float: boolean;
}

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;
export type TypedArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

const table: DTypeInfo[] = [
  { id: 0, name: 'undefined', bits: 0, field: 'int32Data', float: false },
  { id: 1, name: 'float', bits: 32, raw: Float32Array, field: 'floatData', ort: 'float32', float: true },
  { id: 2, name: 'uint8', bits: 8, raw: Uint8Array, field: 'int32Data', ort: 'uint8', float: false },
  { id: 3, name: 'int8', bits: 8, raw: Int8Array, field: 'int32Data', ort: 'int8', float: false },
  { id: 4, name: 'uint16', bits: 16, raw: Uint16Array, field: 'int32Data', ort: 'uint16', float: false },
  { id: 5, name: 'int16', bits: 16, raw: Int16Array, field: 'int32Data', ort: 'int16', float: false },
  { id: 6, name: 'int32', bits: 32, raw: Int32Array, field: 'int32Data', ort: 'int32', float: false },
  { id: 7, name: 'int64', bits: 64, raw: BigInt64Array, field: 'int64Data', ort: 'int64', float: false },
  { id: 8, name: 'string', bits: 0, field: 'stringData', ort: 'string', float: false },
  { id: 9, name: 'bool', bits: 8, raw: Uint8Array, field: 'int32Data', ort: 'bool', float: false },
  { id: 10, name: 'float16', bits: 16, raw: Uint16Array, field: 'int32Data', ort: 'float16', float: true },
  { id: 11, name: 'double', bits: 64, raw: Float64Array, field: 'doubleData', ort: 'float64', float: true },
  { id: 12, name: 'uint32', bits: 32, raw: Uint32Array, field: 'uint64Data', ort: 'uint32', float: false },
  { id: 13, name: 'uint64', bits: 64, raw: BigUint64Array, field: 'uint64Data', ort: 'uint64', float: false },
  { id: 14, name: 'complex64', bits: 64, raw: Float32Array, field: 'floatData', float: true },
  { id: 15, name: 'complex128', bits: 128, raw: Float64Array, field: 'doubleData', float: true },
  { id: 16, name: 'bfloat16', bits: 16, raw: Uint16Array, field: 'int32Data', float: true },
  { id: 17, name: 'float8e4m3fn', bits: 8, raw: Uint8Array, field: 'int32Data', float: true },
  { id: 18, name: 'float8e4m3fnuz', bits: 8, raw: Uint8Array, field: 'int32Data', float: true },
  { id: 19, name: 'float8e5m2', bits: 8, raw: Uint8Array, field: 'int32Data', float: true },
  { id: 20, name: 'float8e5m2fnuz', bits: 8, raw: Uint8Array, field: 'int32Data', float: true },
  { id: 21, name: 'uint4', bits: 4, field: 'int32Data', ort: 'uint4', float: false },
  { id: 22, name: 'int4', bits: 4, field: 'int32Data', ort: 'int4', float: false },
  { id: 23, name: 'float4e2m1', bits: 4, field: 'int32Data', float: true },
  { id: 24, name: 'float8e8m0', bits: 8, raw: Uint8Array, field: 'int32Data', float: true },
  { id: 25, name: 'uint2', bits: 2, field: 'int32Data', float: false },
  { id: 26, name: 'int2', bits: 2, field: 'int32Data', float: false },
];

/** Information on an element type; unknown ids get a descriptive placeholder rather than a crash. */
export function dtypeInfo(id: number): DTypeInfo {
  return table[id] ?? { id, name: `type${id}`, bits: 0, field: 'int32Data', float: false };
}

export function dtypeName(id: number): string {
  return dtypeInfo(id).name;
}

/** Bytes needed to store `count` elements of this type packed as in raw_data (sub-byte types round up). */
export function byteLength(id: number, count: number): number {
  return Math.ceil((dtypeInfo(id).bits * count) / 8);
}

/** Every element type id ONNX defines, for tests that must cover them all. */
export const allDataTypes: readonly number[] = table.filter((t) => t.id !== 0).map((t) => t.id);
