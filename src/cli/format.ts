import type { DimSummary, ValueSummary } from '../onnx/summary';

/** 5998 → '5,998'. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** 26454 → '26,454 bytes (25.8 KiB)'. */
export function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n;
  let unit = '';
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return unit ? `${formatCount(n)} bytes (${v.toFixed(1)} ${unit})` : `${formatCount(n)} bytes`;
}

/** A dimension as text: its size, its symbolic name, or '?' when unknown. */
export function formatDim(d: DimSummary): string {
  return d === null ? '?' : String(d);
}

/** 'float[1,1,28,28]', 'float[batch,sequence]', or 'float (shape unknown)'. */
export function formatValueType(v: ValueSummary): string {
  return v.shape ? `${v.type}[${v.shape.map(formatDim).join(',')}]` : `${v.type} (shape unknown)`;
}

/** Milliseconds with three significant decimals for small values. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  return ms < 10 ? ms.toFixed(3) : ms < 100 ? ms.toFixed(2) : ms.toFixed(1);
}

/** Align rows into columns separated by two spaces; the last column is not padded. */
export function table(rows: readonly (readonly string[])[], indent = ''): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]) : c)).join('  '));
}

/** `label  value` lines with the labels padded to one width; multi-line values continue aligned. */
export function fields(entries: readonly [string, string | string[]][]): string[] {
  const width = Math.max(...entries.map(([k]) => k.length));
  const lines: string[] = [];
  for (const [label, value] of entries) {
    const values = Array.isArray(value) ? value : [value];
    values.forEach((v, i) => lines.push(`${(i === 0 ? label : '').padEnd(width)}  ${v}`.trimEnd()));
    if (values.length === 0) lines.push(`${label.padEnd(width)}  (none)`);
  }
  return lines;
}

/**
 * Indented JSON with arrays of plain values (shapes, lists of names) kept on one line. Only
 * whitespace between tokens changes: JSON strings cannot hold raw newlines, so every match is structural.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\n\s*([^[\]{}]*?)\n\s*\]/g,
    (_, items: string) => `[${items.split(/,\n\s*/).join(', ')}]`,
  );
}
