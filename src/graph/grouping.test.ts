import { describe, expect, it } from 'vitest';
import { Model } from '../onnx/ir';
import { summarizeGraph, type GraphSummary } from '../onnx/summary';
import { checkModel } from '../onnx/validate';
import { hasSharedModels, readBytes, sharedModelFiles } from '../test/fixtures';
import {
  collapsedView,
  findRepeats,
  groupGraph,
  groupPath,
  initialExpanded,
  namePath,
  type Grouping,
} from './grouping';
import { flatCnnModel, transformerModel } from './testing/transformer';

/** Every node sits in exactly one place, and group sizes add up. */
function expectPartition(summary: GraphSummary, grouping: Grouping) {
  const seen = new Set<string>(grouping.rootMembers);
  let placed = grouping.rootMembers.length;
  const sizeOf = (id: string): number => {
    const g = grouping.groups.get(id)!;
    for (const m of g.members) seen.add(m);
    placed += g.members.length;
    const inner = g.members.length + g.childGroups.reduce((s, c) => s + sizeOf(c), 0);
    expect(inner, id).toBe(g.size);
    for (const c of g.childGroups) expect(grouping.groups.get(c)!.parent).toBe(id);
    return inner;
  };
  for (const r of grouping.roots) sizeOf(r);
  expect(placed).toBe(summary.nodes.length);
  expect(seen.size).toBe(summary.nodes.length);
}

/** Edges join visible items, never an item to itself, and no pair touching a group twice. */
function expectViewEdges(view: ReturnType<typeof collapsedView>) {
  const ids = new Set(view.summary.nodes.map((n) => n.id));
  const pairs = new Set<string>();
  for (const e of view.summary.edges) {
    for (const end of [e.source, e.target])
      expect(ids.has(end) || end.startsWith('in:') || end.startsWith('out:'), end).toBe(true);
    expect(e.source).not.toBe(e.target);
    if (view.groups.has(e.source) || view.groups.has(e.target)) {
      expect(pairs.has(`${e.source}>${e.target}`)).toBe(false);
      pairs.add(`${e.source}>${e.target}`);
    }
  }
}

describe('grouping by name hierarchy', () => {
  const model = transformerModel({ layers: 24, heads: 36 });
  const summary = summarizeGraph(model.graph);
  const grouping = groupGraph(summary);

  it('generates a valid 24-layer transformer of 5,000–15,000 nodes', () => {
    expect(summary.nodes.length).toBeGreaterThan(5000);
    expect(summary.nodes.length).toBeLessThan(15000);
    expect(() => checkModel(model)).not.toThrow();
  });

  it('splits PyTorch names into group paths', () => {
    expect(namePath('/encoder/layer.3/attention/self/MatMul')).toEqual([
      'encoder',
      'layer.3',
      'attention',
      'self',
    ]);
    expect(namePath('MatMul_12')).toEqual([]);
    expect(namePath('/Identity')).toEqual([]);
  });

  it('builds encoder › layer.N › attention › self and places every node once', () => {
    expectPartition(summary, grouping);
    const layer3 = grouping.groups.get('g:/encoder/layer.3')!;
    expect(layer3.parent).toBe('g:/encoder');
    expect(layer3.label).toBe('layer.3');
    expect(layer3.size).toBe(summary.nodes.filter((n) => n.name.startsWith('/encoder/layer.3/')).length);
    expect(grouping.groups.get('g:/encoder')!.childGroups).toHaveLength(24);
    const matmul = summary.nodes.find((n) => n.name === '/encoder/layer.3/attention/self/query/MatMul')!;
    expect(groupPath(grouping, matmul.id)).toEqual([
      'g:/encoder',
      'g:/encoder/layer.3',
      'g:/encoder/layer.3/attention',
      'g:/encoder/layer.3/attention/self',
      'g:/encoder/layer.3/attention/self/query',
    ]);
    // '/Identity' has no path: it stays at the top level.
    expect(grouping.rootMembers.map((id) => summary.nodes[Number(id.slice(1))].name)).toEqual(['/Identity']);
  });

  it('starts large groups collapsed and shows the 24 layers as boxes', () => {
    const expanded = initialExpanded(grouping);
    expect(expanded.has('g:/encoder')).toBe(true);
    expect(expanded.has('g:/encoder/layer.0')).toBe(false);
    // Small groups (a LayerNorm of 11 nodes) start open.
    expect(expanded.has('g:/embeddings/LayerNorm')).toBe(true);
    const view = collapsedView(summary, grouping, expanded);
    const layerBoxes = view.summary.nodes.filter((n) => /^g:\/encoder\/layer\.\d+$/.test(n.id));
    expect(layerBoxes).toHaveLength(24);
    expect(view.summary.nodes.length).toBeLessThanOrEqual(60);
    expect(view.groups.get('g:/encoder/layer.5')!.size).toBe(grouping.groups.get('g:/encoder/layer.5')!.size);
    expect(view.groups.get('g:/encoder/layer.5')!.ops[0][1]).toBeGreaterThan(1);
    expect(view.parentOf.get('g:/encoder/layer.5')).toBe('g:/encoder');
    expectViewEdges(view);
    // Layer 4 feeds layer 5 (residual and attention input merge into one edge).
    const between = view.summary.edges.filter(
      (e) => e.source === 'g:/encoder/layer.4' && e.target === 'g:/encoder/layer.5',
    );
    expect(between).toHaveLength(1);
    expect(view.edgeTensors.get(between[0].id)).toBe(1);
  });

  it('shows the children of an expanded group and keeps the others collapsed', () => {
    const expanded = initialExpanded(grouping);
    expanded.add('g:/encoder/layer.3');
    const view = collapsedView(summary, grouping, expanded);
    const ids = new Set(view.summary.nodes.map((n) => n.id));
    expect(ids.has('g:/encoder/layer.3')).toBe(false);
    expect(ids.has('g:/encoder/layer.3/attention')).toBe(true);
    expect(ids.has('g:/encoder/layer.3/output')).toBe(true);
    expect(ids.has('g:/encoder/layer.4')).toBe(true);
    expectViewEdges(view);
    // Unrolled heads form a repeated block whose repetitions stay boxes until asked for.
    const self = grouping.groups.get('g:/encoder/layer.3/attention/self')!;
    const heads = grouping.groups.get(self.childGroups.find((c) => c.startsWith('r:'))!)!;
    expect(heads.childGroups).toHaveLength(36);
    expanded.add('g:/encoder/layer.3/attention').add(self.id).add(heads.id);
    const headsView = collapsedView(summary, grouping, expanded);
    expect(headsView.summary.nodes.filter((n) => n.id.startsWith(`${heads.id}#`))).toHaveLength(36);
    expect(headsView.summary.nodes.length).toBeLessThan(200);
    const all = collapsedView(summary, grouping, new Set(grouping.groups.keys()));
    expect(all.summary.nodes).toHaveLength(summary.nodes.length);
    expect(all.summary.edges).toHaveLength(summary.edges.length);
  });
});

