import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeModelProto, encodeTensorProto } from './codec';
import { GraphBuilder } from './builder';
import { DataType, allDataTypes, byteLength, dtypeInfo } from './dtype';
import { TensorProtoSchema, TensorProto_DataLocation } from './proto/onnx_pb';
import {
  elementCount,
  floatToHalf,
  halfToFloat,
  makeTensor,
  tensorArray,
  tensorBytes,
  tensorStats,
  tensorToFloat64,
} from './tensor';
import { dtypeFixtures, rawTensor, typedTensor } from './testing/dtypeFixtures';
import { hasPythonOnnx, pythonDigests, tensorDigest } from './testing/digest';
import { seededRandom } from '../runtime/inputs';

/** Element-wise equality that tells NaN, -0 and +0 apart (toEqual treats -0 and 0 as different too, but prints worse). */
function sameValues(actual: ArrayLike<number>, expected: readonly number[]): string[] {
  const problems: string[] = [];
  if (actual.length !== expected.length)
    problems.push(`length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++)
    if (!Object.is(actual[i], expected[i])) problems.push(`[${i}] ${actual[i]}, expected ${expected[i]}`);
  return problems;
}

describe('tensor element decoding (every ONNX element type, known bit patterns)', () => {
  it('has a fixture for every element type', () => {
    expect(dtypeFixtures.map((f) => f.dataType)).toEqual([...allDataTypes]);
    expect(allDataTypes).toHaveLength(26);
  });

  for (const f of dtypeFixtures) {
    if (f.dataType === DataType.STRING) continue;
    it(`${f.name}: raw_data and the typed field give the spec's values`, () => {
      const raw = rawTensor(f);
      const typed = typedTensor(f);
      expect(sameValues(tensorToFloat64(raw), f.expected as number[])).toEqual([]);
      expect(sameValues(tensorToFloat64(typed), f.expected as number[])).toEqual([]);
      // Typed fields are packed into exactly the raw_data layout.
      expect(Array.from(tensorBytes(typed))).toEqual(Array.from(f.raw!));
      const complex = f.dataType === DataType.COMPLEX64 || f.dataType === DataType.COMPLEX128 ? 2 : 1;
      expect(f.expected).toHaveLength(elementCount(f.dims) * complex);
      expect(f.raw!.byteLength).toBe(byteLength(f.dataType, elementCount(f.dims)));
    });
  }

  it('float16 and bfloat16 decode from their bit patterns', () => {
    const h = (bits: number[]) =>
      Array.from(tensorToFloat64(makeTensor('h', DataType.FLOAT16, [bits.length], Uint16Array.from(bits))));
    expect(h([0x3c00, 0x4000, 0xbc00, 0x7bff, 0x0001, 0x03ff, 0x0400])).toEqual([
      1, 2, -1, 65504, 5.960464477539063e-8, 6.097555160522461e-5, 6.103515625e-5,
    ]);
    const b = (bits: number[]) =>
      Array.from(tensorToFloat64(makeTensor('b', DataType.BFLOAT16, [bits.length], Uint16Array.from(bits))));
    // bfloat16 is the top half of a float32: 0x4049 → 0x40490000 = 3.140625, 0x7f7f → largest finite.
    expect(b([0x4049, 0x7f7f, 0x3c00])).toEqual([3.140625, 3.3895313892515355e38, 0.0078125]);
  });

  it('int4 and uint4 unpack two elements per byte, low nibble first, sign-extending int4', () => {
    const bytes = Uint8Array.from([0x8f, 0x7a]);
    const t = (dt: number) => Array.from(tensorToFloat64(makeTensor('q', dt, [4], bytes)));
    expect(t(DataType.UINT4)).toEqual([15, 8, 10, 7]);
    expect(t(DataType.INT4)).toEqual([-1, -8, -6, 7]);
  });

  it('strings have no numeric view and say so', () => {
    const t = typedTensor(dtypeFixtures.find((f) => f.dataType === DataType.STRING)!);
    expect(() => tensorToFloat64(t)).toThrow(/string/);
    expect(() => tensorBytes(t)).toThrow(/holds strings/);
  });

  it('int64 and uint64 typed arrays keep every bit (tensorArray), numbers only approximate beyond 2^53', () => {
    const f = dtypeFixtures.find((x) => x.dataType === DataType.INT64)!;
    expect(Array.from(tensorArray(typedTensor(f)) as BigInt64Array)).toEqual(f.typed.int64Data);
    const u = dtypeFixtures.find((x) => x.dataType === DataType.UINT64)!;
    expect(Array.from(tensorArray(rawTensor(u)) as BigUint64Array)).toEqual(u.typed.uint64Data);
  });
});

