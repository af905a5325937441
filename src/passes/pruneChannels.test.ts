import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { gzipSync } from 'fflate';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { countParameters } from '../onnx/summary';
import { hasSharedModels, readBytes, sharedModelsDir } from '../test/fixtures';
import { seededRandom } from '../runtime/inputs';
import { planChannels, pruneChannels } from './pruneChannels';
import { testCnn, testMlp } from './testing/models';
import { feedsFor, outputs, relativeError, testContext } from './testing/harness';
import { hasMnist, mnistAccuracy, mnistTest } from './testing/mnist';

const ctx = testContext();
const params = (p: Partial<ReturnType<typeof pruneChannels.params.parse>>) => pruneChannels.params.parse(p);

/** Output channels of each Conv/Gemm/MatMul weight after pruning, by node name. */
function widths(m: Model): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of m.graph.nodes) {
    const w = m.graph.initializers.get(n.inputs[1]);
    if (!w) continue;
    if (n.opType === 'Conv') out[n.name] = Number(w.dims[0]);
    if (n.opType === 'Gemm') out[n.name] = Number(w.dims[n.attrInt('transB', 0) ? 0 : 1]);
    if (n.opType === 'MatMul') out[n.name] = Number(w.dims[1]);
  }
  return out;
}

describe('prune-channels', () => {
  it('finds the tie groups: residual Add, depthwise pass-through, SE Mul, Concat and Flatten→Gemm', () => {
    const plan = planChannels(testCnn(), 'l1', []);
    const groups = plan.groups
      .map((g) =>
        g.producers
          .map((p) => p.node.name)
          .sort()
          .join('+'),
      )
      .sort();
    expect(groups).toEqual(['conv1+conv2', 'conv3', 'conv4', 'conv5+se2', 'fc1', 'fc2', 'se1']);
    const fc2 = plan.groups.find((g) => g.producers[0].node.name === 'fc2')!;
    expect(fc2.candidates).toHaveLength(0);
    expect(fc2.pinnedReason).toMatch(/graph output "y"/);
  });

  for (const criterion of ['l1', 'l2', 'bn'] as const)
    it(`removes ${criterion}-ranked zero channels exactly: the outputs do not change (rewiring proof)`, async () => {
      const m = testCnn({ zeroPrunable: true });
      const r = await pruneChannels.run(m, params({ ratio: 0.25, criterion }), ctx);
      checkModel(r.model);
      // The requested fraction of every group (rounded): 8→6, 6→4, 4→3, 8→6, 4→3, 16→12; the head keeps its 5.
      expect(widths(r.model)).toEqual({
        conv1: 6,
        dw: 6,
        conv2: 6,
        conv3: 4,
        conv4: 3,
        conv5: 6,
        se1: 3,
        se2: 6,
        fc1: 12,
        fc2: 5,
      });
      expect(r.model.graph.nodes.find((n) => n.name === 'dw')!.attrInt('group', 0)).toBe(6);
      const feeds = feedsFor(m);
      const before = await outputs(ctx, m, feeds);
      const after = await outputs(ctx, r.model, feeds);
      expect(after[0].dims).toEqual(before[0].dims);
      expect(relativeError(before, after)).toBeLessThan(1e-5);
      expect(r.model.encode().byteLength).toBeLessThan(m.encode().byteLength * 0.7);
    });

  it('removes the zero neurons of a MatMul MLP exactly and shrinks the file', async () => {
    const m = testMlp({ zeroPrunable: true });
    const r = await pruneChannels.run(m, params({ ratio: 0.25 }), ctx);
    checkModel(r.model);
    expect(widths(r.model)).toEqual({ mm0: 48, mm1: 36, mm2: 10 });
    const feeds = feedsFor(m);
    expect(relativeError(await outputs(ctx, m, feeds), await outputs(ctx, r.model, feeds))).toBeLessThan(
      1e-6,
    );
    expect(r.notes[0]).toMatch(/^removed 28 of 122 channels/);
  });

  it('keeps a channel when asked to remove everything, and excludes layers', async () => {
    const r = await pruneChannels.run(testCnn(), params({ ratio: 0.9, exclude: ['conv3'] }), ctx);
    checkModel(r.model);
    const w = widths(r.model);
    expect(w.conv3).toBe(6);
    expect(w.conv4).toBe(1);
    expect(Object.values(w).every((c) => c >= 1)).toBe(true);
    await outputs(ctx, r.model, feedsFor(r.model));
  });

  it('reaches a parameter target', async () => {
    const m = testCnn();
    const total = countParameters(m.graph);
    const r = await pruneChannels.run(m, params({ targetParameters: Math.round(total * 0.6) }), ctx);
    const after = countParameters(r.model.graph);
    expect(after).toBeLessThanOrEqual(total * 0.6);
    expect(after).toBeGreaterThan(total * 0.4);
    expect(r.notes.join('\n')).toMatch(/reaches the target/);
  });

  it('handles Split, grouped convolutions and Reshape targets, and pins what it cannot rewrite', async () => {
    const rand = seededRandom(3);
    const w = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 4, 6, 6]);
    const c1 = b.op('Conv', [x, b.initializer('w1', DataType.FLOAT, [8, 4, 1, 1], w(32))], {}, 'c1');
    const [s0, s1] = b.node(
      'Split',
      [c1, b.initializer('sizes', DataType.INT64, [2], [4, 4])],
      { axis: 1 },
      { name: 'split', outputs: 2 },
    );
    const g1 = b.op(
      'Conv',
      [s0, b.initializer('wg', DataType.FLOAT, [4, 2, 1, 1], w(8))],
      { group: 2 },
      'grouped',
    );
    const c2 = b.op('Conv', [s1, b.initializer('w2', DataType.FLOAT, [6, 4, 1, 1], w(24))], {}, 'c2');
    const flat = b.op('Reshape', [c2, b.initializer('target', DataType.INT64, [2], [1, 216])], {}, 'flat');
    b.node(
      'Gemm',
      [flat, b.initializer('fw', DataType.FLOAT, [3, 216], w(648))],
      { transB: 1 },
      { name: 'fc', outputs: ['y'] },
    );
    b.node('Relu', [g1], {}, { name: 'out_relu', outputs: ['z'] });
    b.output('y', DataType.FLOAT, [1, 3]);
    b.output('z', DataType.FLOAT, [1, 4, 6, 6]);
    const m = b.model({ opset: 13 });
    const r = await pruneChannels.run(m, params({ ratio: 0.5 }), ctx);
    checkModel(r.model);
    const wd = widths(r.model);
    // c1's first half feeds a grouped conv (pinned), its second half can lose 2 of 4.
    expect(wd.c1).toBe(6);
    expect(wd.c2).toBe(3);
    expect(
      r.model.graph.initializers.get(r.model.graph.nodes.find((n) => n.name === 'flat')!.inputs[1]),
    ).toBeDefined();
    const feeds = feedsFor(m);
    const out = await outputs(ctx, r.model, feeds);
    expect(out.map((o) => o.dims)).toEqual([
      [1, 3],
      [1, 4, 6, 6],
    ]);
    expect(r.notes.join('\n')).toMatch(/read by Conv grouped/);
  });

  it('follows channels through Pad, Resize, pooling, Concat with an unprunable input, Transpose→MatMul and Squeeze→Gemm', async () => {
    const rand = seededRandom(17);
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 3, 8, 8]);
    const zeroConv = (name: string, input: string, cin: number, cout: number, zeros: number[]) => {
      const w = Float32Array.from({ length: cout * cin * 9 }, () => rand() - 0.5);
      const bias = Float32Array.from({ length: cout }, () => rand() - 0.5);
      for (const c of zeros) {
        w.fill(0, c * cin * 9, (c + 1) * cin * 9);
        bias[c] = 0;
      }
      const ws = b.initializer(`${name}.w`, DataType.FLOAT, [cout, cin, 3, 3], w);
      const bs = b.initializer(`${name}.b`, DataType.FLOAT, [cout], bias);
      return b.op('Conv', [input, ws, bs], { pads: [1, 1, 1, 1] }, name);
    };
    const a = b.op('Relu', [zeroConv('a', x, 3, 6, [1, 4])], {}, 'relu_a');
    const padded = b.op(
      'Pad',
      [a, b.initializer('pads', DataType.INT64, [8], [0, 0, 1, 1, 0, 0, 1, 1])],
      {},
      'pad',
    );
    const up = b.op(
      'Resize',
      [padded, '', b.initializer('scales', DataType.FLOAT, [4], [1, 1, 2, 2])],
      { mode: 'nearest' },
      'resize',
    );
    const pooled = b.op('MaxPool', [up], { kernel_shape: [6, 6], strides: [2, 2] }, 'pool');
    const cat = b.op('Concat', [pooled, x], { axis: 1 }, 'cat');
    const c = b.op('Relu', [zeroConv('c', cat, 9, 8, [0, 3, 7])], {}, 'relu_c');
    // Channels last: the MatMul reads them on the last axis.
    const t = b.op('Transpose', [c], { perm: [0, 2, 3, 1] }, 'nhwc');
    const mw = b.initializer(
      'mw',
      DataType.FLOAT,
      [8, 5],
      Float32Array.from({ length: 40 }, () => rand() - 0.5),
    );
    const mm = b.op('MatMul', [t, mw], {}, 'mm');
    b.node('ReduceMean', [mm], { axes: [1, 2], keepdims: 0 }, { name: 'mean', outputs: ['y'] });
    const gap = b.op('GlobalAveragePool', [c], {}, 'gap');
    const sq = b.op('Squeeze', [gap, b.initializer('sq_axes', DataType.INT64, [2], [2, 3])], {}, 'squeeze');
    const gw = b.initializer(
      'gw',
      DataType.FLOAT,
      [8, 2],
      Float32Array.from({ length: 16 }, () => rand() - 0.5),
    );
    b.node('Gemm', [sq, gw], {}, { name: 'head', outputs: ['z'] });
    b.output('y', DataType.FLOAT, [1, 5]);
    b.output('z', DataType.FLOAT, [1, 2]);
    const m = b.model({ opset: 13 });
    const r = await pruneChannels.run(m, params({ ratio: 1 / 3 }), ctx);
    checkModel(r.model);
    expect(widths(r.model)).toMatchObject({ a: 4, c: 5, mm: 5, head: 2 });
    const feeds = feedsFor(m);
    expect(relativeError(await outputs(ctx, m, feeds), await outputs(ctx, r.model, feeds))).toBeLessThan(
      1e-5,
    );
  });

  it.skipIf(!hasSharedModels)(
    'prunes 25% of the channels of real models; they run with the same output shapes',
    async () => {
      const dims = {
        'p2o.DynamicDimension.0': 1,
        'p2o.DynamicDimension.1': 48,
        'p2o.DynamicDimension.2': 192,
      };
      for (const file of ['ppocr_mobile_v2_cls.onnx', 'ultraface-RFB-320.onnx', 'mnist-8.onnx']) {
        const bytes = readBytes(path.join(sharedModelsDir, file));
        const m = Model.decode(bytes);
        const r = await pruneChannels.run(
          m,
          params({ ratio: 0.25, criterion: file.startsWith('ppocr') ? 'bn' : 'l1' }),
          ctx,
        );
        checkModel(r.model);
        const out = r.model.encode();
        const feeds = feedsFor(m, dims);
        const a = await outputs(ctx, bytes, feeds);
        const b2 = await outputs(ctx, out, feeds);
        expect(b2.map((o) => o.dims)).toEqual(a.map((o) => o.dims));
        expect(out.byteLength).toBeLessThan(bytes.byteLength * 0.75);
        console.log(
          `prune-channels 25% ${file}: ${bytes.byteLength} → ${out.byteLength} B (gzip ${gzipSync(bytes, { level: 6 }).byteLength} → ${gzipSync(out, { level: 6 }).byteLength}), output change ${(relativeError(a, b2) * 100).toFixed(1)}% of max; ${r.notes.join('; ')}`,
        );
      }
    },
  );

  it.skipIf(!hasSharedModels || !hasMnist)(
    'mnist-8 accuracy after removing 10% and 25% of its channels',
    async () => {
      const data = mnistTest(1000);
      const bytes = readBytes(path.join(sharedModelsDir, 'mnist-8.onnx'));
      const acc: number[] = [];
      for (const ratio of [0.1, 0.25]) {
        const r = await pruneChannels.run(Model.decode(bytes), params({ ratio }), ctx);
        acc.push(await mnistAccuracy(ctx.runtime, r.model.encode(), data));
      }
      console.log(`mnist-8 top-1 on 1000 test images after channel pruning: 10% ${acc[0]}, 25% ${acc[1]}`);
      expect(acc[0]).toBeGreaterThan(0.95);
      expect(acc[1]).toBeGreaterThan(0.85);
    },
  );
});
