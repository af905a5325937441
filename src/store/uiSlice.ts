import type { SliceCreator } from './types';
import type { GraphOverlay } from '../graph/overlayView';

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
}

export const createUiSlice: SliceCreator<UiSlice> = (set) => ({
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
});
