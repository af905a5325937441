import { describe, expect, it } from 'vitest';
import type { ElkNode } from 'elkjs/lib/elk-api';
import { collapsedView, groupGraph, initialExpanded, openGroups } from '../graph/grouping';
import { transformerModel } from '../graph/testing/transformer';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { summarizeGraph, type GraphSummary } from '../onnx/summary';
import { layoutBand } from './band';
import { GroupedLayout, LayoutCancelled } from './hierarchy';
import { layoutGraph } from './layoutGraph';
import { frameMetrics } from './nodeSize';
import type { GraphLayout } from './types';
import { ViewLayoutService } from './viewService';

/** A 3-layer transformer (244 nodes) named as PyTorch names them: /encoder/layer.N/attention/self/… */
const summary = summarizeGraph(transformerModel({ layers: 3, heads: 3, headSize: 1 }).graph);
const grouping = groupGraph(summary);
const layer = (i: number) => `g:/encoder/layer.${i}`;
/** The encoder open with its three layers closed (their small inner groups stay expanded, hidden). */
const closedLayers = (() => {
  const e = new Set(initialExpanded(grouping));
  for (let i = 0; i < 3; i++) e.delete(layer(i));
  return e;
})();
const withOpen = (...ids: string[]) => new Set([...closedLayers, ...ids]);

/** A grouped layout that records every band ELK lays out (the ids of the nodes in it). */
function recordingLayout(s: GraphSummary = summary, g = grouping) {
  const bands: string[][] = [];
  const layout = new GroupedLayout(s, g, {
    layoutBand: (graph: ElkNode) => {
      bands.push((graph.children ?? []).map((c) => c.id));
      return layoutBand(graph);
    },
  });
  return { layout, bands };
}

/** Whether a node or frame id lies inside group `id` (at any depth). */
function inside(nodeOrGroup: string, group: string): boolean {
  let g: string | null | undefined = grouping.groups.has(nodeOrGroup)
    ? nodeOrGroup
    : grouping.groupOf.get(nodeOrGroup);
  for (; g; g = grouping.groups.get(g)?.parent) if (g === group) return true;
  return false;
}

type Box = { x: number; y: number; width: number; height: number };
const contains = (outer: Box, inner: Box) =>
  inner.x >= outer.x - 0.5 &&
  inner.y >= outer.y - 0.5 &&
  inner.x + inner.width <= outer.x + outer.width + 0.5 &&
  inner.y + inner.height <= outer.y + outer.height + 0.5;
const overlaps = (a: Box, b: Box) =>
  a.x < b.x + b.width - 0.5 &&
  b.x < a.x + a.width - 0.5 &&
  a.y < b.y + b.height - 0.5 &&
  b.y < a.y + a.height - 0.5;

/** Frames hold their contents below their header; siblings never overlap; edges join their ports. */
function checkFrames(layout: GraphLayout) {
  const frames = new Map(layout.frames.map((f) => [f.id, f]));
  const children = new Map<string, Box[]>();
  const add = (parent: string | undefined, box: Box) => {
    const key = parent ?? '';
    children.set(key, [...(children.get(key) ?? []), box]);
  };
  for (const f of layout.frames) {
    if (f.parent) {
      const outer = frames.get(f.parent)!;
      expect(contains(outer, f), `${f.id} inside ${f.parent}`).toBe(true);
      expect(f.y).toBeGreaterThanOrEqual(outer.y + frameMetrics.headerHeight);
    }
    add(f.parent, f);
  }
  for (const n of layout.nodes) {
    if (n.parent) {
      const outer = frames.get(n.parent)!;
      expect(contains(outer, n), `${n.id} inside ${n.parent}`).toBe(true);
      expect(n.y, `${n.id} below the header of ${n.parent}`).toBeGreaterThanOrEqual(
        outer.y + frameMetrics.headerHeight,
      );
      expect(inside(n.id, n.parent)).toBe(true);
    }
    add(n.parent, n);
  }
  for (const boxes of children.values())
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) expect(overlaps(boxes[i], boxes[j])).toBe(false);

  const byId = new Map(layout.nodes.map((n) => [n.id, n]));
  for (const e of layout.edges) {
    const s = byId.get(e.source)!;
    const t = byId.get(e.target)!;
    const sp = s.ports.find((p) => p.id === e.sourcePort)!;
    const tp = t.ports.find((p) => p.id === e.targetPort)!;
    const first = e.points[0];
    const last = e.points[e.points.length - 1];
    expect(Math.abs(first.x - (s.x + sp.x)) + Math.abs(first.y - (s.y + sp.y))).toBeLessThan(1.5);
    expect(Math.abs(last.x - (t.x + tp.x)) + Math.abs(last.y - (t.y + tp.y))).toBeLessThan(1.5);
    for (let k = 1; k < e.points.length; k++) {
      const a = e.points[k - 1];
      const b = e.points[k];
      expect(Math.abs(a.x - b.x) < 1 || Math.abs(a.y - b.y) < 1, `${e.id} segment ${k} is orthogonal`).toBe(
        true,
      );
    }
  }
}

