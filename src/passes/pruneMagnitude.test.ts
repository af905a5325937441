import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { gzipSync } from 'fflate';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { hasSharedModels, readBytes, sharedModelsDir } from '../test/fixtures';
import {
  cutForCount,
  estimatePrune,
  pruneMagnitude,
  pruneMagnitudeModel,
  scheduleSparsity,
  sparsitySweep,
} from './pruneMagnitude';
import { findWeights, weightValues } from './weights';
import { testCnn, testMlp } from './testing/models';
import { feedsFor, outputs, relativeError, testContext } from './testing/harness';
import { hasMnist, mnistAccuracy, mnistTest } from './testing/mnist';

const ctx = testContext();
const params = (p: Partial<ReturnType<typeof pruneMagnitude.params.parse>>) => pruneMagnitude.params.parse(p);

function sparsities(m: Model, minSize = 0) {
  return findWeights(m, { minSize }).weights.map((w) => {
    const v = weightValues(w, m);
    return {
      name: w.name,
      nodes: w.users.map((u) => u.name),
      n: v.length,
      sparsity: v.filter((x) => x === 0).length / v.length,
    };
  });
}

describe('prune-magnitude', () => {
  it('selects the k smallest magnitudes exactly, ties included', () => {
    const a = Float32Array.from([0.5, -0.1, 0.3, -0.3, 0.0, 2, -0.3]);
    const cut = cutForCount([a], 4);
    // Sorted magnitudes: 0, 0.1, 0.3, 0.3, 0.3, 0.5, 2 → the 4th is 0.3, two of the three 0.3s go.
    expect(new Float32Array(new Uint32Array([cut.bits]).buffer)[0]).toBeCloseTo(0.3);
    expect(cut.ties).toBe(2);
    expect(cutForCount([a], 0)).toEqual({ bits: 0, ties: 0 });
  });

  it('reaches the target sparsity in every layer (within 1%) and keeps the model running', async () => {
    for (const m of [testCnn(), testMlp()]) {
      for (const s of [0.3, 0.5, 0.9]) {
        const r = await pruneMagnitude.run(m, params({ sparsity: s, minSize: 64 }), ctx);
        checkModel(r.model);
        const layers = sparsities(r.model, 64);
        expect(layers.length).toBeGreaterThan(2);
        for (const l of layers)
          expect(Math.abs(l.sparsity - s), `${l.name} at ${s}`).toBeLessThanOrEqual(0.01);
        for (const c of r.changes) expect(c.kind).toBe('pruned');
        await outputs(ctx, r.model, feedsFor(m));
      }
    }
  });

  it('global scope: one threshold, total sparsity on target, layers differ', async () => {
    const m = testCnn();
    const r = await pruneMagnitude.run(m, params({ sparsity: 0.6, scope: 'global', minSize: 64 }), ctx);
    const layers = sparsities(r.model, 64);
    const total = layers.reduce((s, l) => s + l.n, 0);
    const zeros = layers.reduce((s, l) => s + l.sparsity * l.n, 0);
    expect(Math.abs(zeros / total - 0.6)).toBeLessThanOrEqual(0.01);
    const spread = Math.max(...layers.map((l) => l.sparsity)) - Math.min(...layers.map((l) => l.sparsity));
    expect(spread).toBeGreaterThan(0.02);
  });

  it('leaves excluded and small layers untouched; at 0% the model is byte-identical', async () => {
    const m = testCnn();
    const r = await pruneMagnitude.run(m, params({ sparsity: 0.7, minSize: 200, exclude: ['conv5'] }), ctx);
    const before = new Map(sparsities(m).map((l) => [l.name, l]));
    for (const l of sparsities(r.model)) {
      const untouched = l.nodes.includes('conv5') || l.n < 200;
      if (untouched) expect(l.sparsity, l.name).toBe(before.get(l.name)!.sparsity);
      else expect(l.sparsity, l.name).toBeCloseTo(0.7, 2);
    }
    expect(r.notes.join('\n')).toMatch(/left 1 weight tensor dense: excluded/);
    const zero = await pruneMagnitude.run(m, params({ sparsity: 0 }), ctx);
    expect(zero.model.encode()).toEqual(m.encode());
  });

  it('ramps over steps with a cubic schedule, measuring each step', async () => {
    expect([1, 2, 3, 4].map((i) => scheduleSparsity(0.8, i, 4))).toEqual([
      0.8 * (1 - 0.75 ** 3),
      0.8 * (1 - 0.5 ** 3),
      0.8 * (1 - 0.25 ** 3),
      0.8,
    ]);
    const m = testMlp();
    const r = await pruneMagnitude.run(m, params({ sparsity: 0.8, steps: 4, minSize: 64 }), ctx);
    const steps = r.notes.filter((n) => n.startsWith('step '));
    expect(steps).toHaveLength(4);
    expect(steps[3]).toMatch(/^step 4\/4: target 80\.0%, reached 80\.0%; top-1 agreement/);
    const oneShot = await pruneMagnitudeModel(m, { sparsity: 0.8, minSize: 64 });
    expect(r.model.encode()).toEqual(oneShot.model.encode());
  });

  it('estimates the compressed size quickly and close to the real one', async () => {
    const m = testCnn();
    for (const scope of ['layer', 'global'] as const)
      for (const s of [0.25, 0.5, 0.85]) {
        const est = estimatePrune(m, { sparsity: s, scope, minSize: 64 });
        const real = (await pruneMagnitudeModel(m, { sparsity: s, scope, minSize: 64 })).model.encode();
        const gz = gzipSync(real, { level: 6 }).byteLength;
        expect(Math.abs(est.gzipBytes / gz - 1), `${scope} ${s}`).toBeLessThan(0.05);
        expect(est.bytes).toBe(real.byteLength);
        expect(est.sparsity).toBeCloseTo(s, 2);
      }
  });

  it('sweeps sparsities: achieved sparsity follows, size falls, fidelity is measured', async () => {
    const m = testMlp();
    const points = await sparsitySweep(m, [0, 0.5, 0.9], ctx, { samples: 4, params: { minSize: 64 } });
    expect(points.map((p) => Math.round(p.achieved * 100))).toEqual([0, 50, 90]);
    expect(points[0].fidelity.sqnrDb).toBe(Infinity);
    expect(points[1].gzipBytes).toBeLessThan(points[0].gzipBytes);
    expect(points[2].gzipBytes).toBeLessThan(points[1].gzipBytes);
    expect(points[2].fidelity.sqnrDb).toBeLessThan(points[1].fidelity.sqnrDb);
  });

  it.skipIf(!hasSharedModels)('prunes real models to 50% and they still run', async () => {
    const dims = { 'p2o.DynamicDimension.0': 1, 'p2o.DynamicDimension.1': 48, 'p2o.DynamicDimension.2': 192 };
    for (const file of ['ppocr_mobile_v2_cls.onnx', 'ultraface-RFB-320.onnx', 'mnist-8.onnx']) {
      const bytes = readBytes(path.join(sharedModelsDir, file));
      const m = Model.decode(bytes);
      const r = await pruneMagnitude.run(m, params({ sparsity: 0.5 }), ctx);
      checkModel(r.model);
      const out = r.model.encode();
      for (const l of sparsities(r.model, 1024))
        expect(Math.abs(l.sparsity - 0.5), `${file} ${l.name}`).toBeLessThanOrEqual(0.01);
      const feeds = feedsFor(m, dims);
      const err = relativeError(await outputs(ctx, bytes, feeds), await outputs(ctx, out, feeds));
      const gz = [gzipSync(bytes, { level: 6 }).byteLength, gzipSync(out, { level: 6 }).byteLength];
      expect(gz[1]).toBeLessThan(gz[0] * 0.8);
      console.log(
        `prune-magnitude 50% ${file}: ${bytes.byteLength} B, gzip ${gz[0]} → ${gz[1]} B, output change ${(err * 100).toFixed(2)}% of max; ${r.notes[0]}`,
      );
    }
  });

  it.skipIf(!hasSharedModels || !hasMnist)(
    'mnist-8 accuracy on 1000 test images after 50% and 80% pruning',
    async () => {
      const data = mnistTest(1000);
      const bytes = readBytes(path.join(sharedModelsDir, 'mnist-8.onnx'));
      const base = await mnistAccuracy(ctx.runtime, bytes, data);
      expect(base).toBeCloseTo(0.987, 3);
      const acc: Record<string, number> = {};
      for (const s of [0.5, 0.8]) {
        const r = await pruneMagnitude.run(Model.decode(bytes), params({ sparsity: s }), ctx);
        acc[s] = await mnistAccuracy(ctx.runtime, r.model.encode(), data);
      }
      console.log(
        `mnist-8 top-1 on 1000 test images: original ${base}, 50% pruned ${acc[0.5]}, 80% pruned ${acc[0.8]}`,
      );
      expect(acc[0.5]).toBeGreaterThan(0.97);
      expect(acc[0.8]).toBeGreaterThan(0.85);
    },
  );
});
