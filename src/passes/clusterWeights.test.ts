import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { gzipSync } from 'fflate';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { hasSharedModels, readBytes, sharedModelsDir } from '../test/fixtures';
import { seededRandom } from '../runtime/inputs';
import { clusterWeights } from './clusterWeights';
import { pruneMagnitude } from './pruneMagnitude';
import { kmeans1d } from './kmeans';
import { ConstantEvaluator } from './evaluate';
import { testCnn, testMlp } from './testing/models';
import { feedsFor, outputs, relativeError, testContext } from './testing/harness';
import { hasMnist, mnistAccuracy, mnistTest } from './testing/mnist';

const ctx = testContext();
const params = (p: Partial<ReturnType<typeof clusterWeights.params.parse>>) => clusterWeights.params.parse(p);

/** The weight each layer reads, computed from the decode nodes by our own evaluator. */
function decodedWeights(m: Model): Map<string, Float64Array> {
  const ev = new ConstantEvaluator(m.graph, {
    opset: m.opsetVersion('') ?? 13,
    irVersion: Number(m.proto.irVersion),
  });
  const out = new Map<string, Float64Array>();
  for (const n of m.graph.nodes)
    if (['Conv', 'Gemm', 'MatMul'].includes(n.opType)) {
      const v = ev.value(n.inputs[1]);
      if (v) out.set(n.name, v.data);
    }
  return out;
}

const distinct = (v: Float64Array) => new Set(v).size;

describe('k-means', () => {
  it('is deterministic, keeps exact zeros and is lossless with few distinct values', () => {
    const rand = seededRandom(5);
    const v = Float32Array.from({ length: 5000 }, () => (rand() < 0.3 ? 0 : rand() * 2 - 1));
    const a = kmeans1d(v, 8, { seed: 1, fixedZero: true });
    const b = kmeans1d(v, 8, { seed: 1, fixedZero: true });
    expect(a.centroids).toEqual(b.centroids);
    expect(a.centroids.length).toBeLessThanOrEqual(8);
    expect(a.centroids).toContain(0);
    v.forEach((x, i) => x === 0 && expect(a.centroids[a.assignments[i]]).toBe(0));
    const few = Float32Array.from([1, 2, 3, 2, 1, 3, 3]);
    const k = kmeans1d(few, 4);
    expect(Array.from(few, (_, i) => k.centroids[k.assignments[i]])).toEqual(Array.from(few));
    // Lloyd converges: more clusters, less error.
    expect(kmeans1d(v, 16, { seed: 1 }).inertia).toBeLessThan(kmeans1d(v, 4, { seed: 1 }).inertia);
  });
});

describe('cluster-weights', () => {
  for (const k of [4, 16, 64])
    it(`stores each layer with at most ${k} values; the file shrinks, raw and gzipped`, async () => {
      for (const m of [testCnn(), testMlp()]) {
        const r = await clusterWeights.run(m, params({ clusters: k, minSize: 64 }), ctx);
        checkModel(r.model);
        const decoded = decodedWeights(r.model);
        expect(decoded.size).toBeGreaterThan(2);
        let clustered = 0;
        let floatBytes = 0;
        for (const [node, w] of decoded)
          if (w.length >= 64) {
            expect(distinct(w), node).toBeLessThanOrEqual(k);
            clustered++;
            floatBytes += w.length * 4;
          }
        expect(clustered).toBeGreaterThan(2);
        const [a, b] = [m.encode(), r.model.encode()];
        // 4-bit indices take 1/8 of the float bytes, 8-bit 1/4; codebooks and decode nodes weigh on these tiny layers.
        expect(a.byteLength - b.byteLength).toBeGreaterThan(floatBytes * (k <= 16 ? 0.7 : 0.5));
        expect(gzipSync(b).byteLength).toBeLessThan(gzipSync(a).byteLength);
        const feeds = feedsFor(m);
        const err = relativeError(await outputs(ctx, m, feeds), await outputs(ctx, r.model, feeds));
        expect(err).toBeLessThan(k === 4 ? 0.6 : 0.2);
      }
    });

  it('uses UINT4 indices from opset 21 and uint8 beyond 16 clusters', async () => {
    const rand = seededRandom(9);
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 64]);
    const h = b.op(
      'MatMul',
      [
        x,
        b.initializer(
          'w1',
          DataType.FLOAT,
          [64, 64],
          Float32Array.from({ length: 4096 }, () => rand() - 0.5),
        ),
      ],
      {},
      'mm1',
    );
    b.node(
      'MatMul',
      [
        h,
        b.initializer(
          'w2',
          DataType.FLOAT,
          [64, 8],
          Float32Array.from({ length: 512 }, () => rand() - 0.5),
        ),
      ],
      {},
      { name: 'mm2', outputs: ['y'] },
    );
    b.output('y', DataType.FLOAT, [2, 8]);
    const m = b.model({ opset: 21, irVersion: 10 });
    const r4 = await clusterWeights.run(m, params({ clusters: 16, minSize: 0 }), ctx);
    checkModel(r4.model);
    expect(
      [...r4.model.graph.initializers.values()].filter((t) => t.dataType === DataType.UINT4),
    ).toHaveLength(2);
    expect(r4.notes.join('\n')).toMatch(/UINT4 tensors \(opset 21\)/);
    const r8 = await clusterWeights.run(m, params({ clusters: 100, minSize: 0 }), ctx);
    expect(
      [...r8.model.graph.initializers.values()].filter((t) => t.dataType === DataType.UINT8),
    ).toHaveLength(2);
    const feeds = feedsFor(m);
    const ref = await outputs(ctx, m, feeds);
    expect(relativeError(ref, await outputs(ctx, r4.model, feeds))).toBeLessThan(0.1);
    expect(relativeError(ref, await outputs(ctx, r8.model, feeds))).toBeLessThan(0.02);
    // 4-bit: 4 KB + 512 B of float weights become about a quarter of that... and less.
    expect(r4.model.encode().byteLength).toBeLessThan(m.encode().byteLength * 0.2);
  });

  it('keeps pruned weights at exactly zero (pruning composes with clustering)', async () => {
    const pruned = (
      await pruneMagnitude.run(testMlp(), pruneMagnitude.params.parse({ sparsity: 0.7, minSize: 64 }), ctx)
    ).model;
    const r = await clusterWeights.run(pruned, params({ clusters: 8, minSize: 64 }), ctx);
    for (const [node, w] of decodedWeights(r.model)) {
      if (w.length < 64) continue;
      const zeros = w.filter((v) => v === 0).length / w.length;
      expect(zeros, node).toBeGreaterThanOrEqual(0.69);
    }
  });

  it.skipIf(!hasSharedModels || !hasMnist)(
    'mnist-8 with 16 clusters per layer: size and accuracy on 1000 test images',
    async () => {
      const bytes = readBytes(path.join(sharedModelsDir, 'mnist-8.onnx'));
      const r = await clusterWeights.run(Model.decode(bytes), params({ clusters: 16 }), ctx);
      checkModel(r.model);
      const out = r.model.encode();
      const acc = await mnistAccuracy(ctx.runtime, out, mnistTest(1000));
      console.log(
        `cluster-weights k=16 mnist-8: ${bytes.byteLength} → ${out.byteLength} B, gzip ${gzipSync(bytes).byteLength} → ${gzipSync(out).byteLength} B, top-1 ${acc}; ${r.notes.join('; ')}`,
      );
      expect(out.byteLength).toBeLessThan(bytes.byteLength * 0.35);
      expect(acc).toBeGreaterThan(0.97);
    },
  );
});
