import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { tensorArray } from '../onnx/tensor';
import { createNodeRuntime } from '../runtime/node';
import { seededRandom } from '../runtime/inputs';
import { fineTuneModel } from './fineTune';
import { UnsupportedOperatorsError } from './graph';
import { requireTail, trainableTail } from './tail';
import { DEFAULT_TRAIN_CONFIG, type SampleSet } from './trainer';

const sharedModels = path.resolve(__dirname, '../../../shared/models');

/** Conv → InstanceNormalization (not translated) → Relu → Flatten → Gemm: only the head after IN can train. */
function backboneWithHead(): Model {
  const random = seededRandom(7);
  const rand = (n: number) => Array.from({ length: n }, () => random() - 0.5);
  const b = new GraphBuilder('tail');
  const x = b.input('x', DataType.FLOAT, ['N', 1, 8, 8]);
  const conv = b.op('Conv', [x, b.initializer('conv.w', DataType.FLOAT, [4, 1, 3, 3], rand(36))], {
    pads: [1, 1, 1, 1],
  });
  const norm = b.op('InstanceNormalization', [
    conv,
    b.initializer('in.scale', DataType.FLOAT, [4], [1, 1, 1, 1]),
    b.initializer('in.bias', DataType.FLOAT, [4], [0, 0, 0, 0]),
  ]);
  const flat = b.op('Flatten', [b.op('Relu', [norm])]);
  const y = b.op(
    'Gemm',
    [
      flat,
      b.initializer('fc.w', DataType.FLOAT, [3, 256], rand(768)),
      b.initializer('fc.b', DataType.FLOAT, [3], [0, 0, 0]),
    ],
    { transB: 1 },
  );
  b.output(y, DataType.FLOAT, ['N', 3]);
  return b.model({ opset: 17 });
}

/** Images whose class is the brightest of three image regions. */
function regions(count: number, seed: number): SampleSet {
  const random = seededRandom(seed);
  const x = new Float32Array(count * 64);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let p = 0; p < 64; p++) x[i * 64 + p] = random() * 0.5 + (Math.floor((p % 8) / 3) === c ? 0.6 : 0);
  }
  return { x, count, labels };
}

describe('training only the tail of a model with unsupported operators', () => {
  it('finds the tail after the last unsupported operator', () => {
    const tail = trainableTail(backboneWithHead())!;
    expect(tail.boundary).toMatch(/InstanceNormalization/);
    expect(tail.nodes).toBe(3);
    expect(tail.model.graph.nodes.map((n) => n.opType)).toEqual(['Relu', 'Flatten', 'Gemm']);
  });

  it('trains the head with features onnxruntime computes, leaving the frozen part unchanged', async () => {
    const model = backboneWithHead();
    const runtime = createNodeRuntime({ threads: 1 });
    const data = {
      input: 'x',
      sampleShape: [1, 1, 8, 8],
      train: regions(240, 1),
      validation: regions(90, 2),
    };
    const r = await fineTuneModel(
      model,
      data,
      { ...DEFAULT_TRAIN_CONFIG, epochs: 10, learningRate: 0.01 },
      { runtime },
    );
    expect(r.tail?.nodes).toBe(3);
    expect(r.training.history.at(-1)!.validationAccuracy).toBeGreaterThan(0.8);
    const weights = (m: Model, name: string) =>
      Array.from(tensorArray(m.graph.initializers.get(name)!) as Float32Array);
    expect(weights(r.model, 'conv.w')).toEqual(weights(model, 'conv.w'));
    expect(weights(r.model, 'fc.w')).not.toEqual(weights(model, 'fc.w'));
    // The whole trained model runs in onnxruntime and classifies the held-out images.
    const session = await runtime.createSession(r.model.encode());
    const test = regions(60, 3);
    let hits = 0;
    for (let i = 0; i < test.count; i++) {
      const out = await session.run({
        x: { type: 'float32', dims: [1, 1, 8, 8], data: test.x.subarray(i * 64, i * 64 + 64) },
      });
      const logits = Array.from(Object.values(out)[0]!.data as Float32Array);
      if (logits.indexOf(Math.max(...logits)) === test.labels![i]) hits++;
    }
    await session.release();
    expect(hits / test.count).toBeGreaterThan(0.8);
  });

  it.skipIf(!existsSync(path.join(sharedModels, 'silero_vad_legacy.onnx')))(
    'says what it cannot train when no tail exists (LSTMs inside If)',
    () => {
      const model = Model.decode(
        new Uint8Array(readFileSync(path.join(sharedModels, 'silero_vad_legacy.onnx'))),
      );
      expect(() => requireTail(model)).toThrow(UnsupportedOperatorsError);
      expect(() => requireTail(model)).toThrow(/If ×1.*nothing can be trained/);
    },
  );
});
