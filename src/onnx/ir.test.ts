import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from './builder';
import { DataType } from './dtype';
import { Model, GraphCycleError } from './ir';
import { tensorArray } from './tensor';

function smallModel() {
  const b = new GraphBuilder('small');
  const x = b.input('x', DataType.FLOAT, ['N', 4]);
  const w = b.initializer(
    'w',
    DataType.FLOAT,
    [4, 3],
    new Float32Array(12).map((_, i) => (i - 6) / 10),
  );
  const bias = b.initializer('b', DataType.FLOAT, [3], [0.1, -0.2, 0.3]);
  const mm = b.op('MatMul', [x, w], {}, 'mm');
  const id = b.op('Identity', [mm], {}, 'id');
  const add = b.node('Add', [id, bias], {}, { name: 'add', outputs: ['y'] })[0];
  b.op('Relu', [add], {}, 'dead_relu');
  b.output(add, DataType.FLOAT, ['N', 3]);
  return b.model({ opset: 17 });
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>) {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run(feeds);
  await s.release();
  return out;
}

describe('IR', () => {
  it('indexes producers and consumers and sorts topologically', () => {
    const m = smallModel();
    const g = m.graph;
    expect(g.producer('y')?.name).toBe('add');
    expect(g.consumers('mm_out0').map((n) => n.name)).toEqual(['id']);
    expect(g.topologicalOrder().map((n) => n.name)).toEqual(['mm', 'id', 'add', 'dead_relu']);
    expect(Array.from(tensorArray(g.initializers.get('b')!) as Float32Array)).toEqual([
      Math.fround(0.1),
      Math.fround(-0.2),
      Math.fround(0.3),
    ]);
  });

  it('round-trips byte for byte through the IR when unchanged', () => {
    const bytes = smallModel().encode();
    expect(Buffer.from(Model.decode(bytes).encode()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('bypasses nodes and removes dead code while keeping outputs', async () => {
    const original = smallModel();
    const m = original.clone();
    m.graph.bypassNode(m.graph.nodes.find((n) => n.opType === 'Identity')!);
    expect(m.graph.removeDeadCode()).toEqual({ nodes: 1, initializers: 0 });
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 8 }, (_, i) => i - 3),
      [2, 4],
    );
    const a = await run(original.encode(), { x });
    const b = await run(m.encode(), { x });
    expect(Array.from(b.y.data as Float32Array)).toEqual(Array.from(a.y.data as Float32Array));
  });

  it('detects cycles', () => {
    const b = new GraphBuilder();
    b.input('x', DataType.FLOAT, [1]);
    b.node('Add', ['x', 'c'], {}, { outputs: ['a'], name: 'n1' });
    b.node('Relu', ['a'], {}, { outputs: ['c'], name: 'n2' });
    b.output('c', DataType.FLOAT, [1]);
    expect(() => b.model().graph.topologicalOrder()).toThrow(GraphCycleError);
  });
});