describe('repeated-block detection', () => {
  it('finds runs of a repeated op sequence', () => {
    expect(findRepeats([9, 0, 1, 2, 0, 1, 2, 0, 1, 2, 5])).toEqual([{ start: 1, period: 3, repeats: 3 }]);
    expect(findRepeats([0, 1, 2, 3, 4, 5, 6, 7])).toEqual([]);
    // Two repetitions are not a pattern.
    expect(findRepeats([0, 1, 2, 0, 1, 2])).toEqual([]);
    expect(findRepeats([4, 4, 4, 4, 4, 4, 4])).toEqual([{ start: 0, period: 1, repeats: 7 }]);
  });

  it('groups a flat-named Conv-BN-Relu ×8 network into one block of 8 repetitions', () => {
    const summary = summarizeGraph(flatCnnModel(8).graph);
    const grouping = groupGraph(summary);
    expectPartition(summary, grouping);
    expect(grouping.roots).toHaveLength(1);
    const block = grouping.groups.get(grouping.roots[0])!;
    expect(block.kind).toBe('repeat');
    expect(block.label).toBe('Conv·BatchNormalization·Relu ×8');
    expect(block.childGroups).toHaveLength(8);
    expect(
      grouping.groups.get(block.childGroups[2])!.members.map((id) => summary.nodes[Number(id.slice(1))].name),
    ).toEqual(['Conv_7', 'BatchNormalization_8', 'Relu_9']);
    const view = collapsedView(summary, grouping, initialExpanded(grouping, { threshold: 3, budget: 5 }));
    // Mul, the block, GlobalAveragePool.
    expect(view.summary.nodes.map((n) => n.opType)).toEqual(['Mul', 'Group', 'GlobalAveragePool']);
    expectViewEdges(view);
  });
});

describe.skipIf(!hasSharedModels)('grouping real models', () => {
  it('places every node once and draws a bounded collapsed view', () => {
    for (const file of sharedModelFiles()) {
      const summary = summarizeGraph(Model.decode(readBytes(file)).graph);
      const grouping = groupGraph(summary);
      expectPartition(summary, grouping);
      const view = collapsedView(summary, grouping, initialExpanded(grouping));
      expectViewEdges(view);
      // Opening large groups stays within the budget of 60 items, beyond what small groups show.
      const small = new Set([...grouping.groups.values()].filter((g) => g.size <= 12).map((g) => g.id));
      const floor = collapsedView(summary, grouping, small).summary.nodes.length;
      expect(view.summary.nodes.length, file).toBeLessThanOrEqual(Math.max(60, floor));
      if (summary.nodes.length > 1000)
        expect(view.summary.nodes.length).toBeLessThan(summary.nodes.length / 10);
    }
  });
});