describe('openGroups', () => {
  it('lists the groups drawn open: expanded ones whose enclosing groups are open too, outermost first', () => {
    const open = openGroups(grouping, closedLayers);
    expect(open).toEqual(['g:/embeddings', 'g:/embeddings/LayerNorm', 'g:/encoder']);
    // layer.0's small groups were expanded all along: they show once layer.0 opens.
    expect(openGroups(grouping, withOpen(layer(0)))).toEqual([
      ...open,
      layer(0),
      'g:/encoder/layer.0/intermediate',
      'g:/encoder/layer.0/intermediate/dense',
      'g:/encoder/layer.0/intermediate/intermediate_act_fn',
    ]);
  });
});

describe('GroupedLayout', () => {
  it('lays out a group once: opening a second group reuses the first one inner layout', async () => {
    const { layout, bands } = recordingLayout();
    await layout.layout(closedLayers);
    const first = await layout.layout(withOpen(layer(0)));
    // layer.0 and the groups open inside it are laid out, then the levels above it.
    expect(layout.lastLaidOut).toEqual([
      'g:/encoder/layer.0/intermediate/dense',
      'g:/encoder/layer.0/intermediate/intermediate_act_fn',
      'g:/encoder/layer.0/intermediate',
      layer(0),
      'g:/encoder',
      '',
    ]);

    bands.length = 0;
    const levelsBefore = layout.stats.levels;
    const second = await layout.layout(withOpen(layer(0), layer(1)));
    expect(layout.lastLaidOut).toEqual([
      'g:/encoder/layer.1/intermediate/dense',
      'g:/encoder/layer.1/intermediate/intermediate_act_fn',
      'g:/encoder/layer.1/intermediate',
      layer(1),
      'g:/encoder',
      '',
    ]);
    expect(layout.stats.levels - levelsBefore).toBe(6);
    // One ELK run per level laid out, and none of them saw a node of layer.0.
    expect(bands).toHaveLength(6);
    expect(bands.flat().filter((id) => inside(id, layer(0)) && id !== layer(0))).toEqual([]);
    // layer.0's contents did not move inside its frame; only the frame itself may have.
    const frameOf = (l: GraphLayout, id: string) => l.frames.find((f) => f.id === id)!;
    const a = frameOf(first, layer(0));
    const b = frameOf(second, layer(0));
    expect([b.width, b.height]).toEqual([a.width, a.height]);
    const relative = (l: GraphLayout, f: Box) =>
      l.nodes.filter((n) => inside(n.id, layer(0))).map((n) => [n.id, n.x - f.x, n.y - f.y]);
    expect(relative(second, b)).toEqual(relative(first, a));
    checkFrames(second);

    // Closing layer.1 again is a view already laid out: no ELK run at all, the same layout.
    bands.length = 0;
    const back = await layout.layout(withOpen(layer(0)));
    expect(layout.lastLaidOut).toEqual([]);
    expect(bands).toEqual([]);
    expect(back.nodes).toEqual(first.nodes);
    expect(back.frames).toEqual(first.frames);
    expect(back.edges).toEqual(first.edges);
  });

  it('keys a group inner layout by the groups open inside it', async () => {
    const { layout } = recordingLayout();
    const inner = 'g:/encoder/layer.0/attention';
    await layout.layout(withOpen(layer(0)));
    await layout.layout(withOpen(layer(0), inner));
    expect(layout.lastLaidOut).toEqual([inner, layer(0), 'g:/encoder', '']);
    // Closing layer.0 keeps its state; reopening it finds both of its inner layouts cached.
    await layout.layout(withOpen(inner));
    expect(layout.lastLaidOut).toEqual(['g:/encoder', '']);
    await layout.layout(withOpen(layer(0), inner));
    expect(layout.lastLaidOut).toEqual([]);
    expect(layout.levelKey('', new Set([...withOpen(layer(0), inner)]))).toContain(inner);
  });

  it('frames open groups around their contents, nested, with the nodes and edges of the collapsed view', async () => {
    const { layout } = recordingLayout();
    const expanded = withOpen(layer(0), layer(2), 'g:/encoder/layer.0/attention');
    const grouped = await layout.layout(expanded);
    checkFrames(grouped);
    expect(grouped.frames.map((f) => f.id)).toEqual(
      expect.arrayContaining([layer(0), 'g:/encoder/layer.0/attention', layer(2), 'g:/encoder']),
    );
    // Each frame comes after the frame around it.
    const seen = new Set<string>();
    for (const f of grouped.frames) {
      if (f.parent) expect(seen.has(f.parent)).toBe(true);
      seen.add(f.id);
    }
    // Same boxes and edges as the flat layout of the same view, only placed in frames.
    const view = collapsedView(summary, grouping, expanded);
    const flat = await layoutGraph(view.summary);
    expect(grouped.nodes.map((n) => n.id).sort()).toEqual(flat.nodes.map((n) => n.id).sort());
    expect(grouped.edges.map((e) => e.id).sort()).toEqual(flat.edges.map((e) => e.id).sort());
    expect(grouped.folded.sort()).toEqual(flat.folded.sort());
    for (const n of grouped.nodes) {
      const f = flat.nodes.find((m) => m.id === n.id)!;
      expect([n.width, n.height]).toEqual([f.width, f.height]);
      expect(n.parent ?? null).toBe(view.parentOf.get(n.id) ?? null);
    }
    // Every tensor shape label is drawn once, beside its producer.
    const labelled = grouped.edges.filter((e) => e.label);
    expect(labelled.length).toBeGreaterThan(0);
    expect(new Set(labelled.map((e) => `${e.source} ${e.sourcePort}`)).size).toBe(labelled.length);
  });

  it('lays out a flat graph as one level, in bands, with partial layouts on the way, and can be cancelled', async () => {
    const b = new GraphBuilder('chain');
    let x = b.input('x', DataType.FLOAT, [1, 4]);
    for (let i = 0; i < 30; i++) x = b.op(i % 2 ? 'Relu' : 'Neg', [x], {}, `op${i}`);
    b.output(x, DataType.FLOAT, [1, 4]);
    const chain = summarizeGraph(b.model().graph);
    const flatGrouping = groupGraph(chain, { minRepeats: 100 });
    expect(flatGrouping.groups.size).toBe(0);
    const grouped = new GroupedLayout(chain, flatGrouping, { bandSize: 8 });
    const partials: GraphLayout[] = [];
    const full = await grouped.layout(new Set(), {
      onProgress: (_, __, partial) => partial && partials.push(partial),
    });
    expect(full.bands).toBe(4);
    expect(full.complete).toBe(true);
    expect(full.frames).toEqual([]);
    // The first bands are drawn at once; later partial layouts come at most every 250 ms.
    expect(partials.length).toBeGreaterThanOrEqual(1);
    expect(partials[0].nodes.length).toBeGreaterThan(0);
    expect(partials.every((p) => !p.complete && p.nodes.length < full.nodes.length)).toBe(true);
    checkFrames(full);
    const flat = await layoutGraph(chain, { bandSize: 8 });
    expect(full.nodes.map((n) => [n.id, n.x, n.y])).toEqual(flat.nodes.map((n) => [n.id, n.x, n.y]));

    const again = new GroupedLayout(chain, flatGrouping, { bandSize: 8 });
    let asked = 0;
    await expect(again.layout(new Set(), { cancelled: () => ++asked > 2 })).rejects.toBeInstanceOf(
      LayoutCancelled,
    );
    expect(again.stats.levels).toBe(0);
  });
});

