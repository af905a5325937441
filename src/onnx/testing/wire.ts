import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** A step into a serialized message: the `index`-th occurrence of length-delimited field `field`. */
export interface FieldStep {
  field: number;
  index?: number;
}

/**
 * Append serialized field bytes to the message found by following `path` from the top-level message,
 * re-writing every enclosing length prefix. The rest of the bytes are copied unchanged, so this is how
 * a newer writer's unknown field would appear inside a nested message.
 */
export function appendToMessage(
  bytes: Uint8Array,
  path: readonly FieldStep[],
  extra: Uint8Array,
): Uint8Array {
  if (path.length === 0) {
    const out = new Uint8Array(bytes.byteLength + extra.byteLength);
    out.set(bytes);
    out.set(extra, bytes.byteLength);
    return out;
  }
  const [step, ...rest] = path;
  const reader = new BinaryReader(bytes);
  const writer = new BinaryWriter();
  const seen = new Map<number, number>();
  let found = false;
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [field, wireType] = reader.tag();
    const k = seen.get(field) ?? 0;
    seen.set(field, k + 1);
    if (field === step.field && k === (step.index ?? 0) && wireType === WireType.LengthDelimited) {
      writer.tag(field, wireType).bytes(appendToMessage(reader.bytes(), rest, extra));
      found = true;
    } else {
      reader.skip(wireType, field);
      writer.raw(bytes.subarray(start, reader.pos));
    }
  }
  if (!found) throw new Error(`no occurrence ${step.index ?? 0} of field ${step.field} in the message`);
  return writer.finish();
}

/** Serialized fields with numbers no ONNX message uses, one of each wire type a newer writer might add. */
export function unknownFields(seed: number): Uint8Array {
  const w = new BinaryWriter();
  w.tag(9000 + seed, WireType.Varint).int64(-1234567890123n - BigInt(seed));
  w.tag(9100 + seed, WireType.LengthDelimited).string(`future field ${seed}`);
  w.tag(9200 + seed, WireType.Bit32).fixed32(0xdeadbeef);
  w.tag(9300 + seed, WireType.Bit64).fixed64(0x0123456789abcdefn);
  return w.finish();
}

/** Whether `needle` occurs in `haystack` (to find a field's bytes in an encoding). */
export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  return (
    Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(Buffer.from(needle)) >= 0
  );
}
