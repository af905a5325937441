import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { checkModel } from '../onnx/validate';
import { seededRandom } from '../runtime/inputs';
import { foldBatchNorm } from './foldBatchNorm';
import { testMlp } from './testing/models';
import { feedsFor, outputs, relativeError, testContext } from './testing/harness';

const ctx = testContext();
const rand = seededRandom(21);
const randoms = (n: number, lo = -1, hi = 1) =>
  Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

function bn(b: GraphBuilder, x: string, c: number, name: string, output?: string) {
  const p = (k: string, lo: number, hi: number) =>
    b.initializer(`${name}.${k}`, DataType.FLOAT, [c], randoms(c, lo, hi));
  return b.node(
    'BatchNormalization',
    [x, p('scale', 0.5, 1.5), p('bias', -1, 1), p('mean', -1, 1), p('var', 0.1, 2)],
    { epsilon: attr.float(1e-3) },
    { name, outputs: output ? [output] : 1 },
  )[0];
}

describe('fold-batchnorm: MatMul', () => {
  it('folds BN into MatMul and MatMul + bias Add, which become Gemm', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [4, 16]);
    const m1 = b.op('MatMul', [x, b.initializer('w1', DataType.FLOAT, [16, 8], randoms(128))], {}, 'mm1');
    const h = b.op('Relu', [bn(b, m1, 8, 'bn1')], {}, 'relu');
    const m2 = b.op('MatMul', [h, b.initializer('w2', DataType.FLOAT, [8, 6], randoms(48))], {}, 'mm2');
    const a2 = b.op('Add', [b.initializer('b2', DataType.FLOAT, [6], randoms(6)), m2], {}, 'bias2');
    bn(b, a2, 6, 'bn2', 'y');
    b.output('y', DataType.FLOAT, [4, 6]);
    const m = b.model({ opset: 13 });
    const r = await foldBatchNorm.run(m.clone(), {}, ctx);
    checkModel(r.model);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Relu', 'Gemm']);
    expect(r.notes[0]).toBe('folded 2 BatchNormalization nodes');
    const feeds = feedsFor(m);
    expect(relativeError(await outputs(ctx, m, feeds), await outputs(ctx, r.model, feeds))).toBeLessThan(
      1e-5,
    );
  });

  it('fuses MatMul + Add into Gemm without BN, and leaves a 3-D MatMul BN alone', async () => {
    const mlp = testMlp();
    const r = await foldBatchNorm.run(mlp.clone(), {}, ctx);
    checkModel(r.model);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm']);
    expect(r.notes).toContain('fused 3 MatMul + Add pairs into Gemm');
    const feeds = feedsFor(mlp);
    expect(relativeError(await outputs(ctx, mlp, feeds), await outputs(ctx, r.model, feeds))).toBeLessThan(
      1e-6,
    );

    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 5, 4]);
    const mm = b.op('MatMul', [x, b.initializer('w', DataType.FLOAT, [4, 5], randoms(20))], {}, 'mm');
    bn(b, mm, 5, 'bn', 'y');
    b.output('y', DataType.FLOAT, [2, 5, 5]);
    const r3 = await foldBatchNorm.run(b.model({ opset: 13 }), {}, ctx);
    expect(r3.model.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'BatchNormalization']);
    expect(r3.notes.join('\n')).toMatch(/kept 1: the MatMul output is not 2-D/);
  });
});
