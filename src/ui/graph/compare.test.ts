import { describe, expect, it } from 'vitest';
import type { GraphSummary, NodeSummary } from '../../onnx/summary';
import type { StageResultSummary } from '../../worker/pipelineService';
import { changesBetween, compareChoices, matchingNode, shownGraph } from './compare';

function result(index: number, status: StageResultSummary['status'], changes: string[]): StageResultSummary {
  return {
    index,
    stage: index === 0 ? null : `stage-${index}`,
    title: index === 0 ? 'Original' : `Stage ${index}`,
    params: {},
    status,
    notes: [],
    changes: changes.map((node) => ({ node, kind: 'changed' })),
    cached: false,
    runMs: 0,
  };
}

function graph(nodes: Partial<NodeSummary>[]): GraphSummary {
  return {
    nodes: nodes.map((n, i) => ({
      id: `n${i}`,
      name: '',
      opType: 'Relu',
      domain: '',
      category: 'activation',
      inputs: [],
      outputs: [],
      weights: [],
      subgraphs: 0,
      parameters: 0,
      ...n,
    })),
    edges: [],
    inputs: [],
    outputs: [],
  };
}

describe('stage comparison', () => {
  const results = [
    result(2, 'done', ['c']),
    result(0, 'done', []),
    result(1, 'done', ['a', 'b']),
    result(3, 'error', ['d']),
  ];

  it('offers the original and the stages that finished, in order', () => {
    expect(compareChoices(results)).toEqual([
      { index: 0, label: 'Original' },
      { index: 1, label: '1: Stage 1' },
      { index: 2, label: '2: Stage 2' },
    ]);
  });

  it('takes the change records of the stages between the two, forward only', () => {
    expect(changesBetween(results, 0, 2).map((c) => c.node)).toEqual(['a', 'b', 'c']);
    expect(changesBetween(results, 1, 2).map((c) => c.node)).toEqual(['c']);
    expect(changesBetween(results, 2, 1)).toEqual([]);
    expect(changesBetween(results, 1, 1)).toEqual([]);
  });

  it('finds the same node in the other graph by name, else by first output', () => {
    const before = graph([{ name: 'conv' }, { name: 'bn' }, { outputs: ['t'] }]);
    const after = graph([{ name: 'conv' }, { outputs: ['t'] }]);
    expect(matchingNode(before, after, 'n0')).toBe('n0');
    expect(matchingNode(before, after, 'n1')).toBeNull();
    expect(matchingNode(before, after, 'n2')).toBe('n1');
    expect(matchingNode(before, after, 'n9')).toBeNull();
  });

  it('knows which graph is on screen', () => {
    const opened = graph([{ name: 'a' }]);
    const stage = graph([{ name: 'b' }]);
    const to = graph([{ name: 'c' }]);
    expect(shownGraph({ comparison: null, stageView: null, graph: opened })).toBe(opened);
    expect(
      shownGraph({ comparison: null, stageView: { index: 1, title: 's', graph: stage }, graph: opened }),
    ).toBe(stage);
    const comparison = {
      from: 0,
      to: 1,
      side: 'to' as const,
      runId: 'r',
      graphs: { from: opened, to },
      overlays: { from: { caption: '', entries: {} }, to: { caption: '', entries: {} } },
      counts: { removed: 0, added: 0, changed: 0, unchanged: 1 },
    };
    expect(shownGraph({ comparison, stageView: null, graph: opened })).toBe(to);
  });
});
