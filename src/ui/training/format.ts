/** A duration for the training view: '45 s', '3 min 20 s', '1 h 05 min'; '—' when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** Training throughput: '62 samples/s', one decimal below 10. */
export function formatRate(samplesPerSecond: number | null | undefined): string {
  if (typeof samplesPerSecond !== 'number' || !Number.isFinite(samplesPerSecond) || samplesPerSecond <= 0)
    return '—';
  return `${samplesPerSecond < 10 ? samplesPerSecond.toFixed(1) : Math.round(samplesPerSecond)} samples/s`;
}
