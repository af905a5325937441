import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import {
  calibrateActivations,
  createCalibrator,
  EntropyCalibrator,
  MinMaxCalibrator,
  PercentileCalibrator,
  StreamingHistogram,
} from './calibration';
import { randomNormal, runtime } from './testing/quantFixtures';
import { seededRandom } from '../runtime/inputs';

/** Laplace-distributed values (heavy tails) plus a few far outliers. */
function heavyTailed(n: number, seed: number, outliers: number[] = []): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n + outliers.length);
  for (let i = 0; i < n; i++) {
    const u = rand() - 0.5;
    out[i] = -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }
  out.set(outliers, n);
  return out;
}

function chunks(values: Float32Array, sizes: number[]): Float32Array[] {
  const out: Float32Array[] = [];
  let at = 0;
  for (let i = 0; at < values.length; i++) {
    const size = sizes[i % sizes.length];
    out.push(values.subarray(at, at + size));
    at += size;
  }
  return out;
}

describe('calibrators', () => {
  it('MinMax is exact and ignores non-finite values', () => {
    const c = new MinMaxCalibrator();
    c.observe([0.5, -2.25, 3]);
    c.observe([NaN, Infinity, 1, -1]);
    expect(c.range()).toEqual({ min: -2.25, max: 3 });
    expect(c.count).toBe(5);
    expect(new MinMaxCalibrator().range()).toEqual({ min: 0, max: 0 });
  });

  it('Percentile clips outliers but keeps the bulk of the distribution', () => {
    const values = randomNormal(100_000, 1);
    values[10] = 1000;
    values[20] = -800;
    const p = new PercentileCalibrator(99.99);
    p.observe(values);
    const r = p.range();
    expect(r.max).toBeGreaterThan(3);
    expect(r.max).toBeLessThan(8);
    expect(r.min).toBeLessThan(-3);
    expect(r.min).toBeGreaterThan(-8);
    const all = new PercentileCalibrator(100);
    all.observe(values);
    expect(all.range()).toEqual({ min: -800, max: 1000 });
  });

  it('Entropy picks a threshold well below the max of a heavy-tailed histogram', () => {
    const values = heavyTailed(200_000, 2, [60, 75, -70]);
    const e = new EntropyCalibrator();
    e.observe(values);
    const r = e.range();
    expect(r.max).toBeGreaterThan(4);
    expect(r.max).toBeLessThan(40);
    expect(r.min).toBeLessThan(-4);
    // Non-negative data (after ReLU) gets a one-sided range starting at its minimum.
    const relu = new EntropyCalibrator();
    relu.observe(values.map((v) => Math.max(0, v)));
    const rr = relu.range();
    expect(rr.min).toBe(0);
    expect(rr.max).toBeLessThan(40);
    expect(rr.max).toBeGreaterThan(4);
    // Data away from zero (all negative here) is not clipped to a sliver of its range.
    const negative = new EntropyCalibrator();
    negative.observe(Float32Array.from(randomNormal(50_000, 4, 0.4), (v) => -2.4 + v));
    const nr = negative.range();
    expect(nr.max).toBeLessThan(-0.5);
    expect(nr.min).toBeLessThan(-3.5);
  });

  it('streaming gives exactly the same histogram and ranges as all values at once', () => {
    const values = heavyTailed(50_000, 3, [200, -150]);
    for (const method of ['minmax', 'percentile', 'entropy'] as const) {
      const once = createCalibrator(method, { percentile: 99.9 });
      once.observe(values);
      const streamed = createCalibrator(method, { percentile: 99.9 });
      // Small batches first, so the histogram has to widen several times.
      const sorted = [...chunks(values, [7, 1000, 33])].sort((a, b) => maxAbs(a) - maxAbs(b));
      for (const c of sorted) streamed.observe(c);
      expect(streamed.range(), method).toEqual(once.range());
      if (once instanceof PercentileCalibrator && streamed instanceof PercentileCalibrator)
        expect([...streamed.histogram.counts]).toEqual([...once.histogram.counts]);
    }
  });

  it('widens the histogram by exact merges', () => {
    const h = new StreamingHistogram(8);
    h.add([0, 0.1, 0.2]);
    expect(h.width).toBe(2 ** -5);
    h.add([3]);
    expect(h.width).toBe(0.5);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(4);
    expect(h.counts[8]).toBe(3);
    expect(h.counts[8 + 6]).toBe(1);
    const zerosFirst = new StreamingHistogram(8);
    zerosFirst.add([0, 0]);
    zerosFirst.add([1]);
    expect(zerosFirst.counts[8]).toBe(2);
  });
});

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describe('calibrateActivations', () => {
  it('captures intermediate tensors sample by sample in one session', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 4]);
    const w = b.initializer('w', DataType.FLOAT, [4, 4], [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1]);
    const h = b.op('MatMul', [x, w], {}, 'mm');
    const r = b.op('Relu', [h], {}, 'relu');
    b.node('Neg', [r], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 4]);
    const model = b.model();
    const inputs = [
      [1, 2, 3, 4],
      [-1, 0.5, -3, 2],
      [0, -2, 1, 10],
    ];
    const progress: number[] = [];
    const ranges = await calibrateActivations(
      model,
      [h, r, 'y'],
      runtime,
      {
        count: 3,
        feeds: (i) => ({ x: { type: 'float32', dims: [1, 4], data: Float32Array.from(inputs[i]) } }),
      },
      { method: 'minmax', progress: (d) => progress.push(d) },
    );
    expect(ranges.get(h)).toEqual({ min: -4, max: 10 });
    expect(ranges.get(r)).toEqual({ min: 0, max: 10 });
    expect(ranges.get('y')!.min).toBe(-10);
    expect(ranges.get('y')!.max === 0).toBe(true);
    expect(progress).toEqual([1, 2, 3]);
    // The model itself is untouched (extra outputs live on a copy).
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['y']);
  });
});
