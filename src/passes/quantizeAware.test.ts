import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataset } from '../data/dataset';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { makeTensor, tensorArray } from '../onnx/tensor';
import { checkModel } from '../onnx/validate';
import { readBytes, repoRoot } from '../test/fixtures';
import type { TrainingProgress } from '../train/trainer';
import { foldBatchNorm } from './foldBatchNorm';
import { pruneMagnitude, pruneMagnitudeParams } from './pruneMagnitude';
import { quantizeAware, quantizeAwareParams } from './quantizeAware';
import { quantizeStatic, quantizeStaticParams } from './quantizeStatic';
import { findStage } from './registry';
import { compareOnDataset, optimizedOps, sampleDataset, stageContext } from './testing/quantFixtures';
import type { StageContext } from './types';

const samples = path.join(repoRoot, 'public/samples');
const modelBytes = readBytes(path.join(samples, 'digits-cnn.onnx'));
/** One training epoch costs ~25 s of CPU; a machine shared with other jobs may take several times that. */
const TRAINING_TIMEOUT = 600_000;
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** Share of exact zeros among the int8 weights of a QDQ model. */
function int8ZeroShare(model: Model): number {
  let zeros = 0;
  let total = 0;
  for (const t of model.graph.initializers.values()) {
    if (t.dataType !== DataType.INT8 || t.dims.length < 2) continue;
    const v = tensorArray(t, model.external) as Int8Array;
    total += v.length;
    for (const x of v) if (x === 0) zeros++;
  }
  return zeros / total;
}

/**
 * The sample with BatchNorm folded and every other channel of conv1 scaled down by `factor` (its
 * weights and bias), conv2's matching input weights scaled up: ReLU and MaxPool commute with a
 * positive scale, so the float model computes the same function, but those channels now use a
 * hundredth of the shared activation range. Depthwise MobileNets show such channel imbalance naturally.
 */
async function channelImbalanced(model: Model, data: Dataset, factor: number): Promise<Model> {
  const folded = (await foldBatchNorm.run(model.clone(), {}, stageContext(data))).model;
  const g = folded.graph;
  const [conv1, conv2] = g.nodes.filter((n) => n.opType === 'Conv');
  const read = (name: string) => {
    const t = g.initializers.get(name)!;
    return {
      values: Float32Array.from(tensorArray(t, folded.external) as Float32Array),
      dims: t.dims.map(Number),
    };
  };
  const [w1, b1, w2] = [read(conv1.inputs[1]), read(conv1.inputs[2]), read(conv2.inputs[1])];
  const [outputs, inputs, kh, kw] = w2.dims;
  const kernel = kh * kw;
  for (let c = 0; c < inputs; c += 2) {
    for (let k = 0; k < kernel; k++) w1.values[c * kernel + k] /= factor;
    b1.values[c] /= factor;
    for (let o = 0; o < outputs; o++)
      for (let k = 0; k < kernel; k++) w2.values[(o * inputs + c) * kernel + k] *= factor;
  }
  for (const [name, w] of [
    [conv1.inputs[1], w1],
    [conv1.inputs[2], b1],
    [conv2.inputs[1], w2],
  ] as const)
    g.addInitializer(makeTensor(name, DataType.FLOAT, w.dims, w.values));
  return folded;
}

