import type { TypedArray } from '../onnx/dtype';

/** A decoded NumPy array: C-order data in its natural typed array. */
export interface NpyArray {
  dtype: string;
  shape: number[];
  data: TypedArray;
}

export class DataFormatError extends Error {
  override name = 'DataFormatError';
}

const dtypes: Record<
  string,
  { ctor: new (buf: ArrayBuffer, off: number, len: number) => TypedArray; size: number }
> = {
  f4: { ctor: Float32Array, size: 4 },
  f8: { ctor: Float64Array, size: 8 },
  i1: { ctor: Int8Array, size: 1 },
  u1: { ctor: Uint8Array, size: 1 },
  b1: { ctor: Uint8Array, size: 1 },
  i2: { ctor: Int16Array, size: 2 },
  u2: { ctor: Uint16Array, size: 2 },
  i4: { ctor: Int32Array, size: 4 },
  u4: { ctor: Uint32Array, size: 4 },
  i8: { ctor: BigInt64Array, size: 8 },
  u8: { ctor: BigUint64Array, size: 8 },
};

/** Parse a .npy file (format versions 1–3, little-endian numeric dtypes, C order). */
export function parseNpy(bytes: Uint8Array, name = 'array.npy'): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.byteLength < 10 || !magic.every((m, i) => bytes[i] === m))
    throw new DataFormatError(`${name}: not a .npy file (missing the \\x93NUMPY signature)`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined)
    throw new DataFormatError(`${name}: unreadable .npy header`);
  if (fortran === 'True')
    throw new DataFormatError(`${name}: Fortran-order arrays are not supported; save with C order`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const endian = descr[0];
  const code = descr.slice(1);
  const info = dtypes[code];
  if (!info)
    throw new DataFormatError(
      `${name}: dtype '${descr}' is not supported (use float32, float64, int or uint)`,
    );
  if (endian === '>' && info.size > 1) throw new DataFormatError(`${name}: big-endian data is not supported`);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = headerStart + headerLen;
  if (bytes.byteLength - start < count * info.size)
    throw new DataFormatError(
      `${name}: truncated — shape [${shape.join(', ')}] needs ${count * info.size} bytes of data, the file has ${bytes.byteLength - start}`,
    );
  const offset = bytes.byteOffset + start;
  const data =
    offset % info.size === 0
      ? new info.ctor(bytes.buffer as ArrayBuffer, offset, count)
      : new info.ctor(bytes.slice(start, start + count * info.size).buffer, 0, count);
  return { dtype: descr, shape, data };
}

/** Write a .npy file (version 1.0) for a typed array of the given shape. */
export function writeNpy(data: TypedArray, shape: readonly number[]): Uint8Array {
  const descr = npyDescr(data);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

function npyDescr(a: TypedArray): string {
  if (a instanceof Float32Array) return '<f4';
  if (a instanceof Float64Array) return '<f8';
  if (a instanceof Int8Array) return '|i1';
  if (a instanceof Uint8Array) return '|u1';
  if (a instanceof Int16Array) return '<i2';
  if (a instanceof Uint16Array) return '<u2';
  if (a instanceof Int32Array) return '<i4';
  if (a instanceof Uint32Array) return '<u4';
  if (a instanceof BigInt64Array) return '<i8';
  return '<u8';
}
