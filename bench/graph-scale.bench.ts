/**
 * Graph view at scale: generated PyTorch-named transformers of about 1k, 10k and 50k nodes. Times,
 * side by side in one run, what the page does before drawing: summarizeGraph (the worker's light
 * graph), groupGraph (name hierarchy + repeated blocks), initialExpanded + collapsedView (what is
 * drawn), layoutGraph of the collapsed view (ELK, as the layout worker runs it), a search for a
 * deep node and revealing it. Prints the collapsed view size against the full graph.
 *
 * Then, on the 9,781-node model, the time to open a layer group while another is open, before and
 * after per-group layout caching, interleaved in one run: "before" lays out the whole view again
 * (layoutGraph of the collapsed view, what the layout worker did per expansion state); "after" is
 * GroupedLayout with the earlier view already laid out, which lays out only the new group's inside
 * and the levels above it (encoder, top) and reuses every other group's inner layout. The same with
 * five layers open before the sixth. Medians of a few repetitions, each on layers not opened before.
 * Run: `npx tsx bench/graph-scale.bench.ts`.
 */
import { summarizeGraph } from '../src/onnx/summary';
import { layoutBandAsync, layoutGraph } from '../src/layout/layoutGraph';
import { GroupedLayout } from '../src/layout/hierarchy';
import { collapsedView, groupGraph, initialExpanded, type Grouping } from '../src/graph/grouping';
import type { GraphSummary } from '../src/onnx/summary';
import { revealMatch, searchGraph } from '../src/graph/search';
import { transformerModel } from '../src/graph/testing/transformer';

const ms = (t: number) => `${t.toFixed(1)} ms`;

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

const sizes = [
  { label: '1k', layers: 4, heads: 20 },
  { label: '10k', layers: 24, heads: 36 },
  { label: '50k', layers: 48, heads: 100 },
];

for (const s of sizes) {
  const model = transformerModel({ layers: s.layers, heads: s.heads, headSize: 1 });
  const [summary, tSummary] = time(() => summarizeGraph(model.graph));
  const [grouping, tGroup] = time(() => groupGraph(summary));
  const [view, tView] = time(() => collapsedView(summary, grouping, initialExpanded(grouping)));
  const [layout, tLayout] = await (async () => {
    const t0 = performance.now();
    const l = await layoutGraph(view.summary);
    return [l, performance.now() - t0] as const;
  })();
  const deep = `/encoder/layer.${s.layers - 2}/attention/self/Softmax_${s.heads - 1}`;
  const [found, tSearch] = time(() => searchGraph(summary, deep, grouping));
  const [revealed, tReveal] = time(() =>
    collapsedView(summary, grouping, revealMatch(initialExpanded(grouping), found.matches[0])),
  );
  console.log(
    `${s.label.padStart(3)}: ${summary.nodes.length} nodes, ${summary.edges.length} edges, ${grouping.groups.size} groups | ` +
      `summarize ${ms(tSummary)}, group ${ms(tGroup)} (${((100 * tGroup) / tSummary).toFixed(0)}% of summarize), ` +
      `collapsed view ${ms(tView)} → ${view.summary.nodes.length} items / ${view.summary.edges.length} edges, ` +
      `layout of the view ${ms(tLayout)} (${layout.nodes.length} boxes) | ` +
      `search "${deep}" ${ms(tSearch)} (${found.count} matches), reveal ${ms(tReveal)} → ${revealed.summary.nodes.length} items`,
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

interface OpenTimes {
  /** The whole view laid out again, ELK through its promise API: the studio before per-group layouts. */
  before: number;
  /** The whole view laid out again, ELK called directly (isolates the caching from the faster ELK call). */
  flat: number;
  /** Per-group cache, ELK called directly. */
  cold: number;
  /** The same after the worker's idle prefetch of the collapsed groups shown. */
  warm: number;
  levels: number;
  warmLevels: number;
  items: number;
}

/** Opening layer `next` with layers `before` open, each way, `before` laid out first (as drawn). */
async function openAnother(
  summary: GraphSummary,
  grouping: Grouping,
  cold: GroupedLayout,
  warm: GroupedLayout,
  before: number[],
  next: number,
): Promise<OpenTimes> {
  const base = initialExpanded(grouping);
  const layers = (ids: number[]) => new Set([...base, ...ids.map((i) => `g:/encoder/layer.${i}`)]);
  const earlier = layers(before);
  const later = layers([...before, next]);
  const view = collapsedView(summary, grouping, later);
  await layoutGraph(collapsedView(summary, grouping, earlier).summary, { layoutBand: layoutBandAsync });
  const beforeMs = await timed(() => layoutGraph(view.summary, { layoutBand: layoutBandAsync }));
  const flat = await timed(() => layoutGraph(view.summary));
  await cold.layout(earlier);
  const coldMs = await timed(() => cold.layout(later));
  const levels = cold.lastLaidOut.length;
  await warm.layout(earlier);
  await warm.prefetch(earlier);
  const warmMs = await timed(() => warm.layout(later));
  return {
    before: beforeMs,
    flat,
    cold: coldMs,
    warm: warmMs,
    levels,
    warmLevels: warm.lastLaidOut.length,
    items: view.summary.nodes.length,
  };
}

{
  const model = transformerModel({ layers: 24, heads: 36, headSize: 1 });
  const summary = summarizeGraph(model.graph);
  const grouping = groupGraph(summary);
  // Warm ELK up (the studio's worker has laid out the first view already).
  await layoutGraph(collapsedView(summary, grouping, initialExpanded(grouping)).summary, {
    layoutBand: layoutBandAsync,
  });

  const cases = [
    { label: 'second layer (1 open)', runs: [0, 2, 4, 6, 8, 10, 12].map((i) => [[i], i + 1] as const) },
    {
      label: 'sixth layer (5 open)',
      runs: [0, 6, 12, 18].map((i) => [[i, i + 1, i + 2, i + 3, i + 4], i + 5] as const),
    },
  ];
  console.log(
    `\nOpening a layer group of the ${summary.nodes.length}-node transformer, side by side (medians):`,
  );
  for (const c of cases) {
    // Each case with caches of its own, the first view laid out as the studio shows it.
    const cold = new GroupedLayout(summary, grouping);
    const warm = new GroupedLayout(summary, grouping);
    await cold.layout(initialExpanded(grouping));
    await warm.layout(initialExpanded(grouping));
    const runs: OpenTimes[] = [];
    for (const [before, next] of c.runs)
      runs.push(await openAnother(summary, grouping, cold, warm, [...before], next));
    const m = (k: 'before' | 'flat' | 'cold' | 'warm') => median(runs.map((r) => r[k]));
    const list = (k: 'before' | 'flat' | 'cold' | 'warm') => runs.map((r) => r[k].toFixed(0)).join('/');
    const ratio = (k: 'cold' | 'warm') => `${(m('before') / m(k)).toFixed(1)}×`;
    console.log(
      `  ${c.label} → ${runs[0].items} items: before (whole view again) ${ms(m('before'))} | ` +
        `after: per-group cache ${ms(m('cold'))} (${runs[0].levels} levels laid out; ${ratio('cold')} faster), ` +
        `after idle prefetch ${ms(m('warm'))} (${runs[0].warmLevels} levels; ${ratio('warm')} faster) | ` +
        `whole view again with the direct ELK call ${ms(m('flat'))}\n` +
        `    runs (ms): before ${list('before')}; per-group ${list('cold')}; prefetched ${list('warm')}; ` +
        `whole view, direct ELK ${list('flat')}`,
    );
  }
}
