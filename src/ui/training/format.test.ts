import { describe, expect, it } from 'vitest';
import { formatDuration, formatRate } from './format';

describe('training view formats', () => {
  it('formats durations in s, min and h', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(44.6)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(3900)).toBe('1 h 05 min');
    expect(formatDuration(Infinity)).toBe('—');
    expect(formatDuration(undefined)).toBe('—');
  });
  it('formats throughput', () => {
    expect(formatRate(62.4)).toBe('62 samples/s');
    expect(formatRate(7.25)).toBe('7.3 samples/s');
    expect(formatRate(0)).toBe('—');
  });
});
