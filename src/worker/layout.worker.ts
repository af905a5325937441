/// <reference lib="webworker" />
import * as Comlink from 'comlink';
import { layoutBand } from '../layout/band';
import { textFonts, type TextMeasure, type TextRole } from '../layout/nodeSize';
import type { GraphLayout } from '../layout/types';
import { ViewLayoutService } from '../layout/viewService';
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

const views = new ViewLayoutService({ measureText, layoutBand });

/**
 * The graph layout worker. It keeps the graphs the page shows, each with the inner layouts of its
 * groups cached by group and open groups inside (see GroupedLayout), and answers "the layout of this
 * graph with these groups open".
 */
export const layoutWorkerApi = {
  openGraph(summary: GraphSummary): number {
    return views.openGraph(summary);
  },
  closeGraph(graph: number): void {
    views.closeGraph(graph);
  },
  async layoutView(
    graph: number,
    expanded: readonly string[],
    request: number,
    onProgress?: (done: number, total: number, partial?: GraphLayout) => void,
  ): Promise<GraphLayout> {
    try {
      return await views.layoutView(
        graph,
        expanded,
        request,
        onProgress && ((done, total, partial) => void onProgress(done, total, partial)),
      );
    } finally {
      // The page's callback came as a proxy: let its message port go.
      (onProgress as Partial<Comlink.ProxyMethods> | undefined)?.[Comlink.releaseProxy]?.();
    }
  },
  cancel(request: number): void {
    views.cancel(request);
  },
};

export type LayoutWorkerApi = typeof layoutWorkerApi;

Comlink.expose(layoutWorkerApi);
