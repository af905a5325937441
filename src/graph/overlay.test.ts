import { describe, expect, it } from 'vitest';
import { GraphBuilder, makeAttr } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { makeTensor } from '../onnx/tensor';
import { summarizeGraph } from '../onnx/summary';
import { pruneMagnitude } from '../passes/pruneMagnitude';
import { quantizeDynamic, quantizeDynamicParams } from '../passes/quantizeDynamic';
import { simplify } from '../passes/simplify';
import { testMlp } from '../passes/testing/models';
import { testContext } from '../passes/testing/harness';
import {
  compareOverlays,
  detailBits,
  detailSparsity,
  diffGraphs,
  overlayByNodeId,
  stageOverlay,
} from './overlay';

function chain() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 2]);
  const w = b.initializer('w', DataType.FLOAT, [2, 2], [1, 2, 3, 4]);
  const m = b.node('MatMul', [x, w], {}, { name: 'mm', outputs: ['h'] })[0];
  const i = b.node('Identity', [m], {}, { name: 'id', outputs: ['hi'] })[0];
  const s = b.node('Softmax', [i], { axis: -1 }, { name: 'sm', outputs: ['p'] })[0];
  b.node('Relu', [s], {}, { outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 2]);
  return b.model();
}

describe('graph diff', () => {
  it('finds no change between a model and its copy', () => {
    const m = chain();
    const d = diffGraphs(m.graph, m.clone().graph);
    expect(d).toEqual({ removed: [], added: [], changed: [], unchanged: 4 });
  });

  it('tells removed, added and changed nodes apart, by name and by content', () => {
    const before = chain();
    const after = before.clone();
    const g = after.graph;
    g.bypassNode(g.nodes.find((n) => n.name === 'id')!);
    g.nodes.find((n) => n.name === 'sm')!.setAttribute(makeAttr('axis', 1));
    g.addInitializer(makeTensor('w', DataType.FLOAT, [2, 2], [1, 2, 3, 5]));
    g.addNode({ opType: 'Neg', inputs: ['y'], outputs: ['z'], name: 'neg' });
    const d = diffGraphs(before.graph, g);
    expect(d.removed).toEqual(['id']);
    expect(d.added).toEqual(['neg']);
    expect(d.changed).toEqual([
      { node: 'mm', reasons: ['weight w'] },
      { node: 'sm', reasons: ['inputs', 'attributes'] },
    ]);
    // The unnamed Relu is matched by its first output.
    expect(d.unchanged).toBe(1);
  });
});

describe('stage overlay', () => {
  it('reads bit widths and sparsity from change details', () => {
    expect(detailBits('int8')).toBe(8);
    expect(detailBits('uint8')).toBe(8);
    expect(detailBits('int4')).toBe(4);
    expect(detailBits('fp16')).toBe(16);
    expect(detailBits('16 shared values (4-bit indices), weight SQNR 30.1 dB')).toBe(4);
    expect(detailBits('bias folded')).toBeUndefined();
    expect(detailSparsity('87.5%')).toBe(87.5);
    expect(detailSparsity('3 of 8 channels removed')).toBe(37.5);
    expect(detailSparsity(undefined)).toBeUndefined();
  });

  it('combines a stage’s records with the diff, the most specific kind winning', () => {
    const o = stageOverlay(
      {
        removed: ['a'],
        added: ['q'],
        changed: [
          { node: 'b', reasons: ['inputs'] },
          { node: 'c', reasons: ['op type'] },
        ],
        unchanged: 0,
      },
      [
        { node: 'b', kind: 'quantized', detail: 'int8' },
        { node: 'a', kind: 'removed', detail: 'Identity bypassed' },
      ],
    );
    expect(o.get('b')).toEqual({ node: 'b', kind: 'quantized', bits: 8, details: ['int8', 'inputs'] });
    expect(o.get('a')).toEqual({ node: 'a', kind: 'removed', details: ['Identity bypassed'] });
    expect(o.get('q')?.kind).toBe('added');
    expect(o.get('c')?.kind).toBe('changed');
  });

  it('shows what real stages did: simplify, prune, quantize', async () => {
    const ctx = testContext();
    const m = chain();
    const s = await simplify.run(m, {}, ctx);
    const so = stageOverlay(diffGraphs(m.graph, s.model.graph), s.changes);
    expect(so.get('id')?.kind).toBe('removed');
    const beforeIds = overlayByNodeId(summarizeGraph(m.graph), so);
    expect(beforeIds.get('n1')?.kind).toBe('removed');

    const mlp = testMlp();
    const pruned = await pruneMagnitude.run(mlp, pruneMagnitude.params.parse({ sparsity: 0.5 }), ctx);
    const po = stageOverlay(diffGraphs(mlp.graph, pruned.model.graph), pruned.changes);
    const prunedNodes = [...po.values()].filter((o) => o.kind === 'pruned');
    expect(prunedNodes.length).toBeGreaterThan(0);
    for (const p of prunedNodes) expect(p.sparsity).toBeGreaterThan(40);

    const q = await quantizeDynamic.run(mlp, quantizeDynamicParams.parse({}), ctx);
    const qo = stageOverlay(diffGraphs(mlp.graph, q.model.graph), q.changes);
    const quantized = [...qo.values()].filter((o) => o.kind === 'quantized');
    expect(quantized.length).toBeGreaterThan(0);
    expect(quantized.every((o) => o.bits === 8)).toBe(true);
    expect([...qo.values()].some((o) => o.kind === 'added')).toBe(true);
  });
});

describe('compare overlays', () => {
  it('marks removed and changed nodes on the earlier graph, added and changed ones on the later', () => {
    const before = chain();
    const after = before.clone();
    const g = after.graph;
    g.bypassNode(g.nodes.find((n) => n.name === 'id')!);
    g.nodes.find((n) => n.name === 'sm')!.setAttribute(makeAttr('axis', 1));
    g.addNode({ opType: 'Neg', inputs: ['y'], outputs: ['z'], name: 'neg' });
    const a = summarizeGraph(before.graph);
    const b = summarizeGraph(g);
    const o = compareOverlays(a, b, diffGraphs(before.graph, g), [
      { node: 'mm', kind: 'quantized', detail: 'int8' },
      // A record calling a node removed that is still there is not believed: it shows as changed.
      { node: 'sm', kind: 'removed', detail: 'said so' },
    ]);
    const kinds = (summary: typeof a, m: typeof o.before) =>
      Object.fromEntries([...m].map(([id, x]) => [summary.nodes.find((n) => n.id === id)!.name, x.kind]));
    expect(kinds(a, o.before)).toEqual({ mm: 'quantized', id: 'removed', sm: 'changed' });
    expect(kinds(b, o.after)).toEqual({ mm: 'quantized', sm: 'changed', neg: 'added' });
    expect(o.before.get(a.nodes.find((n) => n.name === 'mm')!.id)?.bits).toBe(8);
    // Keyed by each graph's own ids: `neg` is the last node of the later graph only.
    expect(o.after.has(`n${b.nodes.length - 1}`)).toBe(true);
    expect([...o.before.keys()].every((id) => Number(id.slice(1)) < a.nodes.length)).toBe(true);
  });

  it('marks nothing between a graph and its copy', () => {
    const m = chain();
    const s = summarizeGraph(m.graph);
    const o = compareOverlays(s, s, diffGraphs(m.graph, m.clone().graph));
    expect(o.before.size + o.after.size).toBe(0);
  });
});
