/**
 * Number formatting shared by the studio, the CLI and the PDF report, so that every surface shows
 * exactly the same text for the same measurement. Plain functions, no locale dependence.
 */

/** Shown where a value is missing (no labels, stage not measured). */
export const missing = '—';

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** 5998 → '5,998'; -1234567 → '-1,234,567'. Integers are rounded. */
export function formatCount(n: number | null | undefined): string {
  if (!finite(n)) return missing;
  const digits = String(Math.round(Math.abs(n)));
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return Math.round(n) < 0 ? `-${grouped}` : grouped;
}

/** 389_600 → '389.6 k', 12_345_678 → '12.3 M', 999 → '999' (one decimal, SI prefixes). */
export function formatCompactCount(n: number | null | undefined): string {
  if (!finite(n)) return missing;
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  const a = Math.abs(n);
  for (const [scale, unit] of units) {
    // 999_960 would print as '1000.0 k': promote to the next unit when rounding reaches it.
    if (a >= scale * 0.99995) return `${(n / scale).toFixed(1)} ${unit}`;
  }
  return formatCount(n);
}

/** 812 → '812 B', 26454 → '25.8 KiB', 3_400_000 → '3.2 MiB' (binary units, one decimal). */
export function formatBytes(n: number | null | undefined): string {
  if (!finite(n)) return missing;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (Math.abs(n) < 1024) return `${Math.round(n)} B`;
  let v = n / 1024;
  let i = 0;
  // 1,048,575 bytes would print as '1024.0 KiB': promote when rounding reaches the next unit.
  while (Math.abs(v) >= 1023.95 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A fraction as a percentage with two decimals: 0.987 → '98.70%'; null → '—'. */
export function formatPercent(fraction: number | null | undefined): string {
  if (!finite(fraction)) return missing;
  return `${(fraction * 100).toFixed(2)}%`;
}

/** Milliseconds, three significant decimals for small values: '0.123 ms', '12.35 ms', '123.4 ms'. */
export function formatMs(ms: number | null | undefined): string {
  if (!finite(ms)) return missing;
  const a = Math.abs(ms);
  return `${a < 9.9995 ? ms.toFixed(3) : a < 99.995 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

/** Signal-to-quantization-noise ratio: '42.1 dB', or '∞' when the outputs are identical. */
export function formatSqnr(db: number | null | undefined): string {
  if (db === Infinity) return '∞';
  if (!finite(db)) return missing;
  return `${db.toFixed(1)} dB`;
}

/** Largest absolute output difference: '0' when exact, three significant digits otherwise. */
export function formatAbsError(x: number | null | undefined): string {
  if (x === 0) return '0';
  if (x === Infinity) return '∞';
  if (!finite(x)) return missing;
  const a = Math.abs(x);
  return a < 1e-3 || a >= 1e6 ? x.toExponential(2) : x.toPrecision(3);
}

/** How many times smaller: original 1000, final 250 → '4.00×'. */
export function formatRatio(original: number | null | undefined, final: number | null | undefined): string {
  if (!finite(original) || !finite(final) || final <= 0) return missing;
  return `${(original / final).toFixed(2)}×`;
}

/** Relative change with a sign and two decimals: 1000 → 250 is '-75.00%'; no change is '0.00%'. */
export function formatChange(from: number | null | undefined, to: number | null | undefined): string {
  if (!finite(from) || !finite(to) || from === 0) return missing;
  const d = ((to - from) / Math.abs(from)) * 100;
  const text = d.toFixed(2);
  if (text === '0.00' || text === '-0.00') return '0.00%';
  return `${d > 0 ? '+' : ''}${text}%`;
}

/** Difference of two fractions in percentage points: 0.987 → 0.981 is '-0.60 pp'. */
export function formatPointsChange(from: number | null | undefined, to: number | null | undefined): string {
  if (!finite(from) || !finite(to)) return missing;
  const text = ((to - from) * 100).toFixed(2);
  if (text === '0.00' || text === '-0.00') return '0.00 pp';
  return `${to > from ? '+' : ''}${text} pp`;
}

/** A fraction in percentage points: 0.01 → '1.00 pp'. */
export function formatPoints(fraction: number | null | undefined): string {
  if (!finite(fraction)) return missing;
  return `${(fraction * 100).toFixed(2)} pp`;
}

/** Latency change as a speed factor: 2.0 ms → 1.0 ms is '2.00× faster'. */
export function formatSpeedup(fromMs: number | null | undefined, toMs: number | null | undefined): string {
  if (!finite(fromMs) || !finite(toMs) || fromMs <= 0 || toMs <= 0) return missing;
  const r = fromMs / toMs;
  if (r.toFixed(2) === '1.00') return 'same speed';
  return r >= 1 ? `${r.toFixed(2)}× faster` : `${(1 / r).toFixed(2)}× slower`;
}

/** A date as the report prints it: '2026-05-04 13:22 UTC'. */
export function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())} UTC`;
}
