import type { GraphOverlay, GraphOverlayEntry } from '../../graph/overlayView';
import type { NodeOverlay } from '../../graph/overlay';

/** Outline and badge colour of each overlay kind. */
export const overlayKindColor: Record<GraphOverlayEntry['kind'], string> = {
  quantized: '#7c3aed',
  pruned: '#dc2626',
  fused: '#0891b2',
  changed: '#d97706',
  added: '#16a34a',
  removed: '#6b7280',
  heat: '#b91c1c',
};

/** Legend words for each overlay kind. */
export const overlayKindTitle: Record<GraphOverlayEntry['kind'], string> = {
  quantized: 'quantized',
  pruned: 'pruned',
  fused: 'fused',
  changed: 'changed',
  added: 'added',
  removed: 'removed',
  heat: 'heat',
};

/** Background for a heat value in 0–1: pale yellow (cool) to deep red (hot). */
export function heatColor(heat: number): string {
  const t = Math.min(1, Math.max(0, Number.isFinite(heat) ? heat : 0));
  const hue = 55 - 55 * t;
  const lightness = 92 - 40 * t;
  return `hsl(${hue.toFixed(0)} 90% ${lightness.toFixed(0)}%)`;
}

/** Badge text of one node's stage overlay: `int8`, `fp16`, `62%`, `fused`, `changed`, `added`. */
export function overlayLabel(o: NodeOverlay): string {
  if (o.kind === 'quantized') {
    if (o.details.some((d) => /\b(fp16|float16)\b/i.test(d))) return 'fp16';
    return o.bits ? `int${o.bits}` : 'quant';
  }
  if (o.kind === 'pruned') return o.sparsity !== undefined ? `${Math.round(o.sparsity)}%` : 'pruned';
  return o.kind;
}

/** The graph overlay of one stage's changes, keyed by the node ids of the graph on screen. */
export function stageGraphOverlay(caption: string, byNodeId: ReadonlyMap<string, NodeOverlay>): GraphOverlay {
  const entries: GraphOverlay['entries'] = {};
  for (const [id, o] of byNodeId)
    entries[id] = { kind: o.kind, label: overlayLabel(o), title: o.details.join('\n') || o.kind };
  return { caption, entries };
}
