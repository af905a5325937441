import { useEffect, useState } from 'react';
import type { GraphLayout } from '../../layout/types';
import type { GraphSummary } from '../../onnx/summary';
import { cachedLayout, LayoutCancelledError, requestLayout } from './layoutClient';

/**
 * Where the layout of the current summary stands: nothing to show yet, the first bands of a large
 * graph (drawn while the rest is laid out), done, or failed.
 */
export type GraphLayoutState =
  | { status: 'pending'; done: number; total: number }
  | { status: 'partial'; layout: GraphLayout; done: number; total: number }
  | { status: 'ready'; layout: GraphLayout }
  | { status: 'error'; message: string };

interface Tracked {
  summary: GraphSummary;
  state: GraphLayoutState;
}

const pending: GraphLayoutState = { status: 'pending', done: 0, total: 0 };

/**
 * The layout of `summary`, computed in layout workers (cached by summary identity). A newer summary
 * cancels the request for the older one, and any late answer about an older summary is ignored.
 */
export function useGraphLayout(summary: GraphSummary): GraphLayoutState {
  const [tracked, setTracked] = useState<Tracked | null>(null);
  useEffect(() => {
    if (cachedLayout(summary)) return;
    const request = requestLayout(summary, (done, total, partial) =>
      setTracked((prev) => {
        const shown =
          partial ??
          (prev?.summary === summary && prev.state.status === 'partial' ? prev.state.layout : undefined);
        return {
          summary,
          state: shown
            ? { status: 'partial', layout: shown, done, total }
            : { status: 'pending', done, total },
        };
      }),
    );
    request.promise.then(
      (layout) => setTracked({ summary, state: { status: 'ready', layout } }),
      (e: unknown) => {
        if (e instanceof LayoutCancelledError) return;
        setTracked({
          summary,
          state: { status: 'error', message: e instanceof Error ? e.message : String(e) },
        });
      },
    );
    return () => request.cancel();
  }, [summary]);
  const cached = cachedLayout(summary);
  if (cached) return { status: 'ready', layout: cached };
  return tracked?.summary === summary ? tracked.state : pending;
}
