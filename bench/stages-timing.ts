/**
 * Side-by-side latency of several models in one runtime, for bench/stages.bench.ts: every variant
 * gets a session, then rounds run each variant for a short block of timed runs, in an order that
 * rotates from round to round, so machine noise (this machine is shared) hits all variants alike.
 */
import type { RtTensor, Runtime, RuntimeSession } from '../src/runtime/types';
import { quantile } from '../src/runtime/latency';

export interface LatencyEntry {
  label: string;
  bytes: Uint8Array;
}

export interface VariantLatency {
  label: string;
  /** Why the variant could not be measured (session creation or a run failed). */
  error?: string;
  runs: number;
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  /** Baseline median / this median (> 1: faster than the baseline, the group's first entry). */
  speedup?: number;
  /** Spread of the speedup over rounds: quartiles of (baseline round median / this round median). */
  speedupQ1?: number;
  speedupQ3?: number;
}

export interface GroupLatency {
  group: string;
  runtime: string;
  threads: number;
  rounds: number;
  wallMs: number;
  variants: VariantLatency[];
}

const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: readonly number[]) => quantile(sorted(xs), 0.5);

function message(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

async function timedRun(session: RuntimeSession, feeds: Record<string, RtTensor>): Promise<number> {
  const t0 = performance.now();
  await session.run(feeds);
  return performance.now() - t0;
}

/**
 * Median latency of each entry (the first is the baseline) measured interleaved in `runtime`.
 * Blocks are at least `blockMs` long (small models get several runs per block); the number of
 * rounds fits `budgetMs` of timed runs, between `minRounds` and `maxRounds`.
 */
export async function interleavedLatency(
  group: string,
  runtime: Runtime,
  entries: readonly LatencyEntry[],
  feeds: Record<string, RtTensor>,
  options: { budgetMs: number; blockMs?: number; minRounds?: number; maxRounds?: number },
): Promise<GroupLatency> {
  const started = performance.now();
  const blockMs = options.blockMs ?? 15;
  const live: { index: number; session: RuntimeSession; perRun: number; block: number }[] = [];
  const errors = new Map<number, string>();
  for (const [index, e] of entries.entries()) {
    try {
      const session = await runtime.createSession(e.bytes);
      const warm: number[] = [];
      for (let i = 0; i < 3; i++) warm.push(await timedRun(session, feeds));
      const perRun = median(warm.slice(1));
      live.push({ index, session, perRun, block: Math.max(1, Math.ceil(blockMs / Math.max(perRun, 0.01))) });
    } catch (e) {
      errors.set(index, message(e));
    }
  }
  const roundMs = live.reduce((s, v) => s + v.block * v.perRun, 0);
  const rounds = Math.max(
    options.minRounds ?? 5,
    Math.min(options.maxRounds ?? 60, Math.floor(options.budgetMs / Math.max(roundMs, 1e-3))),
  );
  const times = new Map<number, number[]>(live.map((v) => [v.index, []]));
  const roundMedians = new Map<number, number[]>(live.map((v) => [v.index, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < live.length; k++) {
      const v = live[(r + k) % live.length];
      if (errors.has(v.index)) continue;
      const block: number[] = [];
      try {
        for (let i = 0; i < v.block; i++) block.push(await timedRun(v.session, feeds));
      } catch (e) {
        errors.set(v.index, message(e));
        continue;
      }
      times.get(v.index)!.push(...block);
      roundMedians.get(v.index)!.push(median(block));
    }
  }
  for (const v of live) await v.session.release();

  const baseRounds = roundMedians.get(0);
  const baseMedian = times.has(0) && !errors.has(0) ? median(times.get(0)!) : undefined;
  const variants: VariantLatency[] = entries.map((e, index) => {
    const error = errors.get(index);
    const t = sorted(times.get(index) ?? []);
    if (error || t.length === 0)
      return { label: e.label, error: error ?? 'not run', runs: 0, medianMs: NaN, p10Ms: NaN, p90Ms: NaN };
    const m = quantile(t, 0.5);
    const out: VariantLatency = {
      label: e.label,
      runs: t.length,
      medianMs: m,
      p10Ms: quantile(t, 0.1),
      p90Ms: quantile(t, 0.9),
    };
    if (baseMedian !== undefined && baseRounds) {
      out.speedup = baseMedian / m;
      const mine = roundMedians.get(index)!;
      const paired = sorted(mine.slice(0, baseRounds.length).map((x, r) => baseRounds[r] / x));
      out.speedupQ1 = quantile(paired, 0.25);
      out.speedupQ3 = quantile(paired, 0.75);
    }
    return out;
  });
  return {
    group,
    runtime: `${runtime.name}/${runtime.backend}`,
    threads: runtime.threads,
    rounds,
    wallMs: performance.now() - started,
    variants,
  };
}
