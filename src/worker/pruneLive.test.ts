import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Model } from '../onnx/ir';
import { pruneMagnitudeModel } from '../passes/pruneMagnitude';
import { createNodeRuntime } from '../runtime/node';
import { readBytes, repoRoot } from '../test/fixtures';
import { PipelineService, type DatasetFile } from './pipelineService';

const runtime = createNodeRuntime({ threads: 1 });
const samples = path.join(repoRoot, 'public/samples');
const modelFile = { name: 'digits-cnn.onnx', bytes: readBytes(path.join(samples, 'digits-cnn.onnx')) };
const datasetFiles = (): DatasetFile[] =>
  ['digits-dataset.json', 'digits-images.npy', 'digits-labels.npy'].map((f) => ({
    path: f,
    bytes: readBytes(path.join(samples, f)),
  }));

describe('live prune estimate and sweep in the pipeline service', () => {
  it('estimates gzip size close to the real pruned file, measures accuracy, and drops superseded requests', async () => {
    const s = new PipelineService({ runtime: async () => runtime });
    const none = await s.estimatePrune({ requestId: 1, params: { sparsity: 0.5 }, backend: 'wasm' });
    expect(none.ok).toBe(false);
    expect((await s.setModel([{ ...modelFile, bytes: modelFile.bytes.slice() }])).ok).toBe(true);
    expect((await s.openDataset(datasetFiles())).ok).toBe(true);

    // Two requests in a row: the first is cancelled by the second.
    const [first, second] = await Promise.all([
      s.estimatePrune({ requestId: 2, params: { sparsity: 0.3 }, backend: 'wasm' }),
      s.estimatePrune({ requestId: 3, params: { sparsity: 0.8 }, backend: 'wasm' }),
    ]);
    expect(first).toMatchObject({ ok: false, requestId: 2, cancelled: true });
    if (!second.ok) throw new Error(second.error);
    expect(second.requestId).toBe(3);
    const real = await pruneMagnitudeModel(Model.decode(modelFile.bytes), { sparsity: 0.8 });
    const gzip = gzipSync(real.model.encode(), { level: 6 }).byteLength;
    expect(Math.abs(second.estimate.gzipBytes - gzip) / gzip).toBeLessThan(0.03);
    expect(second.estimate.sparsity).toBeCloseTo(0.8, 2);
    expect(second.source).toBe('dataset');
    expect(second.fidelity.samples).toBe(64);
    expect(second.fidelity.accuracy).not.toBeNull();

    const low = await s.estimatePrune({ requestId: 4, params: { sparsity: 0 }, backend: 'wasm' });
    if (!low.ok) throw new Error(low.error);
    expect(low.fidelity.agreement).toBe(1);
    expect(low.estimate.gzipBytes).toBeGreaterThan(second.estimate.gzipBytes);

    const sweep = await s.sweepPrune({
      params: {},
      sparsities: [0, 0.5, 0.95],
      backend: 'wasm',
      samples: 32,
    });
    if (!sweep.ok) throw new Error(sweep.error);
    expect(sweep.points.map((p) => p.sparsity)).toEqual([0, 0.5, 0.95]);
    expect(sweep.points[0].fidelity.agreement).toBe(1);
    expect(sweep.points[2].fidelity.accuracy!).toBeLessThan(sweep.points[0].fidelity.accuracy!);
    expect(sweep.points[2].gzipBytes).toBeLessThan(sweep.points[0].gzipBytes);
  });
});
