import type { DimSummary } from '../onnx/summary';

const integer = new Intl.NumberFormat('en-US');

/** 1234567 → "1,234,567". */
export function formatCount(n: number): string {
  return integer.format(n);
}

/** 1234567 → "1.23 M", for large counts beside their exact value. */
export function formatCompact(n: number): string {
  if (n < 1e4) return integer.format(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e5 ? 1 : 0)} k`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)} M`;
  return `${(n / 1e9).toFixed(2)} G`;
}

/** Bytes in binary units: 26454 → "25.8 KiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Milliseconds with a precision that suits their size. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(0)} ms`;
}

/** A dimension as text: its size, its symbolic name, or "?" when unknown. */
export function formatDim(d: DimSummary): string {
  return d === null ? '?' : String(d);
}

/** A shape as "[1 × 3 × batch]", "scalar" for rank 0, "unknown" when missing. */
export function formatShape(shape: readonly DimSummary[] | null | undefined): string {
  if (!shape) return 'unknown';
  if (shape.length === 0) return 'scalar';
  return `[${shape.map(formatDim).join(' × ')}]`;
}

/** A statistic with 4 significant digits, exponent form for tiny or huge values. */
export function formatStat(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? Number(v.toPrecision(4)).toString() : v.toExponential(2);
}
