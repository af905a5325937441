/**
 * Graph view layout benchmark: builds residual conv/relu/add models of 1,000 and 5,000 nodes with
 * GraphBuilder, then times summarizeGraph and layoutGraph (ELK layered, the same code the layout
 * workers run) and prints the layout time per node. It also lays the bands out on several
 * worker_threads at once, as the studio does with Web Workers. Run: `npx tsx bench/layout.bench.ts`.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { summarizeGraph } from '../src/onnx/summary';
import { layoutGraph, planLayout, stitchLayout } from '../src/layout/layoutGraph';
import type { ElkNode } from 'elkjs/lib/elk-api';
import type { BandResult, GraphLayout } from '../src/layout/types';
import type { GraphSummary } from '../src/onnx/summary';
import { residualModel } from './residualModel';

const ms = (t: number) => `${t.toFixed(0)} ms`;

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

/** A pool of worker_threads that lay out one band per message, like the studio's layout workers. */
function bandPool(size: number) {
  // A worker thread does not inherit tsx's loader: register it, then load the TypeScript entry.
  const entry = new URL('./layoutBandWorker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  const workers = Array.from({ length: size }, () => new Worker(boot, { eval: true }));
  const run = (w: Worker, graph: ElkNode) =>
    new Promise<BandResult>((resolve) => {
      w.once('message', resolve);
      w.postMessage(graph);
    });
  return {
    /** Bands spread over the pool, stitched here: the studio's strategy, in Node. */
    async layout(summary: GraphSummary): Promise<GraphLayout> {
      const started = performance.now();
      const plan = planLayout(summary);
      const results: BandResult[] = new Array(plan.bandGraphs.length);
      let next = 0;
      await Promise.all(
        workers.map(async (w) => {
          while (next < plan.bandGraphs.length) {
            const b = next++;
            results[b] = await run(w, plan.bandGraphs[b]);
          }
        }),
      );
      return stitchLayout(plan, results, performance.now() - started);
    },
    /** Give every worker's JIT the same warm-up as the main thread's. */
    async warmUp(graph: ElkNode) {
      await Promise.all(workers.map((w) => run(w, structuredClone(graph))));
    },
    close: () => Promise.all(workers.map((w) => w.terminate())),
  };
}

const threads = Math.max(2, Math.min(4, os.availableParallelism() - 1));
console.log(
  `cores: ${os.availableParallelism()}, load average ${os.loadavg()[0].toFixed(1)}; parallel runs use ${threads} threads`,
);

// Warm up the JITs (ELK is large GWT-compiled code) so the first measurement is not dominated by it.
const warm = summarizeGraph(residualModel(1000).graph);
await layoutGraph(warm);
const pool = bandPool(threads);
await pool.warmUp(planLayout(warm).bandGraphs[0]);

const perNode: number[] = [];
for (const size of [1000, 5000]) {
  const model = residualModel(size);
  const t0 = performance.now();
  const summary = summarizeGraph(model.graph);
  const t1 = performance.now();
  const cpu = process.cpuUsage();
  let first = 0;
  const layout = await layoutGraph(summary, {
    onProgress: (done) => {
      if (done === 1) first = performance.now();
    },
  });
  const t2 = performance.now();
  const layoutCpu = cpuMs(cpu);
  const parallel = await pool.layout(summary);
  const n = summary.nodes.length;
  perNode.push((t2 - t1) / n);
  console.log(
    [
      `${String(n).padStart(5)} nodes ${String(summary.edges.length).padStart(5)} edges (${layout.bands} bands)`,
      `summarizeGraph ${ms(t1 - t0)}`,
      `layoutGraph ${ms(t2 - t1)} wall / ${ms(layoutCpu)} cpu`,
      `first band ${ms(first - t1)}`,
      `${((t2 - t1) / n).toFixed(2)} ms/node`,
      `layout/summarize ${((t2 - t1) / (t1 - t0)).toFixed(1)}×`,
      `bands on ${threads} threads ${ms(parallel.durationMs)} (${((t2 - t1) / parallel.durationMs).toFixed(2)}× faster)`,
    ].join(' | '),
  );
}
console.log(`layout time per node, 5,000 vs 1,000 nodes: ${(perNode[1] / perNode[0]).toFixed(2)}×`);
await pool.close();
