import { groupGraph } from '../graph/grouping';
import type { GraphSummary } from '../onnx/summary';
import { GroupedLayout, LayoutCancelled, type GroupedLayoutOptions, type LayoutControl } from './hierarchy';
import type { GraphLayout } from './types';

export interface ViewLayoutServiceOptions extends GroupedLayoutOptions {
  /**
   * After each view, lay out in idle time the inside of the collapsed groups it shows, so that
   * opening one only places the levels above it (default true).
   */
  prefetch?: boolean;
}

/**
 * The layout side of the graph view, as the layout worker runs it (and tests run it in-process): it
 * keeps the graphs it was given, each with its grouping and its cache of per-group inner layouts, and
 * lays out one view at a time (requests queue; a cancelled one stops at the next band).
 */
export class ViewLayoutService {
  private readonly graphs = new Map<number, GroupedLayout>();
  private readonly pending = new Set<number>();
  private readonly cancelled = new Set<number>();
  private nextGraph = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private lastView: { graph: number; expanded: readonly string[] } | null = null;

  constructor(private readonly options: ViewLayoutServiceOptions = {}) {}

  /** Keeps a graph (grouped as the page groups it) for layouts of its views; returns its handle. */
  openGraph(summary: GraphSummary): number {
    const id = this.nextGraph++;
    this.graphs.set(id, new GroupedLayout(summary, groupGraph(summary), this.options));
    return id;
  }

  /** Forgets a graph and its cached layouts. */
  closeGraph(id: number): void {
    this.graphs.delete(id);
  }

  /**
   * The layout of a graph's view with `expanded` groups open. `request` names the call for
   * {@link cancel}; `onProgress` hears of bands done (and partial layouts of a large top level).
   */
  layoutView(
    graph: number,
    expanded: readonly string[],
    request: number,
    onProgress?: LayoutControl['onProgress'],
  ): Promise<GraphLayout> {
    this.pending.add(request);
    const run = this.queue.then(async () => {
      try {
        const layout = this.graphs.get(graph);
        if (!layout) throw new Error(`no graph ${graph} is open for layout`);
        if (this.cancelled.has(request)) throw new LayoutCancelled();
        const result = await layout.layout(new Set(expanded), {
          cancelled: () => this.cancelled.has(request),
          onProgress,
        });
        if (this.options.prefetch !== false) this.prefetch(graph, expanded);
        return result;
      } finally {
        this.pending.delete(request);
        this.cancelled.delete(request);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every request asked so far, and the prefetching after them, is over. */
  async whenIdle(): Promise<void> {
    let seen: Promise<unknown>;
    do {
      seen = this.queue;
      await seen;
    } while (seen !== this.queue);
  }

  /** Queues the prefetch of a view's collapsed groups; any request asked meanwhile stops it. */
  private prefetch(graph: number, expanded: readonly string[]): void {
    const view = { graph, expanded };
    this.lastView = view;
    const run = this.queue.then(async () => {
      // Only the last view drawn is worth preparing for, and only while nothing else is asked.
      const layout = this.graphs.get(graph);
      if (this.lastView !== view || this.pending.size > 0 || !layout) return;
      try {
        await layout.prefetch(new Set(expanded), { cancelled: () => this.pending.size > 0 });
      } catch (e) {
        if (!(e instanceof LayoutCancelled)) throw e;
      }
    });
    this.queue = run.catch(() => undefined);
  }

  /** Gives up on a request: it stops before its next band (levels already laid out stay cached). */
  cancel(request: number): void {
    if (this.pending.has(request)) this.cancelled.add(request);
  }

  /** Levels laid out and ELK runs made for a graph so far. */
  stats(graph: number): { levels: number; bands: number } | undefined {
    const layout = this.graphs.get(graph);
    return layout ? { ...layout.stats } : undefined;
  }
}
