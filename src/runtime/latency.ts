import type { RtTensor, RuntimeSession } from './types';

export interface LatencyResult {
  runs: number;
  warmup: number;
  medianMs: number;
  p95Ms: number;
  minMs: number;
  meanMs: number;
}

/** Nearest-rank quantile of sorted samples. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/**
 * Median and p95 latency over `runs` timed runs after `warmup` untimed ones (the first runs pay for
 * allocation and kernel selection). `maxMs` bounds the timed phase for slow models.
 */
export async function measureLatency(
  session: RuntimeSession,
  feeds: Record<string, RtTensor>,
  options: { runs?: number; warmup?: number; maxMs?: number; signal?: AbortSignal } = {},
): Promise<LatencyResult> {
  const runs = options.runs ?? 20;
  const warmup = options.warmup ?? 3;
  const maxMs = options.maxMs ?? 30_000;
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < runs; i++) {
    options.signal?.throwIfAborted();
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
    if (performance.now() - start > maxMs && times.length >= 3) break;
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    runs: times.length,
    warmup,
    medianMs: quantile(sorted, 0.5),
    p95Ms: quantile(sorted, 0.95),
    minMs: sorted[0],
    meanMs: times.reduce((a, b) => a + b, 0) / times.length,
  };
}
