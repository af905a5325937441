import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { checkModel } from '../onnx/validate';
import { simplify } from './simplify';
import { feedsFor, outputs, testContext } from './testing/harness';

const ctx = testContext();

describe('simplify: layout chains and duplicate constants', () => {
  it('removes no-op Reshape/Transpose/Cast and merges chains, with identical outputs', async () => {
    const b = new GraphBuilder('layout');
    const x = b.input('x', DataType.FLOAT, [2, 3, 4]);
    const same = b.op(
      'Reshape',
      [x, b.initializer('s_same', DataType.INT64, [3], [2, 3, 4])],
      {},
      'reshape_same',
    );
    const r1 = b.op('Reshape', [same, b.initializer('s1', DataType.INT64, [2], [6, 4])], {}, 'reshape1');
    const r2 = b.op('Reshape', [r1, b.initializer('s2', DataType.INT64, [3], [4, 3, 2])], {}, 'reshape2');
    const t1 = b.op('Transpose', [r2], { perm: [1, 0, 2] }, 't1');
    const t2 = b.op('Transpose', [t1], { perm: [1, 0, 2] }, 't2');
    const t3 = b.op('Transpose', [t2], { perm: [0, 1, 2] }, 't_identity');
    const c1 = b.op('Cast', [t3], { to: DataType.DOUBLE }, 'to_double');
    const c2 = b.op('Cast', [c1], { to: DataType.FLOAT }, 'back_to_float');
    const lossy = b.op(
      'Cast',
      [b.op('Cast', [c2], { to: DataType.INT32 }, 'to_int')],
      { to: DataType.FLOAT },
      'lossy_back',
    );
    b.node('Add', [lossy, c2], {}, { name: 'add', outputs: ['y'] });
    b.output('y', DataType.FLOAT, [4, 3, 2]);
    const m = b.model({ opset: 13 });
    const r = await simplify.run(m, {}, ctx);
    checkModel(r.model);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual(['Reshape', 'Cast', 'Cast', 'Add']);
    expect(r.notes.join('\n')).toMatch(/removed or merged 7 no-op Reshape\/Transpose\/Cast nodes/);
    const feeds = feedsFor(m);
    const a = await outputs(ctx, m, feeds);
    const c = await outputs(ctx, r.model, feeds);
    expect(c[0].data).toEqual(a[0].data);
  });

  it('merges identical initializers and Constant nodes, but not overridable ones', async () => {
    const b = new GraphBuilder('dups');
    const x = b.input('x', DataType.FLOAT, [3]);
    const w = [0.5, -1, 2];
    const a = b.op('Mul', [x, b.initializer('w_a', DataType.FLOAT, [3], w)], {}, 'mul_a');
    const c = b.op('Mul', [a, b.initializer('w_b', DataType.FLOAT, [3], w)], {}, 'mul_b');
    const k1 = b.op('Constant', [], { value: b.graph().initializer[0] }, 'const1');
    const k2 = b.op('Constant', [], { value: b.graph().initializer[0] }, 'const2');
    const d = b.op('Add', [b.op('Add', [c, k1], {}, 'add1'), k2], {}, 'add2');
    b.input('w_c', DataType.FLOAT, [3]);
    b.initializer('w_c', DataType.FLOAT, [3], w);
    b.node('Sub', [d, 'w_c'], {}, { name: 'sub', outputs: ['y'] });
    b.output('y', DataType.FLOAT, [3]);
    const m = b.model({ opset: 13 });
    const r = await simplify.run(m, {}, ctx);
    checkModel(r.model);
    expect([...r.model.graph.initializers.keys()].sort()).toEqual(['w_a', 'w_c']);
    expect(r.model.graph.nodes.filter((n) => n.opType === 'Constant')).toHaveLength(0);
    expect(r.notes.join('\n')).toMatch(/merged 3 duplicate constants/);
    const feeds = feedsFor(m);
    expect((await outputs(ctx, r.model, feeds))[0].data).toEqual((await outputs(ctx, m, feeds))[0].data);
  });
});
