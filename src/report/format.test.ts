import { describe, expect, it } from 'vitest';
import {
  formatAbsError,
  formatBytes,
  formatChange,
  formatCompactCount,
  formatCount,
  formatDate,
  formatMs,
  formatPercent,
  formatPointsChange,
  formatRatio,
  formatSpeedup,
  formatSqnr,
} from './format';

describe('shared number formatting', () => {
  it('formats bytes in binary units with one decimal', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(812)).toBe('812 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(26454)).toBe('25.8 KiB');
    expect(formatBytes(1048575)).toBe('1.0 MiB');
    expect(formatBytes(3.5 * 1024 ** 2)).toBe('3.5 MiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(formatBytes(null)).toBe('—');
  });

  it('formats percentages with two decimals and missing values as a dash', () => {
    expect(formatPercent(0.987)).toBe('98.70%');
    expect(formatPercent(1)).toBe('100.00%');
    expect(formatPercent(0)).toBe('0.00%');
    expect(formatPercent(null)).toBe('—');
    expect(formatPercent(NaN)).toBe('—');
  });

  it('formats milliseconds with three significant decimals', () => {
    expect(formatMs(0.12345)).toBe('0.123 ms');
    expect(formatMs(9.99949)).toBe('9.999 ms');
    expect(formatMs(9.9996)).toBe('10.00 ms');
    expect(formatMs(12.345)).toBe('12.35 ms');
    expect(formatMs(123.45)).toBe('123.5 ms');
  });

  it('formats SQNR in dB with one decimal, identical outputs as ∞', () => {
    expect(formatSqnr(Infinity)).toBe('∞');
    expect(formatSqnr(42.06)).toBe('42.1 dB');
    expect(formatSqnr(undefined)).toBe('—');
  });

  it('formats counts, errors, changes and ratios', () => {
    expect(formatCount(5998)).toBe('5,998');
    expect(formatCount(-1234567)).toBe('-1,234,567');
    expect(formatCount(12)).toBe('12');
    expect(formatCompactCount(999)).toBe('999');
    expect(formatCompactCount(389_600)).toBe('389.6 k');
    expect(formatCompactCount(999_960)).toBe('1.0 M');
    expect(formatAbsError(0)).toBe('0');
    expect(formatAbsError(0.01234)).toBe('0.0123');
    expect(formatAbsError(1.5e-5)).toBe('1.50e-5');
    expect(formatChange(1000, 250)).toBe('-75.00%');
    expect(formatChange(1000, 1000)).toBe('0.00%');
    expect(formatChange(100, 110)).toBe('+10.00%');
    expect(formatPointsChange(0.987, 0.981)).toBe('-0.60 pp');
    expect(formatPointsChange(0.5, 0.5)).toBe('0.00 pp');
    expect(formatRatio(1000, 250)).toBe('4.00×');
    expect(formatSpeedup(2, 1)).toBe('2.00× faster');
    expect(formatSpeedup(1, 2)).toBe('2.00× slower');
    expect(formatDate('2026-05-04T13:22:09Z')).toBe('2026-05-04 13:22 UTC');
  });
});
