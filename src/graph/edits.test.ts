import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import type { Model } from '../onnx/ir';
import { inferShapes } from '../onnx/shapes';
import { runOrtNode } from '../test/fixtures';
import { applyEdits, GraphEditError, graphEditSchema, type GraphEdit } from './edits';
import { transformerModel } from './testing/transformer';

/**
 * x[N,3] → mm(MatMul w) → h[N,4] → relu → r → pass(Identity) → p → leaky(LeakyRelu) → y[N,4]
 * h → side(Sigmoid) → s (dead end, not an output); h → reshape → z[N,2,2] (output).
 */
function model(): Model {
  const b = new GraphBuilder('edits');
  const x = b.input('x', DataType.FLOAT, ['N', 3]);
  const w = b.initializer('w', DataType.FLOAT, [3, 4], [1, -2, 3, -4, 5, -6, 7, -8, 9, -1, 2, -3]);
  const shape = b.initializer('shape', DataType.INT64, [3], [-1, 2, 2]);
  const h = b.node('MatMul', [x, w], {}, { name: 'mm', outputs: ['h'] })[0];
  const r = b.node('Relu', [h], {}, { name: 'relu', outputs: ['r'] })[0];
  const p = b.node('Identity', [r], {}, { name: 'pass', outputs: ['p'] })[0];
  b.node('LeakyRelu', [p], { alpha: 0.1 }, { name: 'leaky', outputs: ['y'] });
  b.node('Sigmoid', [h], {}, { name: 'side', outputs: ['s'] });
  b.node('Reshape', [h, shape], {}, { name: 'reshape', outputs: ['z'] });
  b.output('y', DataType.FLOAT, ['N', 4]);
  b.output('z', DataType.FLOAT, ['N', 2, 2]);
  return b.model({ opset: 17 });
}

const feed = (n = 2) =>
  new ort.Tensor(
    'float32',
    Float32Array.from({ length: n * 3 }, (_, i) => i / 3 - 1),
    [n, 3],
  );

async function run(m: Model, n = 2) {
  const out = await runOrtNode(m.encode(), { [m.graph.feedInputs()[0].name]: feed(n) });
  return Object.fromEntries(
    Object.entries(out).map(([k, v]) => [k, { dims: [...v.dims], data: Array.from(v.data as Float32Array) }]),
  );
}

function edit(m: Model, ...edits: GraphEdit[]) {
  return applyEdits(
    m,
    edits.map((e) => graphEditSchema.parse(e)),
  );
}

function refusal(m: Model, e: GraphEdit): string {
  try {
    edit(m, e);
  } catch (err) {
    expect(err).toBeInstanceOf(GraphEditError);
    return (err as Error).message;
  }
  throw new Error('the edit was not refused');
}