describe('prefetching', () => {
  it('lays out the inside of collapsed groups ahead, so that opening one places only the levels above', async () => {
    const { layout, bands } = recordingLayout();
    await layout.layout(closedLayers);
    // Three closed layers, each with its open intermediate/dense/act_fn inside: 4 levels each.
    expect(await layout.prefetch(closedLayers)).toBe(12);
    expect(await layout.prefetch(closedLayers)).toBe(0);
    bands.length = 0;
    await layout.layout(withOpen(layer(1)));
    expect(layout.lastLaidOut).toEqual(['g:/encoder', '']);
    expect(bands).toHaveLength(2);
    // A prefetch stops when asked to.
    const other = recordingLayout();
    await other.layout.layout(closedLayers);
    let asked = 0;
    await expect(other.layout.prefetch(closedLayers, { cancelled: () => ++asked > 3 })).resolves.toBeLessThan(
      4,
    );
  });

  it('runs in the service after each view, and gives way to the next request', async () => {
    const hook: { onBand?: () => void } = {};
    const service = new ViewLayoutService({
      layoutBand: (graph) => {
        hook.onBand?.();
        return layoutBand(graph);
      },
    });
    const graph = service.openGraph(summary);
    await service.layoutView(graph, [...closedLayers], 1);
    await service.whenIdle();
    const prepared = service.stats(graph)!.levels;
    await service.layoutView(graph, [...withOpen(layer(2))], 2);
    // Only the encoder and the top level were left to lay out.
    expect(service.stats(graph)!.levels).toBe(prepared + 2);

    // The prefetch for this view starts; a request asked during its first band does not wait for
    // the rest of it: it runs after the band in flight.
    let bands = 0;
    let answered = -1;
    let asked: Promise<unknown> | undefined;
    hook.onBand = () => {
      bands++;
      if (asked) return;
      asked = service.layoutView(graph, [...withOpen(layer(0), layer(2))], 3).then(() => (answered = bands));
    };
    await service.whenIdle();
    await asked;
    // The request's own levels: the encoder and the top (layer.0's inside was prefetched with view 1).
    expect(answered).toBeLessThanOrEqual(1 + 2);
    // What the prefetch of view 2 had left to do, had it not given way.
    const reference = new GroupedLayout(summary, grouping);
    await reference.layout(closedLayers);
    await reference.prefetch(closedLayers);
    await reference.layout(withOpen(layer(2)));
    expect(await reference.prefetch(withOpen(layer(2)))).toBeGreaterThan(2);
  });
});

describe('ViewLayoutService', () => {
  it('keeps each graph with its cache, queues requests and drops a cancelled one', async () => {
    const service = new ViewLayoutService({ prefetch: false });
    const graph = service.openGraph(summary);
    const first = service.layoutView(graph, [...withOpen(layer(0))], 1);
    const dropped = service.layoutView(graph, [...withOpen(layer(1))], 2);
    service.cancel(2);
    const third = service.layoutView(graph, [...withOpen(layer(0), layer(2))], 3);
    await expect(dropped).rejects.toBeInstanceOf(LayoutCancelled);
    const [a, c] = await Promise.all([first, third]);
    expect(a.frames.some((f) => f.id === layer(0))).toBe(true);
    expect(c.frames.some((f) => f.id === layer(2))).toBe(true);
    // The first view: embeddings (2 levels), layer.0 (4), encoder, top. The third: layer.2 (4),
    // encoder, top; layer.0 and embeddings come from the cache, the cancelled view laid out nothing.
    expect(service.stats(graph)!.levels).toBe(8 + 6);
    service.closeGraph(graph);
    await expect(service.layoutView(graph, [], 4)).rejects.toThrow(/no graph/);
  });
});
