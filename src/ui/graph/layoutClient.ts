import * as Comlink from 'comlink';
import type { GraphLayout } from '../../layout/types';
import type { GraphSummary } from '../../onnx/summary';
import type { LayoutWorkerApi } from '../../worker/layout.worker';

/** The reason a layout request's promise rejects when its requester gave up on it. */
export class LayoutCancelledError extends Error {
  constructor() {
    super('layout cancelled');
    this.name = 'LayoutCancelledError';
  }
}

/** Hears about a layout in progress: bands done and known, and the layout of the part done so far. */
export type LayoutListener = (done: number, total: number, partial?: GraphLayout) => void;

/** A pending layout: its result, and a way to say it is no longer wanted. */
export interface LayoutRequest {
  promise: Promise<GraphLayout>;
  cancel(): void;
}

/** What the page needs from the layout worker (or, where no worker runs, the same service in-process). */
interface Engine {
  openGraph(summary: GraphSummary): Promise<number>;
  closeGraph(graph: number): Promise<void>;
  layoutView(
    graph: number,
    expanded: readonly string[],
    request: number,
    onProgress: LayoutListener,
  ): Promise<GraphLayout>;
  cancel(request: number): Promise<void>;
  /** Rejects when the worker dies. */
  crashed: Promise<never>;
}

interface Job {
  promise: Promise<GraphLayout>;
  listeners: Set<LayoutListener>;
  /** The latest progress, replayed to requesters that join late (StrictMode remounts). */
  last?: Parameters<LayoutListener>;
  settled: boolean;
  /** Tell the worker to stop and reject the job's promise. */
  abort(): void;
}

/** Graphs the worker keeps (with their cached group layouts); the least recently used one goes first. */
const maxGraphs = 4;
/** Finished view layouts kept per graph on the page, so going back to a view needs no round trip. */
const maxViews = 48;

const finished = new WeakMap<GraphSummary, Map<string, GraphLayout>>();
const running = new WeakMap<GraphSummary, Map<string, Job>>();
let engine: Promise<Engine> | null = null;
let handles = new Map<GraphSummary, Promise<number>>();
let nextRequest = 1;

function workerEngine(): Engine {
  const worker = new Worker(new URL('../../worker/layout.worker.ts', import.meta.url), {
    type: 'module',
    name: 'graph-layout',
  });
  const api = Comlink.wrap<LayoutWorkerApi>(worker);
  let crash: (e: Error) => void = () => {};
  const crashed = new Promise<never>((_, reject) => (crash = reject));
  crashed.catch(() => undefined);
  worker.onerror = (e) => {
    // A dead worker takes its caches along: the next request starts a new one.
    engine = null;
    handles = new Map();
    worker.terminate();
    crash(new Error(`layout worker failed: ${e.message}`));
  };
  return {
    openGraph: (summary) => api.openGraph(summary),
    closeGraph: (graph) => api.closeGraph(graph),
    layoutView: (graph, expanded, request, onProgress) =>
      api.layoutView(graph, expanded, request, Comlink.proxy(onProgress)),
    cancel: (request) => api.cancel(request),
    crashed,
  };
}

async function inProcessEngine(): Promise<Engine> {
  // ELK is large: load it only where no worker can run it.
  const { ViewLayoutService } = await import('../../layout/viewService');
  const service = new ViewLayoutService();
  return {
    openGraph: async (summary) => service.openGraph(summary),
    closeGraph: async (graph) => service.closeGraph(graph),
    layoutView: (graph, expanded, request, onProgress) =>
      service.layoutView(graph, expanded, request, onProgress),
    cancel: async (request) => service.cancel(request),
    crashed: new Promise<never>(() => {}),
  };
}

function getEngine(): Promise<Engine> {
  engine ??= typeof Worker === 'undefined' ? inProcessEngine() : Promise.resolve(workerEngine());
  return engine;
}

