import type { ElkNode } from 'elkjs/lib/elk-api';
import { layoutBand } from './band';
import { planLayout, type PlanOptions } from './plan';
import { stitchLayout } from './stitch';
import type { BandResult, GraphLayout } from './types';
import type { GraphSummary } from '../onnx/summary';

export { defaultBandSize, largeGraphNodes, planLayout, type LayoutEffort, type PlanOptions } from './plan';
export { layoutBand, layoutBandAsync } from './band';
export { stitchLayout } from './stitch';
export type * from './types';

export interface LayoutGraphOptions extends PlanOptions {
  /** Called after each band with the number of bands done and in all. */
  onProgress?: (done: number, total: number) => void;
  /** Lays out one band (default {@link layoutBand}). */
  layoutBand?: (graph: ElkNode) => Promise<BandResult>;
}

/**
 * Lays out a graph summary top to bottom with ELK's layered algorithm. Operators and graph
 * inputs/outputs become boxes sized from their content; an edge leaves its producer at the bottom
 * through the port of its tensor and enters its consumer at the top through a port of its own, so
 * the view can attach edges exactly where the routes start and end. Large graphs are laid out in
 * bands (see {@link PlanOptions.bandSize}). Runs in Node and in a Worker (no DOM).
 */
export async function layoutGraph(
  summary: GraphSummary,
  options: LayoutGraphOptions = {},
): Promise<GraphLayout> {
  const started = performance.now();
  const plan = planLayout(summary, options);
  const bands: BandResult[] = [];
  for (const graph of plan.bandGraphs) {
    bands.push(await (options.layoutBand ?? layoutBand)(graph));
    options.onProgress?.(bands.length, plan.bandGraphs.length);
  }
  return stitchLayout(plan, bands, performance.now() - started);
}
