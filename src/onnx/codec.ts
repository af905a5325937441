import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { type ModelProto, ModelProtoSchema, type TensorProto, TensorProtoSchema } from './proto/onnx_pb';

/** A file that is not a readable ONNX model; `message` says what it is instead, in plain words. */
export class OnnxFormatError extends Error {
  override name = 'OnnxFormatError';
}

const signatures: { test: (b: Uint8Array) => boolean; what: string }[] = [
  { test: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47]), what: 'a PNG image' },
  { test: (b) => startsWith(b, [0xff, 0xd8, 0xff]), what: 'a JPEG image' },
  { test: (b) => startsWith(b, [0x47, 0x49, 0x46, 0x38]), what: 'a GIF image' },
  { test: (b) => startsWith(b, [0x25, 0x50, 0x44, 0x46]), what: 'a PDF document' },
  { test: (b) => startsWith(b, [0x50, 0x4b, 0x03, 0x04]), what: 'a ZIP archive (unzip it first)' },
  { test: (b) => startsWith(b, [0x1f, 0x8b]), what: 'a gzip-compressed file (decompress it first)' },
  { test: (b) => startsWith(b, [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]), what: 'a NumPy .npy array' },
  { test: (b) => ascii(b, 4, 4) === 'TFL3', what: 'a TensorFlow Lite model' },
  { test: (b) => startsWith(b, [0x89, 0x48, 0x44, 0x46]), what: 'an HDF5 file (Keras .h5)' },
  { test: (b) => ascii(b, 0, 5) === 'ORTM' || ascii(b, 4, 4) === 'ORTM', what: 'an ORT-format model (.ort)' },
  { test: (b) => b[0] === 0x7b || b[0] === 0x5b, what: 'a JSON/text file' },
  { test: (b) => b[0] === 0x80 && (b[1] ?? 0) <= 5, what: 'a Python pickle (a PyTorch checkpoint?)' },
];

function startsWith(b: Uint8Array, magic: number[]): boolean {
  return b.length >= magic.length && magic.every((m, i) => b[i] === m);
}
function ascii(b: Uint8Array, at: number, n: number): string {
  return b.length >= at + n ? String.fromCharCode(...b.subarray(at, at + n)) : '';
}

/**
 * Recognise what a file is from its first bytes, before decoding it. Returns a description when the
 * bytes are clearly not an ONNX model, undefined when they may be one.
 */
export function sniffNotOnnx(bytes: Uint8Array): string | undefined {
  if (bytes.byteLength === 0) return 'The file is empty (0 bytes).';
  for (const s of signatures) if (s.test(bytes)) return `This is ${s.what}, not an ONNX model.`;
  // A ModelProto starts with a field tag; ONNX writers emit ir_version (field 1, varint: 0x08) first,
  // but any valid tag of a ModelProto field is accepted.
  const fieldNumber = bytes[0] >> 3;
  const wireType = bytes[0] & 7;
  const known = new Map([
    [1, 0],
    [2, 2],
    [3, 2],
    [4, 2],
    [5, 0],
    [6, 2],
    [7, 2],
    [8, 2],
  ]);
  if (known.get(fieldNumber) !== wireType && !(bytes[0] & 0x80))
    return 'This file does not start like an ONNX model (protobuf ModelProto); it may be another format.';
  return undefined;
}

/** Decode a ModelProto, with errors that say what is wrong with the file. */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  const not = sniffNotOnnx(bytes);
  if (not) throw new OnnxFormatError(not);
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const truncated = /premature|eof|out of range|bounds/i.test(why);
    throw new OnnxFormatError(
      truncated
        ? `The model file is truncated or corrupt: its protobuf data ends early (${bytes.byteLength} bytes read).`
        : `The file is not a valid ONNX protobuf: ${why}.`,
    );
  }
  if (!model.graph)
    throw new OnnxFormatError('The file decodes as protobuf but contains no graph: not an ONNX model.');
  if (model.irVersion <= 0n)
    throw new OnnxFormatError('The model has no IR version: the file is corrupt or not an ONNX model.');
  if (model.opsetImport.length === 0 && model.irVersion >= 3n)
    throw new OnnxFormatError(
      'The model imports no operator set (opset_import is empty): the file is truncated or corrupt.',
    );
  return model;
}

/** Encode a ModelProto; unknown fields are written back as they were read. */
export function encodeModelProto(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model, { writeUnknownFields: true });
}

/** Decode a serialized TensorProto (the `.pb` files of ONNX test data). */
export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  try {
    return fromBinary(TensorProtoSchema, bytes, { readUnknownFields: true });
  } catch (e) {
    throw new OnnxFormatError(`Not a valid TensorProto: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function encodeTensorProto(t: TensorProto): Uint8Array {
  return toBinary(TensorProtoSchema, t, { writeUnknownFields: true });
}
