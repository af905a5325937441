import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, externalTensor } from './builder';
import { decodeModelProto, encodeModelProto } from './codec';
import { DataType } from './dtype';
import { Model } from './ir';
import type { TensorProto } from './proto/onnx_pb';
import { describeNode, summarizeModel } from './summary';
import { TensorDataError, tensorArray, tensorBytes, tensorToFloat64 } from './tensor';
import { validateModel } from './validate';

/**
 * A model whose weights live in an external data file, as large exported models store them: W and b
 * sit at offsets inside `data/weights.bin` (with unrelated bytes around them); a small tensor stays inline.
 */
const location = 'data/weights.bin';
const w = Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2.5);
const bias = Float32Array.from([0.5, -1, 2, 0.25]);

function externalFloats(name: string, dims: number[], offset: number, length: number): TensorProto {
  return externalTensor(name, DataType.FLOAT, dims, location, offset, length);
}

function weightsFile(): Uint8Array {
  const file = new Uint8Array(512).fill(0xee);
  file.set(new Uint8Array(w.buffer), 64);
  file.set(new Uint8Array(bias.buffer), 256);
  return file;
}

function externalModel(): Uint8Array {
  const b = new GraphBuilder('external');
  b.input('x', DataType.FLOAT, ['N', 3]);
  b.tensor(externalFloats('W', [3, 4], 64, w.byteLength));
  b.tensor(externalFloats('b', [4], 256, bias.byteLength));
  b.initializer('scale', DataType.FLOAT, [1], [2]);
  b.node('MatMul', ['x', 'W'], {}, { outputs: ['mm'], name: 'matmul' });
  b.node('Add', ['mm', 'b'], {}, { outputs: ['sum'], name: 'add' });
  b.node('Mul', ['sum', 'scale'], {}, { outputs: ['y'], name: 'mul' });
  b.output('y', DataType.FLOAT, ['N', 4]);
  return b.bytes({ opset: 17 });
}

/** y = (x · W + b) · 2, computed here in float64 and rounded like float32. */
function reference(x: Float32Array): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / 3; r++)
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += x[r * 3 + k] * w[k * 4 + c];
      out.push(Math.fround((s + bias[c]) * 2));
    }
  return out;
}

const x = Float32Array.from([1, 2, 3, -1, 0.5, 4]);

describe('external tensor data', () => {
  const bytes = externalModel();
  const files = new Map([[location, weightsFile()]]);

  it('keeps the external_data entries through decode → encode and the IR', () => {
    expect(Buffer.from(encodeModelProto(decodeModelProto(bytes))).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(Model.decode(bytes, files).encode()).equals(Buffer.from(bytes))).toBe(true);
    const W = decodeModelProto(bytes).graph!.initializer[0];
    expect(W.rawData.byteLength).toBe(0);
    expect(W.externalData.map((e) => `${e.key}=${e.value}`)).toEqual([
      `location=${location}`,
      'offset=64',
      'length=48',
    ]);
  });

  it('reads the tensors through tensorArray with the ExternalFiles map, as views into the file', () => {
    const m = Model.decode(bytes, files);
    const W = m.graph.initializers.get('W')!;
    const view = tensorArray(W, m.external) as Float32Array;
    expect(Array.from(view)).toEqual(Array.from(w));
    expect(view.buffer).toBe(files.get(location)!.buffer);
    expect(Array.from(tensorToFloat64(m.graph.initializers.get('b')!, m.external))).toEqual(Array.from(bias));
    // Opened from a folder drop, the file may be known by its base name only.
    const byBaseName = new Map([['weights.bin', weightsFile()]]);
    expect(Array.from(tensorArray(W, byBaseName) as Float32Array)).toEqual(Array.from(w));
  });

  it('summarizes the model with its external file and parameters, and shows weight statistics', () => {
    const m = Model.decode(bytes, files);
    expect(validateModel(m)).toEqual([]);
    const s = summarizeModel(m, bytes.byteLength);
    expect(s.externalFiles).toEqual([location]);
    expect(s.parameters).toBe(12 + 4 + 1);
    expect(s.initializers).toBe(3);
    expect(s.inputs.map((v) => [v.name, v.shape])).toEqual([['x', ['N', 3]]]);
    const details = describeNode(m, 'n0')!;
    const stats = details.weights.find((d) => d.name === 'W')!.stats!;
    expect([stats.count, stats.min, stats.max]).toEqual([12, -2.5, 1.5]);
  });

  it('without the file: a clear error naming the tensor and the file, and the summary still works', () => {
    const m = Model.decode(bytes);
    const W = m.graph.initializers.get('W')!;
    const message = `tensor "W" stores its data in "${location}", which was not provided (open it together with the model)`;
    expect(() => tensorArray(W, m.external)).toThrow(TensorDataError);
    expect(() => tensorArray(W, m.external)).toThrow(message);
    expect(() => tensorBytes(W, new Map([['other.bin', new Uint8Array(1024)]]))).toThrow(message);
    expect(summarizeModel(m, bytes.byteLength).externalFiles).toEqual([location]);
    const weight = describeNode(m, 'n0')!.weights.find((d) => d.name === 'W')!;
    expect(weight.stats).toBeNull();
    expect(weight.note).toBe(message);
  });

  it('runs in onnxruntime-node with the file passed as externalData { path, data }', async () => {
    const session = await ort.InferenceSession.create(bytes, {
      logSeverityLevel: 3,
      externalData: [{ path: location, data: files.get(location)! }],
    });
    try {
      const out = await session.run({ x: new ort.Tensor('float32', x, [2, 3]) });
      expect(Array.from(out.y.data as Float32Array)).toEqual(reference(x));
    } finally {
      await session.release();
    }
  });

  it('onnxruntime-node refuses the model when the file is not passed', async () => {
    await expect(ort.InferenceSession.create(bytes, { logSeverityLevel: 4 })).rejects.toThrow(
      /External data path validation failed for initializer: W\b.*weights\.bin/,
    );
  });

  describe('from files on disk', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'whittle-external-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('gives the same result when onnxruntime reads the model and its data file from a folder', async () => {
      mkdirSync(path.join(dir, 'data'));
      writeFileSync(path.join(dir, location), files.get(location)!);
      writeFileSync(path.join(dir, 'model.onnx'), bytes);
      const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
        logSeverityLevel: 3,
      });
      try {
        const out = await session.run({ x: new ort.Tensor('float32', x, [2, 3]) });
        expect(Array.from(out.y.data as Float32Array)).toEqual(reference(x));
      } finally {
        await session.release();
      }
    });
  });
});