describe('graph edits', () => {
  it('fixes a batch size everywhere the symbolic dim appears', async () => {
    const m = model();
    edit(m, { kind: 'set-input-dims', input: 'x', dims: [2, 3] });
    expect(m.graph.valueShape('x')).toEqual([2, 3]);
    expect(m.graph.valueShape('y')).toEqual([2, 4]);
    expect(m.graph.valueShape('z')).toEqual([2, 2, 2]);
    expect(inferShapes(m.graph).get('s')?.shape).toEqual([2, 4]);
    expect((await run(m)).y.dims).toEqual([2, 4]);
    await expect(run(m, 3)).rejects.toThrow();
  });

  it('names a symbolic dim', async () => {
    const m = model();
    edit(m, { kind: 'set-input-dims', input: 'x', dims: ['batch', 3] });
    expect(m.graph.valueShape('x')).toEqual(['batch', 3]);
    expect(m.graph.valueShape('y')).toEqual(['batch', 4]);
    expect((await run(m, 5)).y.dims).toEqual([5, 4]);
  });

  it('refuses input dims for an unknown input or of the wrong rank', () => {
    expect(refusal(model(), { kind: 'set-input-dims', input: 'w', dims: [3, 4] })).toBe(
      'Edit 1 (set input "w" dims to [3, 4]) refused: "w" is not a graph input',
    );
    expect(refusal(model(), { kind: 'set-input-dims', input: 'x', dims: [1] })).toMatch(
      /has 2 dims, the edit gives 1/,
    );
  });

  it('renames tensors (intermediate, weight, graph output) and keeps the results', async () => {
    const m = model();
    const before = await run(m);
    const { changes } = edit(
      m,
      { kind: 'rename-tensor', from: 'h', to: 'hidden' },
      { kind: 'rename-tensor', from: 'w', to: 'fc.weight' },
      { kind: 'rename-tensor', from: 'y', to: 'logits' },
    );
    expect(m.graph.producer('hidden')?.name).toBe('mm');
    expect(m.graph.consumers('hidden').map((n) => n.name)).toEqual(['relu', 'side', 'reshape']);
    expect([...m.graph.initializers.keys()]).toEqual(['fc.weight', 'shape']);
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['logits', 'z']);
    expect(changes.filter((c) => c.detail?.includes('"h"')).map((c) => c.node)).toEqual([
      'mm',
      'relu',
      'side',
      'reshape',
    ]);
    const after = await run(m);
    expect(after.logits).toEqual(before.y);
    expect(after.z).toEqual(before.z);
  });

  it('refuses a tensor rename onto a used name or from an unknown tensor', () => {
    expect(refusal(model(), { kind: 'rename-tensor', from: 'h', to: 'r' })).toMatch(/"r" is already used/);
    expect(refusal(model(), { kind: 'rename-tensor', from: 'nope', to: 'q' })).toMatch(/no tensor "nope"/);
  });

  it('renames a node unless the name is taken', () => {
    const m = model();
    edit(m, { kind: 'rename-node', node: 'relu', to: '/block/Relu' });
    expect(m.graph.nodes[1].name).toBe('/block/Relu');
    expect(refusal(m, { kind: 'rename-node', node: 'mm', to: 'side' })).toBe(
      'Edit 1 (rename node "mm" to "side") refused: another node is already named "side"',
    );
    expect(refusal(m, { kind: 'rename-node', node: 'relu', to: 'x2' })).toMatch(/no node "relu"/);
  });

  it('sets an attribute keeping its type, and refuses a value of another type', async () => {
    const m = model();
    // LeakyRelu reads MatMul's output directly (negative values included), then alpha changes to 2.
    edit(
      m,
      { kind: 'delete-node', node: 'relu', replacement: 'h' },
      { kind: 'set-attribute', node: 'leaky', name: 'alpha', value: 2 },
    );
    const alpha = m.graph.nodes.find((n) => n.name === 'leaky')!.attribute('alpha')!;
    expect(alpha.f).toBe(2);
    expect(alpha.i).toBe(0n);
    const out = await run(m);
    const x = Array.from(feed().data as Float32Array);
    const w = [1, -2, 3, -4, 5, -6, 7, -8, 9, -1, 2, -3];
    const h = [0, 1].flatMap((r) =>
      [0, 1, 2, 3].map((c) => [0, 1, 2].reduce((s, k) => s + x[r * 3 + k] * w[k * 4 + c], 0)),
    );
    expect(h.some((v) => v < 0)).toBe(true);
    out.y.data.forEach((v, i) => expect(v).toBeCloseTo(h[i] >= 0 ? h[i] : 2 * h[i], 5));
    expect(refusal(model(), { kind: 'set-attribute', node: 'leaky', name: 'alpha', value: 'big' })).toMatch(
      /attribute alpha is of type float/,
    );
  });

  it('bypasses a pass-through node and keeps the results', async () => {
    const m = model();
    const before = await run(m);
    const { changes } = edit(m, { kind: 'bypass-node', node: 'pass', input: 0 });
    expect(m.graph.nodes.map((n) => n.name)).not.toContain('pass');
    expect(changes).toContainEqual({ node: 'pass', kind: 'removed', detail: 'bypassed' });
    expect(await run(m)).toEqual(before);
  });

  it('refuses to bypass a node that changes the shape', () => {
    expect(refusal(model(), { kind: 'bypass-node', node: 'reshape', input: 0 })).toBe(
      'Edit 1 (bypass node "reshape") refused: its input "h" has shape [N, 4] but its output "z" has [N, 2, 2]',
    );
  });

  it('refuses to delete a node whose output is read, unless a same-shaped replacement is given', async () => {
    const message = refusal(model(), { kind: 'delete-node', node: 'relu' });
    expect(message).toBe(
      'Edit 1 (delete node "relu") refused: its output "r" is read by 1 node(s) ("pass"); give a replacement tensor of the same shape',
    );
    expect(refusal(model(), { kind: 'delete-node', node: 'relu', replacement: 'z' })).toMatch(
      /replacement "z" has shape \[N, 2, 2\], the output "r" has \[N, 4\]/,
    );
    expect(refusal(model(), { kind: 'delete-node', node: 'reshape' })).toMatch(
      /output "z" is a graph output/,
    );
    const m = model();
    const { changes } = edit(m, { kind: 'delete-node', node: 'relu', replacement: 's' });
    expect(m.graph.consumers('s').map((n) => n.name)).toEqual(['pass']);
    expect(changes).toContainEqual({ node: 'relu', kind: 'removed', detail: 'deleted' });
    const out = await run(m);
    expect(out.y.data.every((v) => v > 0 && v < 1)).toBe(true);
  });

  it('deletes an unread node and the dead code it leaves', async () => {
    const m = model();
    edit(m, { kind: 'delete-node', node: 'side' });
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['mm', 'relu', 'pass', 'leaky', 'reshape']);
    await run(m);
  });

  it('cuts the graph at chosen outputs and removes what no longer reaches them', async () => {
    const m = model();
    const before = await run(m);
    const { changes } = edit(m, { kind: 'cut-graph', outputs: ['r', 'z'] });
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['r', 'z']);
    expect(m.graph.valueShape('r')).toEqual(['N', 4]);
    expect(m.graph.nodes.map((n) => n.name)).toEqual(['mm', 'relu', 'reshape']);
    expect(changes.filter((c) => c.kind === 'removed').map((c) => c.node)).toEqual(['pass', 'leaky', 'side']);
    const after = await run(m);
    expect(after.z).toEqual(before.z);
    expect(after.r.data).toEqual(before.z.data.map((v) => Math.max(0, v)));
    expect(refusal(model(), { kind: 'cut-graph', outputs: ['w'] })).toMatch(/no computed tensor "w"/);
  });

  it('names the failing edit in a sequence', () => {
    expect(() =>
      edit(model(), { kind: 'rename-node', node: 'mm', to: 'first' }, { kind: 'delete-node', node: 'first' }),
    ).toThrow(/^Edit 2 \(delete node "first"\) refused: its output "h" is read by 3 node\(s\)/);
  });

  it('cuts a generated transformer after its first layer and the result runs', async () => {
    const m = transformerModel({ layers: 3, heads: 2 });
    const cut = '/encoder/layer.0/output/LayerNorm/Add_1_output_0';
    edit(
      m,
      { kind: 'cut-graph', outputs: [cut] },
      { kind: 'set-input-dims', input: 'input_ids', dims: [1, 'sequence'] },
    );
    expect(m.graph.nodes.every((n) => !n.name.startsWith('/encoder/layer.1'))).toBe(true);
    const out = await runOrtNode(m.encode(), {
      input_ids: new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 4n]), [1, 4]),
    });
    expect(out[cut].dims).toEqual([1, 4, 4]);
  });
});
