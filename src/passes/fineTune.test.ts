import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { readBytes, repoRoot } from '../test/fixtures';
import { fineTune } from './fineTune';
import { pruneMagnitude } from './pruneMagnitude';
import { compareOnDataset, runOnWeb, runtime, sampleDataset, stageContext } from './testing/quantFixtures';
import { findWeights, weightValues } from './weights';

const samples = path.join(repoRoot, 'public/samples');
const modelBytes = readBytes(path.join(samples, 'digits-cnn.onnx'));

function zeroCount(m: Model): number {
  return findWeights(m).weights.reduce((n, w) => n + weightValues(w, m).filter((v) => v === 0).length, 0);
}

describe('fine-tune on the bundled sample (acceptance: 80 % pruning + fine-tuning within 1 point)', () => {
  let model: Model;
  let data: Dataset;
  beforeAll(async () => {
    model = Model.decode(modelBytes);
    data = await sampleDataset(model);
  });

  it('recovers 80 % magnitude pruning to within 1 point of the float model; without it the loss is larger', async () => {
    const pruned = await pruneMagnitude.run(
      model.clone(),
      pruneMagnitude.params.parse({ sparsity: 0.8 }),
      stageContext(data),
    );
    const before = await compareOnDataset(model, pruned.model, data);
    const t0 = performance.now();
    const tuned = await fineTune.run(
      pruned.model.clone(),
      fineTune.params.parse({ epochs: 4 }),
      stageContext(data),
    );
    const seconds = (performance.now() - t0) / 1000;
    checkModel(tuned.model);
    const after = await compareOnDataset(model, tuned.model, data);
    console.log(
      `digits-cnn: float ${(before.referenceAccuracy * 100).toFixed(1)} %, 80 % pruned ${(before.accuracy * 100).toFixed(1)} %, ` +
        `+ fine-tune 4 epochs ${(after.accuracy * 100).toFixed(1)} % (${seconds.toFixed(0)} s)\n  ${tuned.notes.join('\n  ')}`,
    );
    expect(after.accuracy).toBeGreaterThanOrEqual(before.referenceAccuracy - 0.01);
    expect(before.accuracy).toBeLessThan(after.accuracy - 0.02);
    // Sparsity survives training: every pruned zero is still zero.
    expect(zeroCount(tuned.model)).toBe(zeroCount(pruned.model));
    // The trained model runs in onnxruntime-web too, with the same outputs.
    const feeds = data.sample(data.splits.evaluation[0]!).feeds;
    const web = await runOnWeb(tuned.model.encode(), feeds);
    const node = await runtime.createSession(tuned.model.encode());
    const ref = await node.run(feeds);
    for (const [name, t] of Object.entries(ref)) {
      const w = web[name]!;
      (t.data as Float32Array).forEach((v, i) => expect(w[i]).toBeCloseTo(v, 3));
    }
    await node.release();
  }, 600_000);

  it('refuses clearly without labels or without a dataset', async () => {
    await expect(fineTune.run(model, fineTune.params.parse({}), stageContext())).rejects.toThrow(
      /needs a labelled dataset/,
    );
  });
});