/** The worker's handle of a graph, sending the graph once (and dropping the least recently used). */
function graphHandle(e: Engine, summary: GraphSummary): Promise<number> {
  let handle = handles.get(summary);
  if (handle) {
    handles.delete(summary);
    handles.set(summary, handle);
    return handle;
  }
  handle = e.openGraph(summary);
  handles.set(summary, handle);
  while (handles.size > maxGraphs) {
    const [old, h] = handles.entries().next().value!;
    handles.delete(old);
    void h.then((id) => e.closeGraph(id)).catch(() => undefined);
  }
  return handle;
}

function remember(summary: GraphSummary, key: string, layout: GraphLayout): void {
  let byKey = finished.get(summary);
  if (!byKey) finished.set(summary, (byKey = new Map()));
  byKey.set(key, layout);
  if (byKey.size > maxViews) byKey.delete(byKey.keys().next().value!);
}

function start(summary: GraphSummary, expanded: readonly string[], key: string): Job {
  const listeners = new Set<LayoutListener>();
  const notify: LayoutListener = (d, t, partial) => {
    job.last = [d, t, partial ?? job.last?.[2]];
    listeners.forEach((l) => l(d, t, partial));
  };
  const request = nextRequest++;
  let rejectJob: (e: Error) => void = () => {};
  const aborted = new Promise<never>((_, reject) => (rejectJob = reject));
  const run = (async () => {
    const e = await getEngine();
    const graph = await graphHandle(e, summary);
    return Promise.race([e.layoutView(graph, expanded, request, notify), e.crashed]);
  })();
  const promise = Promise.race([run, aborted]);
  const forget = () => {
    if (running.get(summary)?.get(key) === job) running.get(summary)!.delete(key);
  };
  const job: Job = {
    promise,
    listeners,
    settled: false,
    abort() {
      forget();
      void getEngine().then((e) => e.cancel(request));
      rejectJob(new LayoutCancelledError());
    },
  };
  promise.then(
    (layout) => {
      job.settled = true;
      remember(summary, key, layout);
      forget();
    },
    () => {
      job.settled = true;
      forget();
    },
  );
  return job;
}

/** A layout already computed for this graph and view key. */
export function cachedLayout(summary: GraphSummary, key: string): GraphLayout | undefined {
  return finished.get(summary)?.get(key);
}

/**
 * Lay out the view of `summary` with the groups `expanded` open (drawn as frames where every group
 * around them is open too), in the layout worker; `key` names that view (the same groups drawn open,
 * the same key). The worker keeps each group's inner layout, so a view that differs from an earlier
 * one by a group only lays out that group (unless it was laid out ahead) and the levels above it. Requests for the same view share one job; when every requester has cancelled
 * (another view was asked for, the canvas unmounted), the worker drops it at its next band. The
 * cancel waits a tick so that React's StrictMode unmount/remount does not throw a layout away.
 */
export function requestLayout(
  summary: GraphSummary,
  expanded: readonly string[],
  key: string,
  listener?: LayoutListener,
): LayoutRequest {
  const done = cachedLayout(summary, key);
  if (done) return { promise: Promise.resolve(done), cancel: () => {} };
  let byKey = running.get(summary);
  if (!byKey) running.set(summary, (byKey = new Map()));
  let job = byKey.get(key);
  if (!job) byKey.set(key, (job = start(summary, expanded, key)));
  const current = job;
  const mine: LayoutListener = (d, t, partial) => listener?.(d, t, partial);
  current.listeners.add(mine);
  if (current.last) mine(...current.last);
  let cancelled = false;
  let rejectMine: (e: Error) => void = () => {};
  const promise = new Promise<GraphLayout>((resolve, reject) => {
    rejectMine = reject;
    current.promise.then(resolve, reject);
  });
  return {
    promise,
    cancel() {
      if (cancelled) return;
      cancelled = true;
      current.listeners.delete(mine);
      rejectMine(new LayoutCancelledError());
      setTimeout(() => {
        if (!current.settled && current.listeners.size === 0) current.abort();
      }, 0);
    },
  };
}
