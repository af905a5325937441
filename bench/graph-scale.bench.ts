/**
 * Graph view at scale: generated PyTorch-named transformers of about 1k, 10k and 50k nodes. Times,
 * side by side in one run, what the page does before drawing: summarizeGraph (the worker's light
 * graph), groupGraph (name hierarchy + repeated blocks), initialExpanded + collapsedView (what is
 * drawn), layoutGraph of the collapsed view (ELK, as the layout worker runs it), a search for a
 * deep node and revealing it. Prints the collapsed view size against the full graph.
 * Run: `npx tsx bench/graph-scale.bench.ts`.
 */
import { summarizeGraph } from '../src/onnx/summary';
import { layoutGraph } from '../src/layout/layoutGraph';
import { collapsedView, groupGraph, initialExpanded } from '../src/graph/grouping';
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
