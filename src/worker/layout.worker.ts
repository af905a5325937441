/// <reference lib="webworker" />
import * as Comlink from 'comlink';
import type { ElkNode } from 'elkjs/lib/elk-api';
import { layoutBand } from '../layout/band';
import { textFonts, type TextMeasure, type TextRole } from '../layout/nodeSize';
import { planLayout, type PlanOptions } from '../layout/plan';
import type { BandResult, LayoutPlan } from '../layout/types';
import type { GraphSummary } from '../onnx/summary';

// elk.bundled.js installs its own message handler when it finds itself in a worker; comlink owns messages here.
self.onmessage = null;

/**
 * Text widths measured with the page's fonts on an OffscreenCanvas, so nodes are as wide as their
 * text really is. Undefined when the canvas is missing or does not accept a font (then the layout
 * falls back to its estimates).
 */
function canvasMeasure(): TextMeasure | undefined {
  if (typeof OffscreenCanvas === 'undefined') return undefined;
  const ctx = new OffscreenCanvas(1, 1).getContext('2d');
  if (!ctx) return undefined;
  for (const font of Object.values(textFonts)) {
    ctx.font = '1px serif';
    ctx.font = font;
    if (ctx.font === '1px serif') return undefined;
  }
  const cache = new Map<string, number>();
  let current: TextRole | undefined;
  return (text, role) => {
    const key = `${role}\u0000${text}`;
    let width = cache.get(key);
    if (width === undefined) {
      if (current !== role) ctx.font = textFonts[(current = role)];
      width = ctx.measureText(text).width;
      cache.set(key, width);
    }
    return width;
  };
}

const measureText = canvasMeasure();

/** Options that can cross the worker boundary (no callbacks). */
export type LayoutWorkerOptions = Omit<PlanOptions, 'measureText'>;

/**
 * The graph layout worker. The page asks one worker for the plan (sizes measured with real fonts,
 * bands as ELK graphs), then spreads the bands over several workers and stitches the results.
 */
export const layoutWorkerApi = {
  plan(summary: GraphSummary, options: LayoutWorkerOptions = {}): LayoutPlan {
    return planLayout(summary, { ...options, measureText });
  },
  band(graph: ElkNode): Promise<BandResult> {
    return layoutBand(graph);
  },
};

export type LayoutWorkerApi = typeof layoutWorkerApi;

Comlink.expose(layoutWorkerApi);
