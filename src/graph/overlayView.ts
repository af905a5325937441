/**
 * What the graph view paints on top of the nodes: a stage's changes (quantized with bit width,
 * pruned with sparsity, fused, removed, added) or a heatmap (sensitivity). Keyed by the node id of
 * the GraphSummary on screen (`n<index>`).
 */
export interface GraphOverlayEntry {
  kind: 'removed' | 'added' | 'changed' | 'fused' | 'quantized' | 'pruned' | 'heat';
  /** Short badge text: 'int8', '62%', 'fused', or the heat value as text. */
  label?: string;
  /** 0–1 for heatmaps (1 = hottest). */
  heat?: number;
  /** Longer explanation for the tooltip. */
  title?: string;
}

export interface GraphOverlay {
  /** What the overlay shows, for the legend ('Stage 2: Quantize (static)', 'Sensitivity'). */
  caption: string;
  entries: Record<string, GraphOverlayEntry>;
}
