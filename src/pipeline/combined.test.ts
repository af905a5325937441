import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model } from '../onnx/ir';
import { createNodeRuntime } from '../runtime/node';
import { readBytes, repoRoot } from '../test/fixtures';
import { exportStageModel } from './provenance';
import type { Recipe } from './recipe';
import { runPipeline } from './runner';
import { sampleDataset } from '../passes/testing/quantFixtures';

const samples = path.join(repoRoot, 'public/samples');

/**
 * Issue 8's combined acceptance: distill → prune + fine-tune → QAT int8 → cluster on the bundled
 * sample, through the same runner the studio and the CLI use. It must end at least 20× smaller
 * (gzip) than the float original, within 2 accuracy points, and the exported file must score the
 * same in onnxruntime-node.
 */
export const combinedRecipe: Recipe = {
  whittle: 1,
  stages: [
    { stage: 'distill', params: { width: 0.5, epochs: 6, learningRate: 0.003 } },
    { stage: 'prune-magnitude', params: { sparsity: 0.5, fineTuneEpochs: 2 } },
    { stage: 'quantize-aware', params: { epochs: 1 } },
    { stage: 'cluster-weights', params: { clusters: 16 } },
  ],
};

describe('distill → prune + fine-tune → QAT int8 → cluster on the sample', () => {
  it('is ≥ 20× smaller (gzip) within 2 points, and the export scores the same in onnxruntime-node', async () => {
    const bytes = readBytes(path.join(samples, 'digits-cnn.onnx'));
    const model = Model.decode(bytes);
    const data = await sampleDataset(model);
    const runtime = createNodeRuntime({ threads: 2 });
    const t0 = performance.now();
    const results = await runPipeline({
      modelBytes: bytes,
      recipe: combinedRecipe,
      runtime,
      dataset: data,
      latencyRuns: 3,
    });
    const seconds = (performance.now() - t0) / 1000;
    for (const r of results) expect(r.status, `${r.stage}: ${r.error ?? ''}`).toBe('done');
    const original = results[0]!.metrics!;
    const final = results.at(-1)!.metrics!;
    console.log(
      results
        .map(
          (r) =>
            `${r.stage ?? 'original'}: accuracy ${((r.metrics!.accuracy ?? 0) * 100).toFixed(1)} %, gzip ${r.metrics!.gzipBytes} B (${(original.gzipBytes / r.metrics!.gzipBytes).toFixed(1)}× smaller), parameters ${r.metrics!.parameters}`,
        )
        .join('\n') + `\n${seconds.toFixed(0)} s`,
    );
    expect(final.gzipBytes * 20).toBeLessThanOrEqual(original.gzipBytes);
    expect(final.accuracy!).toBeGreaterThanOrEqual(original.accuracy! - 0.02);

    const exported = await exportStageModel({
      recipe: combinedRecipe,
      results,
      upTo: results.length - 1,
      modelFileName: 'digits-cnn.onnx',
      version: 'test',
      runtime,
    });
    const session = await runtime.createSession(exported.bytes);
    let hits = 0;
    for (const i of data.splits.evaluation) {
      const s = data.sample(i);
      const out = Object.values(await session.run(s.feeds))[0]!.data as Float32Array;
      if (out.indexOf(Math.max(...out)) === s.label) hits++;
    }
    await session.release();
    expect(hits / data.splits.evaluation.length).toBe(final.accuracy);
    // The exported model runs onnxruntime's integer kernels.
    expect(Model.decode(exported.bytes).graph.nodes.some((n) => n.opType === 'DequantizeLinear')).toBe(true);
  }, 1_200_000);
});
