import { useEffect } from 'react';
import { stageOverlay, overlayByNodeId } from '../../graph/overlay';
import type { GraphOverlay } from '../../graph/overlayView';
import { useStudio } from '../../store';
import { stageGraphOverlay } from './overlayStyle';

/** The overlays this hook set, so that going back to the original never clears someone else's heatmap. */
const stageOverlays = new WeakSet<GraphOverlay>();

/**
 * While a stage result is shown in the graph, paint that stage's changes (its NodeChange records)
 * on it; going back to the original clears the stage overlay (other overlays are left alone).
 */
export function useStageOverlay(): void {
  const stageView = useStudio((s) => s.stageView);
  const results = useStudio((s) => s.results);
  const setGraphOverlay = useStudio((s) => s.setGraphOverlay);
  useEffect(() => {
    const current = useStudio.getState().graphOverlay;
    const result = stageView ? results.find((r) => r.index === stageView.index) : undefined;
    if (!stageView || !result) {
      if (current && stageOverlays.has(current)) setGraphOverlay(null);
      return;
    }
    const byId = overlayByNodeId(stageView.graph, stageOverlay(undefined, result.changes));
    const overlay = stageGraphOverlay(`Stage ${result.index}: ${result.title}`, byId);
    stageOverlays.add(overlay);
    setGraphOverlay(overlay);
  }, [stageView, results, setGraphOverlay]);
}
