import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { createNodeRuntime } from '../runtime/node';
import { stages } from '../passes/registry';
import { defineStage, type AnyStage } from '../passes/types';
import { makeTensor } from '../onnx/tensor';
import { PipelineCache, runPipeline } from './runner';
import { parseRecipe } from './recipe';
import { Dataset, makeSplits, PreprocessSchema } from '../data/dataset';

const runtime = createNodeRuntime({ threads: 1 });

/** x[N,4] → MatMul → Identity → Add → y[N,3], plus a dead branch. */
function model() {
  const b = new GraphBuilder('m');
  const x = b.input('x', DataType.FLOAT, ['N', 4]);
  const w = b.initializer(
    'w',
    DataType.FLOAT,
    [4, 3],
    Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2),
  );
  const c = b.initializer('c', DataType.FLOAT, [3], [0.5, 0, -0.5]);
  const mm = b.op('MatMul', [x, w], {}, 'mm');
  const id = b.op('Identity', [mm], {}, 'id');
  b.op('Relu', [id], {}, 'dead');
  b.node('Add', [id, c], {}, { name: 'add', outputs: ['y'] });
  b.output('y', DataType.FLOAT, ['N', 3]);
  return b.bytes({ opset: 17 });
}

/** A test stage that halves every float weight (so outputs move) or fails on demand. */
const halve = defineStage({
  id: 'halve-weights',
  title: 'Halve weights',
  description: 'test stage',
  category: 'compress',
  params: z.object({ fail: z.boolean().default(false), factor: z.number().default(0.5) }),
  async run(m, params, ctx) {
    if (params.fail) throw new Error('asked to fail');
    ctx.progress(1, 1);
    for (const [name, t] of m.graph.initializers) {
      const v = new Float32Array(t.rawData.slice().buffer);
      m.graph.addInitializer(
        makeTensor(
          name,
          DataType.FLOAT,
          t.dims.map(Number),
          v.map((a) => a * params.factor),
        ),
      );
    }
    return { model: m, notes: ['halved'], changes: [] };
  },
});
const registry: AnyStage[] = [...stages, halve];

function dataset() {
  const values = Float32Array.from({ length: 20 * 4 }, (_, i) => Math.sin(i));
  const labels = Int32Array.from({ length: 20 }, (_, i) => i % 3);
  return new Dataset(
    { values, count: 20, sampleShape: [4], labels },
    { name: 'x', elemType: DataType.FLOAT, shape: [1, 4] },
    PreprocessSchema.parse({}),
    makeSplits(20, { train: 0, calibration: 5, evaluation: 15 }),
    'sines',
  );
}

describe('runPipeline', () => {
  it('runs stages in order and measures each the same way', async () => {
    const recipe = parseRecipe(
      { whittle: 1, stages: [{ stage: 'simplify' }, { stage: 'halve-weights' }] },
      registry,
    );
    const events: number[] = [];
    const results = await runPipeline({
      modelBytes: model(),
      recipe,
      runtime,
      registry,
      dataset: dataset(),
      latencyRuns: 3,
      onResult: (r) => events.push(r.index),
    });
    expect(events).toEqual([0, 1, 2]);
    expect(results.map((r) => r.status)).toEqual(['done', 'done', 'done']);
    const [orig, simp, half] = results.map((r) => r.metrics!);
    expect(orig.agreement).toBe(1);
    expect(simp.maxAbsError).toBe(0);
    expect(simp.sqnrDb).toBe(Infinity);
    expect(simp.bytes).toBeLessThan(orig.bytes);
    expect(half.maxAbsError).toBeGreaterThan(0);
    expect(Number.isFinite(half.sqnrDb)).toBe(true);
    expect(orig.accuracy).not.toBeNull();
    expect(orig.evaluatedSamples).toBe(15);
    expect(orig.macs).toBe(1 * 4 * 3);
    expect(orig.latency.medianMs).toBeGreaterThan(0);
    expect(orig.gzipBytes).toBeGreaterThan(0);
    expect(results[1].notes.join(' ')).toMatch(/bypassed 1/);
  });

  it('reuses cached results of unchanged stages and re-runs from the changed one', async () => {
    const cache = new PipelineCache();
    const bytes = model();
    const first = await runPipeline({
      modelBytes: bytes,
      recipe: parseRecipe({ stages: [{ stage: 'simplify' }, { stage: 'halve-weights' }] }, registry),
      runtime,
      registry,
      cache,
      latencyRuns: 2,
    });
    const second = await runPipeline({
      modelBytes: bytes,
      recipe: parseRecipe(
        {
          stages: [{ stage: 'simplify' }, { stage: 'halve-weights', params: { factor: 0.25 } }],
        },
        registry,
      ),
      runtime,
      registry,
      cache,
      latencyRuns: 2,
    });
    expect(second[1].cached).toBe(true);
    expect(second[1].modelHash).toBe(first[1].modelHash);
    expect(second[1].metrics).toEqual(first[1].metrics);
    expect(second[2].cached).toBe(false);
    expect(second[2].modelHash).not.toBe(first[2].modelHash);
  });

  it('does not reuse a data-dependent stage across datasets', async () => {
    const calibrated = defineStage({ ...halve, id: 'calibrated-halve', needs: { calibration: true } });
    const reg = [...registry, calibrated];
    const cache = new PipelineCache();
    const recipe = parseRecipe({ stages: [{ stage: 'simplify' }, { stage: 'calibrated-halve' }] }, reg);
    const run = (name: string) =>
      runPipeline({
        modelBytes: model(),
        recipe,
        runtime,
        registry: reg,
        cache,
        latencyRuns: 2,
        dataset: new Dataset(dataset().raw, dataset().input, dataset().preprocess, dataset().splits, name),
      });
    await run('a');
    const again = await run('a');
    const other = await run('b');
    expect(again[2].cached).toBe(true);
    expect(other[1].cached).toBe(true); // simplify reads no data
    expect(other[2].cached).toBe(false);
  });

  it('stops at a failing stage, keeping earlier results', async () => {
    const results = await runPipeline({
      modelBytes: model(),
      recipe: parseRecipe(
        {
          stages: [
            { stage: 'simplify' },
            { stage: 'halve-weights', params: { fail: true } },
            { stage: 'simplify' },
          ],
        },
        registry,
      ),
      runtime,
      registry,
      latencyRuns: 2,
    });
    expect(results.map((r) => r.status)).toEqual(['done', 'done', 'error', 'skipped']);
    expect(results[2].error).toBe('asked to fail');
    expect(results[1].metrics).toBeDefined();
  });

  it('reports invalid parameters on the stage and skips disabled stages', async () => {
    const results = await runPipeline({
      modelBytes: model(),
      recipe: {
        whittle: 1,
        stages: [
          { stage: 'halve-weights', params: {}, enabled: false },
          { stage: 'halve-weights', params: { factor: 'x' } },
        ],
      },
      runtime,
      registry,
      latencyRuns: 2,
    });
    expect(results.map((r) => r.status)).toEqual(['done', 'skipped', 'error']);
    expect(results[2].error).toMatch(/stage 2 \("halve-weights"\): field "factor"/);
  });

  it('cancels', async () => {
    const controller = new AbortController();
    const results = await runPipeline({
      modelBytes: model(),
      recipe: parseRecipe({ stages: [{ stage: 'simplify' }, { stage: 'halve-weights' }] }, registry),
      runtime,
      registry,
      latencyRuns: 2,
      signal: controller.signal,
      onResult: (r) => r.index === 1 && controller.abort(),
    });
    expect(results.map((r) => r.status)).toEqual(['done', 'done', 'cancelled']);
  });
});