describe('quantize-aware on the bundled sample model and its dataset', () => {
  let model: Model;
  let data: Dataset;
  beforeAll(async () => {
    model = Model.decode(modelBytes);
    data = await sampleDataset(model);
  });

  it('is registered after fine-tune', () => {
    expect(findStage('quantize-aware')).toBe(quantizeAware);
  });

  it(
    'QAT int8 loses at most 0.3 point against the float model, runs as QLinearConv and is ≤ 0.3× the size',
    async () => {
      const progress: TrainingProgress[] = [];
      const ctx: StageContext = {
        ...stageContext(data),
        training: {
          onProgress: (phase, p) => phase === 'quantize-aware' && progress.push(p),
          backend: 'cpu',
        },
      };
      const started = performance.now();
      const r = await quantizeAware.run(model, quantizeAwareParams.parse({ epochs: 1 }), ctx);
      const seconds = (performance.now() - started) / 1000;
      checkModel(r.model);
      const ptq = await quantizeStatic.run(model, quantizeStaticParams.parse({}), stageContext(data));
      const fp = await compareOnDataset(model, ptq.model, data);
      const f = await compareOnDataset(model, r.model, data);
      const ratio = r.model.encode().byteLength / modelBytes.byteLength;
      console.log(
        `digits-cnn quantize-aware (1 epoch, ${seconds.toFixed(0)} s): float ${pct(f.referenceAccuracy)}, static PTQ ${pct(fp.accuracy)}, QAT ${pct(f.accuracy)} (agreement ${pct(f.agreement)}, SQNR ${f.sqnrDb.toFixed(1)} dB), ${modelBytes.byteLength} → ${r.model.encode().byteLength} bytes (${ratio.toFixed(3)}×)\n  ${r.notes.join('\n  ')}`,
      );
      expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.003);
      expect(ratio).toBeLessThanOrEqual(0.3);
      const ops = await optimizedOps(r.model.encode());
      expect(ops.get('com.microsoft:QLinearConv')).toBe(2);
      expect(ops.get('com.microsoft:QGemm')).toBe(2);
      expect(ops.get('Conv') ?? 0).toBe(0);
      // The same QDQ layout quantize-static writes.
      const layout = (m: Model) => m.graph.nodes.map((n) => n.opType);
      expect(layout(r.model)).toEqual(layout(ptq.model));
      expect(r.changes.filter((c) => c.kind === 'quantized')).toHaveLength(6);
      expect(r.notes.join('\n')).toMatch(/quantize-aware: 1 epoch on cpu; kept epoch 1, validation accuracy/);
      expect(progress.at(-1)).toMatchObject({ epoch: 1, epochs: 1, batch: 32, batches: 32 });
    },
    TRAINING_TIMEOUT,
  );

  it(
    'after 80 % magnitude pruning static PTQ loses far more than 0.3 point, and QAT wins it back with the zeros kept',
    async () => {
      const pruned = (
        await pruneMagnitude.run(
          model.clone(),
          pruneMagnitudeParams.parse({ sparsity: 0.8 }),
          stageContext(data),
        )
      ).model;
      const ptq = await quantizeStatic.run(pruned, quantizeStaticParams.parse({}), stageContext(data));
      const fp = await compareOnDataset(model, ptq.model, data);
      const started = performance.now();
      const qat = await quantizeAware.run(
        pruned,
        quantizeAwareParams.parse({ epochs: 1, learningRate: 5e-4 }),
        stageContext(data),
      );
      const seconds = (performance.now() - started) / 1000;
      const fq = await compareOnDataset(model, qat.model, data);
      console.log(
        `digits-cnn pruned 80 % → int8: float original ${pct(fq.referenceAccuracy)}, static PTQ ${pct(fp.accuracy)}, QAT (1 epoch, ${seconds.toFixed(0)} s) ${pct(fq.accuracy)}; int8 weight zeros PTQ ${pct(int8ZeroShare(ptq.model))}, QAT ${pct(int8ZeroShare(qat.model))}`,
      );
      expect(fp.referenceAccuracy - fp.accuracy).toBeGreaterThan(0.003);
      expect(fq.accuracy).toBeGreaterThan(fp.accuracy + 0.05);
      // Every weight pruning zeroed is still zero in the exported int8 weights.
      let prunedZeros = 0;
      let keptZeros = 0;
      for (const [name, t] of pruned.graph.initializers) {
        if (t.dataType !== DataType.FLOAT || t.dims.length < 2) continue;
        const before = tensorArray(t, pruned.external) as Float32Array;
        const after = tensorArray(qat.model.graph.initializers.get(`${name}_int8`)!, qat.model.external);
        before.forEach((v, i) => {
          if (v !== 0) return;
          prunedZeros++;
          if (after[i] === 0) keptZeros++;
        });
      }
      expect(prunedZeros).toBeGreaterThan(0.75 * 156_000);
      expect(keptZeros).toBe(prunedZeros);
      expect(qat.notes.join('\n')).toMatch(/pruned weight tensors kept their zeros/);
    },
    TRAINING_TIMEOUT,
  );

  it(
    'on a channel-imbalanced copy (same float function) static PTQ loses more than 0.3 point and QAT recovers it',
    async () => {
      const imbalanced = await channelImbalanced(model, data, 100);
      const ff = await compareOnDataset(model, imbalanced, data);
      const ptq = await quantizeStatic.run(imbalanced, quantizeStaticParams.parse({}), stageContext(data));
      const fp = await compareOnDataset(model, ptq.model, data);
      const started = performance.now();
      const qat = await quantizeAware.run(
        imbalanced,
        quantizeAwareParams.parse({ epochs: 1, learningRate: 5e-4 }),
        stageContext(data),
      );
      const seconds = (performance.now() - started) / 1000;
      const fq = await compareOnDataset(model, qat.model, data);
      console.log(
        `digits-cnn channel-imbalanced ×100 → int8: float original ${pct(ff.referenceAccuracy)}, imbalanced float ${pct(ff.accuracy)} (agreement ${pct(ff.agreement)}), static PTQ ${pct(fp.accuracy)}, QAT (1 epoch, ${seconds.toFixed(0)} s) ${pct(fq.accuracy)}`,
      );
      expect(ff.agreement).toBeGreaterThanOrEqual(0.999);
      expect(fp.referenceAccuracy - fp.accuracy).toBeGreaterThan(0.003);
      expect(fq.accuracy).toBeGreaterThan(fp.accuracy + 0.003);
      expect(fq.accuracy).toBeGreaterThanOrEqual(fq.referenceAccuracy - 0.01);
    },
    TRAINING_TIMEOUT,
  );

  it('refuses an unlabelled dataset and an already quantized model before training', async () => {
    const unlabelled = new Dataset(
      { ...data.raw, labels: undefined },
      data.input,
      data.preprocess,
      data.splits,
      'unlabelled',
    );
    const params = quantizeAwareParams.parse({});
    await expect(quantizeAware.run(model, params, stageContext(unlabelled))).rejects.toThrow(
      /needs labels, and the dataset "unlabelled" has none/,
    );
    await expect(quantizeAware.run(model, params, stageContext())).rejects.toThrow(
      /needs a labelled dataset/,
    );
    const ptq = await quantizeStatic.run(model, quantizeStaticParams.parse({}), stageContext(data));
    await expect(quantizeAware.run(ptq.model, params, stageContext(data))).rejects.toThrow(
      /quantize-aware: the model is already quantized \(QuantizeLinear ×\d+/,
    );
  });
});
