import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { summarizeGraph } from '../onnx/summary';
import { collapsedView, groupGraph, initialExpanded } from './grouping';
import { revealMatch, searchGraph, stepMatch } from './search';
import { transformerModel } from './testing/transformer';

function small() {
  const b = new GraphBuilder();
  const x = b.input('pixels', DataType.FLOAT, [1, 4]);
  const w = b.initializer('fc.weight', DataType.FLOAT, [4, 4], new Float32Array(16));
  const h = b.node('MatMul', [x, w], {}, { name: '/fc/MatMul', outputs: ['/fc/MatMul_output_0'] })[0];
  const q = b.node('MatMulInteger', [h, h], {}, { name: 'mmi', outputs: ['q'] })[0];
  b.node('Relu', [q], {}, { name: '/act/Relu', outputs: ['logits'] });
  b.output('logits', DataType.FLOAT, [1, 4]);
  return summarizeGraph(b.model().graph);
}

describe('search', () => {
  const summary = small();

  it('matches op types exactly and names as case-insensitive substrings, in graph order', () => {
    const r = searchGraph(summary, 'matmul');
    // '/fc/MatMul' by name, its output tensor by name; MatMulInteger only if its name matched (it does not).
    expect(r.matches.map((m) => [m.kind, m.matchedBy, m.text])).toEqual([
      ['node', 'name', '/fc/MatMul'],
      ['tensor', 'tensor', '/fc/MatMul_output_0'],
    ]);
    expect(r.count).toBe(2);
    const byOp = searchGraph(summary, 'MATMULINTEGER');
    expect(byOp.matches.map((m) => [m.nodeId, m.matchedBy])).toEqual([['n1', 'op']]);
  });

  it('finds graph inputs and weights at their first reader', () => {
    const r = searchGraph(summary, 'PIXEL');
    expect(r.matches).toEqual([
      { kind: 'tensor', nodeId: 'n0', text: 'pixels', matchedBy: 'tensor', tensor: 'pixels', reveal: [] },
    ]);
    expect(searchGraph(summary, 'fc.weight').matches[0].nodeId).toBe('n0');
    expect(searchGraph(summary, '   ').count).toBe(0);
    expect(searchGraph(summary, 'nothing like this').count).toBe(0);
  });

  it('steps through matches with wrap-around', () => {
    const r = searchGraph(summary, 'matmul');
    expect(stepMatch(r, -1, 1)).toBe(0);
    expect(stepMatch(r, 0, 1)).toBe(1);
    expect(stepMatch(r, 1, 1)).toBe(0);
    expect(stepMatch(r, 0, -1)).toBe(1);
    expect(stepMatch(searchGraph(summary, 'zzz'), 0, 1)).toBe(-1);
  });

  it('reveals a deep match in a collapsed transformer', () => {
    const big = summarizeGraph(transformerModel({ layers: 24, heads: 4 }).graph);
    const grouping = groupGraph(big);
    const r = searchGraph(big, 'layer.17/attention/self/Softmax_3', grouping);
    // The node and its output tensor.
    expect(r.matches.map((m) => m.kind)).toEqual(['node', 'tensor']);
    const [match] = r.matches;
    expect(match.reveal[0]).toBe('g:/encoder');
    expect(match.reveal).toContain('g:/encoder/layer.17/attention/self');
    const before = collapsedView(big, grouping, initialExpanded(grouping));
    expect(before.itemOf(match.nodeId)).toBe('g:/encoder/layer.17');
    const after = collapsedView(big, grouping, revealMatch(initialExpanded(grouping), match));
    expect(after.itemOf(match.nodeId)).toBe(match.nodeId);
    expect(after.summary.nodes.some((n) => n.id === match.nodeId)).toBe(true);
    expect(searchGraph(big, 'Softmax', grouping).matches.filter((m) => m.kind === 'node')).toHaveLength(
      24 * 4,
    );
  });
});
