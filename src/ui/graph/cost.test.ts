import { describe, expect, it } from 'vitest';
import { collapsedView, groupGraph } from '../../graph/grouping';
import { GraphBuilder } from '../../onnx/builder';
import { DataType } from '../../onnx/dtype';
import { summarizeGraph } from '../../onnx/summary';
import { costLabel, itemCosts } from './cost';

/** /a/mm (MatMul 4×8 weight) → /a/relu → /b/mm (8×2) → /b/relu → y. */
function model() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const w1 = b.initializer('w1', DataType.FLOAT, [4, 8], new Float32Array(32));
  const w2 = b.initializer('w2', DataType.FLOAT, [8, 2], new Float32Array(16));
  const h = b.node('MatMul', [x, w1], {}, { name: '/a/mm', outputs: ['h'] })[0];
  const r = b.node('Relu', [h], {}, { name: '/a/relu', outputs: ['r'] })[0];
  const o = b.node('MatMul', [r, w2], {}, { name: '/b/mm', outputs: ['o'] })[0];
  b.node('Relu', [o], {}, { name: '/b/relu', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 2]);
  return summarizeGraph(b.model().graph);
}

describe('item costs', () => {
  const summary = model();
  const grouping = groupGraph(summary);
  const macs = Float64Array.from([32, 0, 16, 0]);

  it('gives each visible node its own MACs and parameters', () => {
    const view = collapsedView(summary, grouping, new Set(grouping.groups.keys()));
    const costs = itemCosts(summary, macs, view.itemOf);
    expect(costs.get('n0')).toEqual({ macs: 32, params: 32, partial: false });
    expect(costs.get('n1')).toEqual({ macs: 0, params: 0, partial: false });
    expect(costs.get('n2')).toEqual({ macs: 16, params: 16, partial: false });
  });

  it('sums a collapsed group over the nodes inside it, and says when some MACs are unknown', () => {
    const view = collapsedView(summary, grouping, new Set());
    const costs = itemCosts(summary, Float64Array.from([32, 0, NaN, 0]), view.itemOf);
    expect([...costs.keys()].sort()).toEqual(['g:/a', 'g:/b']);
    expect(costs.get('g:/a')).toEqual({ macs: 32, params: 32, partial: false });
    expect(costs.get('g:/b')).toEqual({ macs: 0, params: 16, partial: true });
  });

  it('labels costs compactly and leaves free nodes unlabelled', () => {
    expect(costLabel({ macs: 1_234_567, params: 46_000, partial: false })).toBe(
      '1.23 M MACs · 46.0 k params',
    );
    expect(costLabel({ macs: 32, params: 0, partial: false })).toBe('32 MACs');
    expect(costLabel({ macs: 0, params: 16, partial: true })).toBe('? MACs · 16 params');
    expect(costLabel({ macs: 5, params: 0, partial: true })).toBe('≥ 5 MACs');
    expect(costLabel({ macs: 0, params: 0, partial: false })).toBeNull();
  });
});
