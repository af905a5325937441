import type { SliceCreator } from './types';
import type { GraphOverlay } from '../graph/overlayView';
import type { GraphSummary } from '../onnx/summary';

/** Two stages of the last run compared in the graph view (before/after), shown one at a time. */
export interface StageComparison {
  /** Result indices (0 = the original). */
  from: number;
  to: number;
  /** The side on screen. */
  side: 'from' | 'to';
  /** The run whose stage models these are. */
  runId: string;
  graphs: { from: GraphSummary; to: GraphSummary };
  /** Removed and changed nodes marked on `from`, added and changed ones on `to`. */
  overlays: { from: GraphOverlay; to: GraphOverlay };
  counts: { removed: number; added: number; changed: number; unchanged: number };
}

/** Page-level state: the current error message and the drop overlay. */
export interface UiSlice {
  /** The message shown in the error banner, or null. */
  error: string | null;
  /** Files are being dragged over the page. */
  dragging: boolean;
  /** Whether the session (pipeline, results, history) is saved in IndexedDB. */
  saveState: 'restoring' | 'saved' | 'pending' | 'error';
  setSaveState(state: UiSlice['saveState']): void;
  /** How much of the centre the results dock takes. */
  dockSize: 'collapsed' | 'normal' | 'max';
  setDockSize(size: UiSlice['dockSize']): void;
  showError(message: string): void;
  dismissError(): void;
  setDragging(dragging: boolean): void;
  /** What the graph view paints over its nodes (a stage's changes, a sensitivity heatmap), or null. */
  graphOverlay: GraphOverlay | null;
  setGraphOverlay(overlay: GraphOverlay | null): void;
  /** The tensor selected in the graph (an edge clicked): its producer and consumers are highlighted. */
  selectedTensor: string | null;
  /** Select a tensor (clearing the node selection), or clear it with null. */
  selectTensor(name: string | null): void;
  /** Whether the graph labels each node with its MACs and parameter count. */
  showCost: boolean;
  setShowCost(show: boolean): void;
  /** Two stages compared in the graph, or null. */
  comparison: StageComparison | null;
  setComparison(comparison: StageComparison | null): void;
}

export const createUiSlice: SliceCreator<UiSlice> = (set, get) => ({
  error: null,
  dragging: false,
  saveState: 'restoring',
  setSaveState: (saveState) => set({ saveState }),
  dockSize: 'normal',
  setDockSize: (dockSize) => set({ dockSize }),
  showError: (message) => set({ error: message }),
  dismissError: () => set({ error: null }),
  setDragging: (dragging) => set({ dragging }),
  graphOverlay: null,
  setGraphOverlay: (graphOverlay) => set({ graphOverlay }),
  selectedTensor: null,
  selectTensor: (name) => {
    if (name !== null && get().selectedNodeId !== null) void get().selectNode(null);
    set({ selectedTensor: name });
  },
  showCost: false,
  setShowCost: (showCost) => set({ showCost }),
  comparison: null,
  setComparison: (comparison) => set({ comparison }),
});
