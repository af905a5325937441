import { describe, expect, it } from 'vitest';
import { collapsedView, groupGraph } from '../../graph/grouping';
import { GraphBuilder } from '../../onnx/builder';
import { DataType } from '../../onnx/dtype';
import { summarizeGraph } from '../../onnx/summary';
import { neighbourIndex, tensorFacts, tensorHighlight } from './tensorSelection';

/**
 * x → /stem/conv → /stem/relu → {/head/mul, /head/add} → /head/out(Sub) → y; /head/add also reads x.
 * Groups: /stem (2 nodes) and /head (3 nodes).
 */
function model() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 1, 4, 4]);
  const w = b.initializer('w', DataType.FLOAT, [1, 1, 1, 1], [2]);
  const c = b.node('Conv', [x, w], {}, { name: '/stem/conv', outputs: ['c'] })[0];
  const r = b.node('Relu', [c], {}, { name: '/stem/relu', outputs: ['r'] })[0];
  const m = b.node('Mul', [r, r], {}, { name: '/head/mul', outputs: ['m'] })[0];
  const a = b.node('Add', [r, x], {}, { name: '/head/add', outputs: ['a'] })[0];
  b.node('Sub', [m, a], {}, { name: '/head/out', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 1, 4, 4]);
  return summarizeGraph(b.model().graph);
}

describe('tensor highlight', () => {
  const summary = model();
  const grouping = groupGraph(summary);
  const index = neighbourIndex(summary);
  const id = (name: string) => summary.nodes.find((n) => n.name === name)!.id;

  it('marks the producer, the consumers and only the edges carrying the tensor', () => {
    const view = collapsedView(summary, grouping, new Set(grouping.groups.keys()));
    const h = tensorHighlight(index, view, 'r');
    expect(h.items).toEqual(
      new Map([
        [id('/head/mul'), 'consumer'],
        [id('/head/add'), 'consumer'],
        [id('/stem/relu'), 'producer'],
      ]),
    );
    const carried = view.summary.edges.filter((e) => h.edges.has(e.id));
    expect(carried.map((e) => [e.source, e.target, e.tensor])).toEqual([
      [id('/stem/relu'), id('/head/mul'), 'r'],
      [id('/stem/relu'), id('/head/add'), 'r'],
    ]);
  });

  it('counts graph inputs and outputs as ends', () => {
    const view = collapsedView(summary, grouping, new Set(grouping.groups.keys()));
    const x = tensorHighlight(index, view, 'x');
    expect(x.items.get('in:x')).toBe('producer');
    expect([...x.items.values()].filter((r) => r === 'consumer')).toHaveLength(2);
    expect(x.edges.size).toBe(2);
    const y = tensorHighlight(index, view, 'y');
    expect(y.items).toEqual(
      new Map([
        ['out:y', 'consumer'],
        [id('/head/out'), 'producer'],
      ]),
    );
    expect(y.edges.size).toBe(1);
  });

  it('highlights a collapsed group standing for the consumers, and the merged edge into it', () => {
    const view = collapsedView(summary, grouping, new Set(['g:/stem']));
    expect(view.groups.has('g:/head')).toBe(true);
    const h = tensorHighlight(index, view, 'r');
    expect(h.items).toEqual(
      new Map([
        ['g:/head', 'consumer'],
        [id('/stem/relu'), 'producer'],
      ]),
    );
    const carried = view.summary.edges.filter((e) => h.edges.has(e.id));
    expect(carried.map((e) => [e.source, e.target])).toEqual([[id('/stem/relu'), 'g:/head']]);
  });

  it('marks nothing inside a group that holds both ends', () => {
    const view = collapsedView(summary, grouping, new Set());
    const h = tensorHighlight(index, view, 'm');
    expect(h.items).toEqual(new Map([['g:/head', 'producer']]));
    expect(h.edges.size).toBe(0);
    expect(tensorHighlight(index, view, 'no such tensor').items.size).toBe(0);
  });

  it('tells the type and shape of a tensor', () => {
    expect(tensorFacts(summary, 'r')).toEqual({ dtype: 'float', shape: [1, 1, 4, 4] });
    expect(tensorFacts(summary, 'x')).toEqual({ dtype: 'float', shape: [1, 1, 4, 4] });
    expect(tensorFacts(summary, 'nothing')).toEqual({ dtype: null, shape: null });
  });
});
