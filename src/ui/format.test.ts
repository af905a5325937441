import { describe, expect, it } from 'vitest';
import { formatBytes, formatCompact, formatCount, formatMs, formatShape, formatStat } from './format';

describe('UI number formats', () => {
  it('formats counts, sizes and times', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCompact(9999)).toBe('9,999');
    expect(formatCompact(12_345)).toBe('12.3 k');
    expect(formatCompact(2_500_000)).toBe('2.50 M');
    expect(formatBytes(1000)).toBe('1000 B');
    expect(formatBytes(26_454)).toBe('25.8 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.00 MiB');
    expect(formatMs(0.0751)).toBe('0.075 ms');
    expect(formatMs(12.345)).toBe('12.35 ms');
    expect(formatMs(1234.5)).toBe('1235 ms');
  });

  it('formats shapes with symbolic and unknown dims', () => {
    expect(formatShape(['batch', 3, null])).toBe('[batch × 3 × ?]');
    expect(formatShape([])).toBe('scalar');
    expect(formatShape(null)).toBe('unknown');
  });

  it('formats statistics with four significant digits', () => {
    expect(formatStat(0.123456)).toBe('0.1235');
    expect(formatStat(-3)).toBe('-3');
    expect(formatStat(1.5e-7)).toBe('1.50e-7');
    expect(formatStat(0)).toBe('0');
    expect(formatStat(NaN)).toBe('NaN');
  });
});
