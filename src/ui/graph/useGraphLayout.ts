import { useEffect, useState } from 'react';
import type { GraphLayout } from '../../layout/types';
import type { GraphSummary } from '../../onnx/summary';
import { cachedLayout, LayoutCancelledError, requestLayout } from './layoutClient';

/**
 * Where the layout of the current view stands: nothing to show yet, the first bands of a large
 * graph (drawn while the rest is laid out), done, or failed.
 */
export type GraphLayoutState =
  | { status: 'pending'; done: number; total: number }
  | { status: 'partial'; layout: GraphLayout; done: number; total: number }
  | { status: 'ready'; layout: GraphLayout }
  | { status: 'error'; message: string };

interface Tracked {
  summary: GraphSummary;
  key: string;
  state: GraphLayoutState;
}

const pending: GraphLayoutState = { status: 'pending', done: 0, total: 0 };

/**
 * The layout of `summary` with the groups `expanded` open (drawn as frames when the groups around
 * them are open too; `key` names the groups drawn open), computed in the layout worker, which caches
 * each group's inner layout. A newer view cancels the request for the older one, and any late answer
 * about an older view is ignored.
 */
export function useGraphLayout(
  summary: GraphSummary,
  expanded: readonly string[],
  key: string,
): GraphLayoutState {
  const [tracked, setTracked] = useState<Tracked | null>(null);
  useEffect(() => {
    if (cachedLayout(summary, key)) return;
    const request = requestLayout(summary, expanded, key, (done, total, partial) =>
      setTracked((prev) => {
        const shown =
          partial ??
          (prev?.summary === summary && prev.key === key && prev.state.status === 'partial'
            ? prev.state.layout
            : undefined);
        return {
          summary,
          key,
          state: shown
            ? { status: 'partial', layout: shown, done, total }
            : { status: 'pending', done, total },
        };
      }),
    );
    request.promise.then(
      (layout) => setTracked({ summary, key, state: { status: 'ready', layout } }),
      (e: unknown) => {
        if (e instanceof LayoutCancelledError) return;
        setTracked({
          summary,
          key,
          state: { status: 'error', message: e instanceof Error ? e.message : String(e) },
        });
      },
    );
    return () => request.cancel();
    // `key` names the view: expanded groups hidden inside closed ones do not change it.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [summary, key]);
  const cached = cachedLayout(summary, key);
  if (cached) return { status: 'ready', layout: cached };
  return tracked?.summary === summary && tracked.key === key ? tracked.state : pending;
}