describe('tensor views and helpers', () => {
  it('reads initializer data as a zero-copy view into the file bytes', () => {
    const b = new GraphBuilder();
    b.input('x', DataType.FLOAT, [4]);
    b.initializer('w', DataType.FLOAT, [4], [1, 2, 3, 4]);
    b.node('Add', ['x', 'w'], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [4]);
    const bytes = b.bytes();
    const sharing: boolean[] = [];
    // Place the file at four different offsets so raw_data lands both aligned and unaligned.
    for (let shift = 0; shift < 4; shift++) {
      const file = new Uint8Array(bytes.byteLength + shift).subarray(shift);
      file.set(bytes);
      const w = decodeModelProto(file).graph!.initializer[0];
      expect(w.rawData.buffer).toBe(file.buffer);
      const arr = tensorArray(w) as Float32Array;
      expect(Array.from(arr)).toEqual([1, 2, 3, 4]);
      expect(arr.buffer === file.buffer).toBe(w.rawData.byteOffset % 4 === 0);
      sharing.push(arr.buffer === file.buffer);
    }
    expect(sharing.filter(Boolean)).toHaveLength(1);
  });

  it('makeTensor checks the byte count against the shape', () => {
    expect(() => makeTensor('w', DataType.FLOAT, [2, 3], new Float32Array(5))).toThrow(
      'makeTensor "w": 20 bytes given, 24 expected',
    );
    expect(() => makeTensor('q', DataType.INT4, [3], [1, 2, 3])).toThrow(/pass packed bytes for int4/);
    expect(Array.from(tensorToFloat64(makeTensor('i', DataType.INT64, [2], [-5, 7])))).toEqual([-5, 7]);
  });

  it('tensorStats ignores non-finite values and counts zeros', () => {
    const s = tensorStats(Float64Array.from([0, 1, 2, 3, NaN, Infinity]), 3);
    expect(s).toMatchObject({ count: 6, min: 0, max: 3, mean: 1.5, zeros: 1, sparsity: 1 / 6 });
    expect(s.std).toBeCloseTo(Math.sqrt(1.25), 12);
    expect(s.histogram.map((h) => h.count)).toEqual([1, 1, 2]);
    expect(s.histogram.reduce((n, h) => n + h.count, 0)).toBe(4);
  });

  it('floatToHalf inverts halfToFloat for every non-NaN float16 bit pattern', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = halfToFloat(h);
      if (!Number.isNaN(v) && floatToHalf(v) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    expect(floatToHalf(NaN)).toBe(0x7e00);
  });

  it('floatToHalf rounds a double once, to nearest with ties to even', () => {
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(floatToHalf(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01); // just above the tie (no double rounding)
    expect(floatToHalf(65519)).toBe(0x7bff);
    expect(floatToHalf(65520)).toBe(0x7c00);
    expect(floatToHalf(-1e9)).toBe(0xfc00);
    expect(floatToHalf(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal → 0
    expect(floatToHalf(3 * 2 ** -26)).toBe(1);
    expect(floatToHalf(-0)).toBe(0x8000);
  });
});

describe('external tensor data', () => {
  const external = create(TensorProtoSchema, {
    name: 'w',
    dataType: DataType.FLOAT,
    dims: [2n],
    dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: 'weights/w.bin' },
      { key: 'offset', value: '4' },
      { key: 'length', value: '8' },
    ],
  });
  const file = new Uint8Array(12);
  new Float32Array(file.buffer).set([9, 1.5, -2]);

  it('reads the bytes at offset/length of the named file, also when only the base name was given', () => {
    expect(Array.from(tensorToFloat64(external, new Map([['weights/w.bin', file]])))).toEqual([1.5, -2]);
    expect(Array.from(tensorToFloat64(external, new Map([['w.bin', file]])))).toEqual([1.5, -2]);
  });

  it('says which file is missing or too short', () => {
    expect(() => tensorBytes(external)).toThrow(
      'tensor "w" stores its data in "weights/w.bin", which was not provided (open it together with the model)',
    );
    expect(() => tensorBytes(external, new Map([['w.bin', file.subarray(0, 10)]]))).toThrow(
      'tensor "w" needs bytes 4–12 of "weights/w.bin", which has only 10',
    );
  });
});

describe.skipIf(!hasPythonOnnx)("agreement with ONNX's Python package (python3-onnx, numpy)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whittle-tensor-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('numpy_helper reads every tensor of the types ONNX 1.12 knows exactly as we do', () => {
    // python3-onnx 1.12 predates float8/int4/float4/int2 (ids 17–26); those are checked against the spec above.
    const known = dtypeFixtures.filter((f) => f.dataType <= DataType.BFLOAT16);
    const files: { path: string; kind: 'tensor'; ours: ReturnType<typeof tensorDigest> }[] = [];
    for (const f of known) {
      const tensors = f.raw ? [rawTensor(f), typedTensor(f)] : [typedTensor(f)];
      for (const t of tensors) {
        const file = path.join(dir, `${t.name}.pb`);
        writeFileSync(file, encodeTensorProto(t));
        files.push({ path: file, kind: 'tensor', ours: tensorDigest(t) });
      }
    }
    const reference = pythonDigests(files);
    expect(files.length).toBe(known.length * 2 - 1);
    for (const f of files)
      expect([path.basename(f.path), reference[f.path]]).toEqual([path.basename(f.path), [f.ours]]);
  });

  it("floatToHalf rounds like numpy's float64 → float16 conversion", () => {
    const rand = seededRandom(7);
    const values = Array.from({ length: 4000 }, (_, i) => {
      const scale = 2 ** Math.floor(rand() * 40 - 28);
      return (rand() - 0.5) * scale * (i % 2 ? 1 : 3);
    });
    values.push(65504, 65519.99, 65520, 2 ** -24, 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11);
    const r = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import json,sys,numpy as np; v=np.array(json.load(sys.stdin),dtype=np.float64); print(json.dumps(v.astype(np.float16).view(np.uint16).tolist()))',
      ],
      { input: JSON.stringify(values), encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    const numpy = JSON.parse(r.stdout) as number[];
    const ours = values.map(floatToHalf);
    const diff = values.flatMap((v, i) => (ours[i] === numpy[i] ? [] : [`${v}: ${ours[i]} vs ${numpy[i]}`]));
    expect(diff).toEqual([]);
  });
});

describe('dtype table', () => {
  it('gives onnxruntime type strings only where onnxruntime-js has a tensor type', () => {
    const ortTypes = allDataTypes.filter((id) => dtypeInfo(id).ort).map((id) => dtypeInfo(id).ort);
    expect(ortTypes).toEqual([
      'float32',
      'uint8',
      'int8',
      'uint16',
      'int16',
      'int32',
      'int64',
      'string',
      'bool',
      'float16',
      'float64',
      'uint32',
      'uint64',
      'uint4',
      'int4',
    ]);
    expect(dtypeInfo(99).name).toBe('type99');
  });
});
