import * as Comlink from 'comlink';
import type { ElkNode } from 'elkjs/lib/elk-api';
import { planLayout } from '../../layout/plan';
import { stitchLayout } from '../../layout/stitch';
import type { BandResult, GraphLayout, LayoutPlan } from '../../layout/types';
import type { GraphSummary } from '../../onnx/summary';
import type { LayoutWorkerApi } from '../../worker/layout.worker';

/** The reason a layout request's promise rejects when its requester gave up on it. */
export class LayoutCancelledError extends Error {
  constructor() {
    super('layout cancelled');
    this.name = 'LayoutCancelledError';
  }
}

/** Hears about a layout in progress: bands done and in all, and the layout of the bands done so far. */
export type LayoutListener = (done: number, total: number, partial?: GraphLayout) => void;

/** A pending layout: its result, and a way to say it is no longer wanted. */
export interface LayoutRequest {
  promise: Promise<GraphLayout>;
  cancel(): void;
}

/** What a job needs from a layout engine: a worker, or the same functions in-process. */
interface Engine {
  plan(summary: GraphSummary): Promise<LayoutPlan>;
  band(graph: ElkNode): Promise<BandResult>;
  /** Stop at once (terminate the worker). */
  kill(): void;
  /** Hand back for reuse. */
  release(): void;
}

interface Job {
  promise: Promise<GraphLayout>;
  listeners: Set<LayoutListener>;
  /** The latest progress, replayed to requesters that join late (StrictMode remounts). */
  last?: Parameters<LayoutListener>;
  settled: boolean;
  /** Stop the job: terminate its workers and reject its promise. */
  abort(): void;
}

/** Workers that lay out bands side by side: one core stays free for the page. */
const parallelism =
  typeof navigator === 'undefined' ? 1 : Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1));

const finished = new WeakMap<GraphSummary, GraphLayout>();
const running = new Map<GraphSummary, Job>();
const idle: Comlink.Remote<LayoutWorkerApi>[] = [];
const workerOf = new WeakMap<Comlink.Remote<LayoutWorkerApi>, Worker>();

function workerEngine(onCrash: (e: Error) => void): Engine {
  let api = idle.pop();
  if (!api) {
    const worker = new Worker(new URL('../../worker/layout.worker.ts', import.meta.url), {
      type: 'module',
      name: 'graph-layout',
    });
    api = Comlink.wrap<LayoutWorkerApi>(worker);
    workerOf.set(api, worker);
  }
  const remote = api;
  const worker = workerOf.get(remote)!;
  worker.onerror = (e) => onCrash(new Error(`layout worker failed: ${e.message}`));
  return {
    plan: (summary) => remote.plan(summary, {}),
    band: (graph) => remote.band(graph),
    kill: () => worker.terminate(),
    release: () => {
      worker.onerror = null;
      if (idle.length < parallelism) idle.push(remote);
      else worker.terminate();
    },
  };
}

async function inProcessEngine(): Promise<Engine> {
  // ELK is big: load it only where no worker can run it.
  const { layoutBand } = await import('../../layout/band');
  return {
    plan: async (summary) => planLayout(summary),
    band: layoutBand,
    kill: () => {},
    release: () => {},
  };
}

/** Plans on one engine, spreads the bands over up to {@link parallelism} engines, stitches as bands finish. */
async function runJob(
  summary: GraphSummary,
  engines: Engine[],
  newEngine: () => Promise<Engine>,
  notify: LayoutListener,
): Promise<GraphLayout> {
  const started = performance.now();
  engines.push(await newEngine());
  const plan = await engines[0].plan(summary);
  const total = plan.bandGraphs.length;
  while (engines.length < Math.min(parallelism, total)) engines.push(await newEngine());
  const results: (BandResult | undefined)[] = new Array(total);
  let next = 0;
  let done = 0;
  let shownPrefix = 0;
  await Promise.all(
    engines.map(async (engine) => {
      while (next < total) {
        const b = next++;
        results[b] = await engine.band(plan.bandGraphs[b]);
        done++;
        let prefix = shownPrefix;
        while (prefix < total && results[prefix]) prefix++;
        if (prefix > shownPrefix && prefix < total) {
          shownPrefix = prefix;
          notify(done, total, stitchLayout(plan, results, performance.now() - started));
        } else notify(done, total);
      }
    }),
  );
  for (const e of engines) e.release();
  return stitchLayout(plan, results, performance.now() - started);
}

function start(summary: GraphSummary): Job {
  const listeners = new Set<LayoutListener>();
  const notify: LayoutListener = (d, t, partial) => {
    job.last = [d, t, partial ?? job.last?.[2]];
    listeners.forEach((l) => l(d, t, partial));
  };
  const engines: Engine[] = [];
  let rejectJob: (e: Error) => void = () => {};
  const crashed = new Promise<never>((_, reject) => (rejectJob = reject));
  const newEngine = () =>
    typeof Worker === 'undefined' ? inProcessEngine() : Promise.resolve(workerEngine((e) => rejectJob(e)));
  const promise = Promise.race([runJob(summary, engines, newEngine, notify), crashed]);
  const job: Job = {
    promise,
    listeners,
    settled: false,
    abort() {
      if (running.get(summary) === job) running.delete(summary);
      for (const e of engines) e.kill();
      rejectJob(new LayoutCancelledError());
    },
  };
  promise.then(
    (layout) => {
      job.settled = true;
      finished.set(summary, layout);
      if (running.get(summary) === job) running.delete(summary);
    },
    () => {
      job.settled = true;
      for (const e of engines) e.kill();
      if (running.get(summary) === job) running.delete(summary);
    },
  );
  return job;
}

/** A layout already computed for this very summary object (layouts are cached by identity). */
export function cachedLayout(summary: GraphSummary): GraphLayout | undefined {
  return finished.get(summary);
}

/**
 * Lay out a summary in layout workers. Requests for the same summary share one job; when every
 * requester has cancelled (a newer summary arrived, the view unmounted), the job's workers are
 * terminated, which stops ELK mid-run. The cancel waits a tick so that React's StrictMode
 * unmount/remount does not throw away a layout in progress.
 */
export function requestLayout(summary: GraphSummary, listener?: LayoutListener): LayoutRequest {
  const done = finished.get(summary);
  if (done) return { promise: Promise.resolve(done), cancel: () => {} };
  let job = running.get(summary);
  if (!job) {
    job = start(summary);
    running.set(summary, job);
  }
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
