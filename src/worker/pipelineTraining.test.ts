import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../data/dataset';
import type { Recipe } from '../pipeline/recipe';
import { memoryCheckpoints } from '../persist/checkpoints';
import { createNodeRuntime } from '../runtime/node';
import { readBytes, repoRoot } from '../test/fixtures';
import {
  PipelineService,
  type DatasetFile,
  type PipelineEvent,
  type PipelineRunResult,
  type TrainingEvent,
} from './pipelineService';
import { trainingEventIntervalMs } from './trainingHost';

const runtime = createNodeRuntime({ threads: 1 });
const samples = path.join(repoRoot, 'public/samples');
const sampleModel = { name: 'digits-cnn.onnx', bytes: readBytes(path.join(samples, 'digits-cnn.onnx')) };
const datasetFiles = (): DatasetFile[] =>
  ['digits-images.npy', 'digits-labels.npy'].map((f) => ({
    path: f,
    bytes: readBytes(path.join(samples, f)),
  }));
// The sample's manifest with small splits: training here is about the wiring, not about accuracy.
const manifest: DatasetManifest = {
  ...(JSON.parse(readFileSync(path.join(samples, 'digits-dataset.json'), 'utf8')) as DatasetManifest),
  split: { train: 160, calibration: 96, evaluation: 64 },
};

const recipe = (epochs: number): Recipe => ({
  whittle: 1,
  stages: [
    { stage: 'prune-magnitude', params: { sparsity: 0.8 } },
    { stage: 'fine-tune', params: { epochs, batchSize: 32, learningRate: 1e-3, batchNorm: 'frozen' } },
  ],
});

/** A service as the worker makes it, with checkpoints in `entries` (what IndexedDB would keep). */
async function service(entries: Map<string, unknown>) {
  const s = new PipelineService({
    runtime: async () => runtime,
    checkpoints: memoryCheckpoints(entries),
    trainingBackend: 'cpu',
  });
  expect((await s.setModel([sampleModel])).ok).toBe(true);
  const data = await s.openDataset(datasetFiles(), manifest);
  if (!data.ok) throw new Error(data.error);
  return s;
}

function ok(r: PipelineRunResult): Extract<PipelineRunResult, { ok: true }> {
  if (!r.ok) throw new Error(r.error);
  return r;
}

const isTraining = (e: PipelineEvent): e is TrainingEvent => e.type === 'training';

describe('PipelineService training: events, pause / resume / stop, checkpoints', () => {
  it('streams throttled training events with every epoch end, pauses and resumes, clears its checkpoints', async () => {
    const entries = new Map<string, unknown>();
    const s = await service(entries);
    const events: { at: number; event: PipelineEvent }[] = [];
    let pausedAt = 0;
    let resumedAt = 0;
    const run = s.run({ runId: 'train-1', recipe: recipe(2), backend: 'cpu', latencyRuns: 2 }, (event) => {
      events.push({ at: performance.now(), event });
      // Pause on the first training event, resume 600 ms later.
      if (event.type === 'training' && !pausedAt) {
        expect(s.pauseTraining('train-1')).toBe(true);
        pausedAt = performance.now();
        setTimeout(() => {
          resumedAt = performance.now();
          s.resumeTraining('train-1');
        }, 600);
      }
    });
    const result = ok(await run);
    expect(result.results.map((r) => r.status)).toEqual(['done', 'done', 'done']);
    const training = events.filter((e) => isTraining(e.event)) as { at: number; event: TrainingEvent }[];
    expect(training.every((e) => e.event.index === 2 && e.event.phase === 'fine-tune')).toBe(true);

    // Paused: nothing trained between the pause and the resume.
    expect(resumedAt - pausedAt).toBeGreaterThanOrEqual(590);
    expect(training.filter((e) => e.at > pausedAt && e.at < resumedAt)).toEqual([]);

    // Batch events at most ~4/s; the last batch of each epoch is always sent.
    const batches = Math.ceil(160 / 32);
    for (const epoch of [1, 2]) {
      const mine = training.filter((e) => e.event.progress.epoch === epoch);
      expect(mine.some((e) => e.event.progress.batch === batches)).toBe(true);
      const midEpoch = mine.filter((e) => e.event.progress.batch < batches);
      for (let i = 1; i < midEpoch.length; i++)
        expect(midEpoch[i].at - midEpoch[i - 1].at).toBeGreaterThanOrEqual(trainingEventIntervalMs - 5);
    }
    // Each finished epoch arrives with its validation figures.
    const epochEnds = training.filter(
      (e) => e.event.progress.history.length === e.event.progress.epoch && e.event.progress.batch === batches,
    );
    expect(epochEnds.map((e) => e.event.progress.history.length)).toEqual([1, 2]);
    const last = epochEnds[1].event.progress;
    expect(last.epochs).toBe(2);
    expect(last.history[1].validationAccuracy).toBeGreaterThan(0.5);
    expect(last.samplesPerSecond).toBeGreaterThan(0);
    // Events travel through postMessage in the studio.
    expect(structuredClone(last)).toEqual(last);

    const tuned = result.results[2];
    expect(tuned.notes.join(' ')).toMatch(/fine-tune: 2 epochs on cpu; kept epoch [12]/);
    expect(tuned.metrics!.accuracy!).toBeGreaterThan(result.results[1].metrics!.accuracy!);
    // A finished stage forgets its checkpoints.
    expect([...entries.keys()].filter((k) => k.includes('|'))).toEqual([]);
    expect(s.pauseTraining('train-1')).toBe(false);
  }, 240_000);

  it('resumes from the last finished epoch after the worker is gone (a reload), and stops keeping the best', async () => {
    const entries = new Map<string, unknown>();
    const first = await service(entries);
    // A reload in the middle of epoch 2: the run ends abruptly after epoch 1 was saved.
    const aborted = ok(
      await first.run({ runId: 'r-a', recipe: recipe(3), backend: 'cpu', latencyRuns: 2 }, (e) => {
        if (isTraining(e) && e.progress.epoch === 2) first.cancel('r-a');
      }),
    );
    expect(aborted.cancelled).toBe(true);
    const saved = [...entries.keys()].filter((k) => k.endsWith('|fine-tune'));
    expect(saved).toHaveLength(1);
    expect((entries.get(saved[0]) as { epoch: number }).epoch).toBe(1);

    // A new worker with the same stored checkpoints: the rerun starts at epoch 2 and says so.
    const second = await service(entries);
    const seen: TrainingEvent[] = [];
    const stopped = ok(
      await second.run({ runId: 'r-b', recipe: recipe(3), backend: 'cpu', latencyRuns: 2 }, (e) => {
        if (!isTraining(e)) return;
        seen.push(e);
        // Stop and keep the best once epoch 2 has finished: epoch 3 never runs.
        if (e.progress.history.length === 2) second.stopTraining('r-b');
      }),
    );
    expect(seen[0].progress.epoch).toBe(2);
    expect(seen[0].progress.history.map((h) => h.epoch)).toEqual([1]);
    const tuned = stopped.results[2];
    expect(tuned.status).toBe('done');
    expect(tuned.notes.join(' ')).toContain('(resumed after epoch 1)');
    expect(tuned.notes.join(' ')).toContain('stopped by the user');
    expect(seen.some((e) => e.progress.epoch === 3 && e.progress.batch > 1)).toBe(false);
  }, 240_000);
});
