import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { inferShapes } from '../onnx/shapes';
import { seededRandom } from '../runtime/inputs';
import {
  activationGrid,
  computeQuantParams,
  constantValue,
  dequantizeValue,
  foldBiasAdds,
  quantizeBias,
  quantizeValue,
  quantizeWeight,
  roundHalfEven,
  WEIGHT_GRID,
} from './qdq';
import { compareOnFeeds, randomNormal, runtime } from './testing/quantFixtures';

const grids = {
  uint8: activationGrid('uint8'),
  int8: activationGrid('int8'),
};

describe('scale and zero-point math', () => {
  it('rounds half to even like QuantizeLinear', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1.4, -1.6].map((v) => roundHalfEven(v) + 0)).toEqual([
      0, 2, 2, 0, -2, -2, 1, -2,
    ]);
  });

  it('round-trips every value of the range within scale / 2, for random ranges and types', () => {
    const rand = seededRandom(9);
    for (let trial = 0; trial < 300; trial++) {
      const a = (rand() - 0.5) * 10 ** (rand() * 6 - 3);
      const b = a + rand() * 10 ** (rand() * 6 - 3);
      const grid = trial % 2 ? grids.uint8 : grids.int8;
      const p = computeQuantParams(a, b, grid);
      expect(p.scale).toBeGreaterThan(0);
      expect(Math.fround(p.scale)).toBe(p.scale);
      expect(p.zeroPoint).toBeGreaterThanOrEqual(grid.qmin);
      expect(p.zeroPoint).toBeLessThanOrEqual(grid.qmax);
      for (let k = 0; k < 50; k++) {
        const x = Math.min(a, 0) + rand() * (Math.max(b, 0) - Math.min(a, 0));
        const q = quantizeValue(x, p, grid);
        expect(Math.abs(dequantizeValue(q, p) - x)).toBeLessThanOrEqual(p.scale / 2 + 1e-12 * Math.abs(x));
      }
      // Zero is exactly representable, even when the range does not contain it.
      expect(dequantizeValue(quantizeValue(0, p, grid), p)).toBe(0);
    }
  });

  it('saturates values outside the range', () => {
    const p = computeQuantParams(-1, 1, grids.uint8);
    expect(quantizeValue(100, p, grids.uint8)).toBe(255);
    expect(quantizeValue(-100, p, grids.uint8)).toBe(0);
    const s = computeQuantParams(-3, 2, WEIGHT_GRID, true);
    expect(quantizeValue(1e9, s, WEIGHT_GRID)).toBe(127);
    expect(quantizeValue(-1e9, s, WEIGHT_GRID)).toBe(-127);
  });

  it('makes symmetric ranges with zero point 0 and ±absmax on ±127', () => {
    const p = computeQuantParams(-3, 2, WEIGHT_GRID, true);
    expect(p.zeroPoint).toBe(0);
    expect(p.scale).toBe(Math.fround(3 / 127));
    expect(quantizeValue(-3, p, WEIGHT_GRID)).toBe(-127);
    expect(quantizeValue(3, p, WEIGHT_GRID)).toBe(127);
    // A range of zeros stays representable.
    expect(computeQuantParams(0, 0, WEIGHT_GRID, true)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(computeQuantParams(0, 0, grids.uint8)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(computeQuantParams(0, 1e-44, grids.uint8)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(computeQuantParams(-1e-44, 0, WEIGHT_GRID, true)).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it('a ReLU range [0, max] puts the zero point at the type minimum', () => {
    expect(computeQuantParams(0, 6, grids.uint8).zeroPoint).toBe(0);
    expect(computeQuantParams(0, 6, grids.int8).zeroPoint).toBe(-128);
  });

  it('matches onnxruntime QuantizeLinear bit for bit, ties included', async () => {
    const p = computeQuantParams(-2.5, 7.25, grids.uint8);
    const rand = seededRandom(4);
    const xs = Float32Array.from({ length: 512 }, (_, i) =>
      i % 4 === 0 ? Math.fround((Math.round(rand() * 200) - 60 + 0.5) * p.scale) : (rand() - 0.3) * 12,
    );
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [xs.length]);
    const s = b.initializer('s', DataType.FLOAT, [], [p.scale]);
    const z = b.initializer('z', DataType.UINT8, [], [p.zeroPoint]);
    b.node('QuantizeLinear', [x, s, z], {}, { outputs: ['q'] });
    b.output('q', DataType.UINT8, [xs.length]);
    const session = await runtime.createSession(b.bytes({ opset: 13 }));
    const out = await session.run({ x: { type: 'float32', dims: [xs.length], data: xs } });
    await session.release();
    const ours = Array.from(xs, (v) => quantizeValue(v, p, grids.uint8));
    expect(Array.from(out.q.data as Uint8Array)).toEqual(ours);
  });
});

describe('scale and zero-point properties (seeded random cases)', () => {
  const rand = seededRandom(77);
  /** A random range: magnitudes from 1e-3 to 1e3, containing zero or lying on one side of it. */
  function randomRange(): [number, number] {
    const a = (rand() - 0.5) * 10 ** (rand() * 6 - 3);
    const b = a + rand() * 10 ** (rand() * 6 - 3);
    return [a, b];
  }
  const allGrids = [grids.uint8, grids.int8, WEIGHT_GRID];

  it('saturates every value beyond the range at the grid ends, monotonically', () => {
    for (let trial = 0; trial < 300; trial++) {
      const [a, b] = randomRange();
      const grid = allGrids[trial % 3];
      const p = computeQuantParams(a, b, grid);
      const lo = dequantizeValue(grid.qmin, p);
      const hi = dequantizeValue(grid.qmax, p);
      // The grid covers the range (widened to include 0) to within half a step at each end.
      expect(lo).toBeLessThanOrEqual(Math.min(a, 0) + p.scale / 2);
      expect(hi).toBeGreaterThanOrEqual(Math.max(b, 0) - p.scale / 2);
      const wrong: string[] = [];
      for (let k = 0; k < 20; k++) {
        const far = (1 + rand() * 1e3) * (hi - lo + p.scale);
        if (quantizeValue(hi + far, p, grid) !== grid.qmax) wrong.push(`${hi + far} not at qmax`);
        if (quantizeValue(lo - far, p, grid) !== grid.qmin) wrong.push(`${lo - far} not at qmin`);
      }
      if (quantizeValue(Infinity, p, grid) !== grid.qmax) wrong.push('+∞ not at qmax');
      if (quantizeValue(-Infinity, p, grid) !== grid.qmin) wrong.push('−∞ not at qmin');
      let previous = -Infinity;
      for (let k = 0; k <= 200; k++) {
        const x = lo - 2 * p.scale + ((hi - lo + 4 * p.scale) * k) / 200;
        const q = quantizeValue(x, p, grid);
        if (q < previous) wrong.push(`not monotone at ${x}`);
        if (!Number.isInteger(q) || q < grid.qmin || q > grid.qmax) wrong.push(`${q} off the grid`);
        previous = q;
      }
      expect(wrong, `[${a}, ${b}] on [${grid.qmin}, ${grid.qmax}]`).toEqual([]);
    }
  });

  it('symmetric ranges: zero point in the middle, ±absmax on the grid ends, odd symmetry', () => {
    for (let trial = 0; trial < 300; trial++) {
      const [a, b] = randomRange();
      const p = computeQuantParams(a, b, WEIGHT_GRID, true);
      const absMax = Math.max(Math.abs(a), Math.abs(b));
      expect(p.zeroPoint).toBe(0);
      expect(p.scale).toBe(Math.fround(absMax / 127));
      expect(quantizeValue(absMax, p, WEIGHT_GRID)).toBe(127);
      expect(quantizeValue(-absMax, p, WEIGHT_GRID)).toBe(-127);
      expect(quantizeValue(0, p, WEIGHT_GRID)).toBe(0);
      for (let k = 0; k < 30; k++) {
        const x = (rand() * 2 - 1) * absMax;
        const q = quantizeValue(x, p, WEIGHT_GRID);
        expect(quantizeValue(-x, p, WEIGHT_GRID)).toBe(-q || 0);
        expect(Math.abs(dequantizeValue(q, p) - x)).toBeLessThanOrEqual(p.scale / 2 + 1e-12 * absMax);
      }
      // The int8 activation grid [−128, 127] has its middle at 0 too (rounded up from −0.5).
      expect(Object.is(computeQuantParams(a, b, grids.int8, true).zeroPoint, 0)).toBe(true);
      // uint8 puts zero at 128 (the middle of 0 … 255, rounded up).
      expect(computeQuantParams(a, b, grids.uint8, true).zeroPoint).toBe(128);
    }
  });

  it('per-channel weights along any axis: one scale per channel, channels independent, zero exact', () => {
    for (let trial = 0; trial < 60; trial++) {
      const rank = 1 + Math.floor(rand() * 4);
      const dims = Array.from({ length: rank }, () => 1 + Math.floor(rand() * 5));
      const size = dims.reduce((x, y) => x * y, 1);
      const axis = Math.floor(rand() * rank) - (trial % 2 ? rank : 0); // negative axes too
      const a = axis < 0 ? axis + rank : axis;
      const values = randomNormal(size, trial, 10 ** (rand() * 4 - 2));
      values[Math.floor(rand() * size)] = 0;
      const q = quantizeWeight(values, dims, axis);
      expect(q.axis).toBe(a);
      expect(q.scales.length).toBe(dims[a]);
      const inner = dims.slice(a + 1).reduce((x, y) => x * y, 1);
      const channel = (i: number) => Math.floor(i / inner) % dims[a];
      values.forEach((v, i) => {
        const s = q.scales[channel(i)];
        expect(Math.abs(q.data[i] * s - v)).toBeLessThanOrEqual(s / 2 + 1e-6 * Math.abs(v));
        if (v === 0) expect(q.data[i]).toBe(0);
      });
      // Scaling one channel by 1024 changes only that channel's scale, and none of the integers.
      const c = Math.floor(rand() * dims[a]);
      const louder = Float32Array.from(values, (v, i) => (channel(i) === c ? v * 1024 : v));
      const q2 = quantizeWeight(louder, dims, axis);
      expect(Array.from(q2.data)).toEqual(Array.from(q.data));
      const silent = values.every((v, i) => channel(i) !== c || v === 0);
      q.scales.forEach((s, k) => expect(q2.scales[k]).toBe(k === c && !silent ? Math.fround(s * 1024) : s));
    }
  });

  it('onnxruntime DequantizeLinear with an axis reads our per-channel weights as we do', async () => {
    const dims = [3, 4, 2, 5];
    const values = randomNormal(120, 12, 0.5);
    for (const axis of [0, 1, 3]) {
      const q = quantizeWeight(values, dims, axis);
      const b = new GraphBuilder();
      const data = b.input('q', DataType.INT8, dims);
      const s = b.initializer('s', DataType.FLOAT, [q.scales.length], q.scales);
      const z = b.initializer('z', DataType.INT8, [q.scales.length], q.zeroPoints);
      b.node('DequantizeLinear', [data, s, z], { axis }, { outputs: ['y'] });
      b.output('y', DataType.FLOAT, dims);
      const session = await runtime.createSession(b.bytes({ opset: 13 }));
      const out = await session.run({ q: { type: 'int8', dims, data: q.data } });
      await session.release();
      const inner = dims.slice(axis + 1).reduce((x, y) => x * y, 1);
      const ours = Array.from(q.data, (v, i) =>
        Math.fround(v * q.scales[Math.floor(i / inner) % dims[axis]]),
      );
      expect(Array.from(out.y.data as Float32Array)).toEqual(ours);
    }
  });
});

describe('weight and bias quantization', () => {
  it('quantizes per channel along any axis with one symmetric scale per channel', () => {
    const dims = [4, 3, 2, 2];
    const values = randomNormal(48, 5);
    for (let c = 0; c < 12; c++) values[c] *= 10; // channel 0 of axis 0 is much larger
    for (const axis of [0, 1, 3]) {
      const q = quantizeWeight(values, dims, axis);
      expect(q.axis).toBe(axis);
      expect(q.scales.length).toBe(dims[axis]);
      expect([...q.zeroPoints].every((z) => z === 0)).toBe(true);
      const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      const absMax = new Float64Array(dims[axis]);
      values.forEach((v, i) => {
        const c = Math.floor(i / inner) % dims[axis];
        absMax[c] = Math.max(absMax[c], Math.abs(v));
      });
      values.forEach((v, i) => {
        const c = Math.floor(i / inner) % dims[axis];
        expect(q.scales[c]).toBe(Math.fround(absMax[c] / 127));
        expect(Math.abs(q.data[i] * q.scales[c] - v)).toBeLessThanOrEqual(q.scales[c] / 2 + 1e-7);
      });
    }
    const perTensor = quantizeWeight(values, dims, undefined);
    expect(perTensor.scales.length).toBe(1);
    expect(perTensor.axis).toBeUndefined();
  });

  it('quantizes biases to int32 with scale = input scale × weight scale', () => {
    const bias = [0.5, -0.25, 1e6];
    const r = quantizeBias(bias, 0.02, [0.01, 0.005, 1e-9]);
    expect(Array.from(r.scales)).toEqual([Math.fround(0.0002), Math.fround(0.0001), Math.fround(2e-11)]);
    expect(r.data[0]).toBe(2500);
    expect(r.data[1]).toBe(-2500);
    expect(r.data[2]).toBe(2 ** 31 - 1);
    expect(r.saturated).toBe(1);
  });
});

describe('graph helpers', () => {
  it('reads constants through Reshape, Flatten and Constant nodes', () => {
    const b = new GraphBuilder();
    const w = b.initializer(
      'w',
      DataType.FLOAT,
      [2, 3, 2],
      Float32Array.from({ length: 12 }, (_, i) => i),
    );
    const shape = b.initializer('shape', DataType.INT64, [2], [-1, 4]);
    const r = b.op('Reshape', [w, shape], {}, 'reshape');
    const f = b.op('Flatten', [w], { axis: 2 }, 'flatten');
    const c = b.op('Constant', [], { value: b.graph().initializer[0] }, 'const');
    const m = b.model();
    expect(constantValue(m.graph, r, m.external)?.dims).toEqual([3, 4]);
    expect(constantValue(m.graph, f, m.external)?.dims).toEqual([6, 2]);
    expect(Array.from(constantValue(m.graph, c, m.external)!.values)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  it('folds bias Adds into Conv and MatMul (as Gemm) without changing the outputs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 3, 6, 6]);
    const w = b.initializer('w', DataType.FLOAT, [4, 3, 3, 3], randomNormal(108, 1));
    const conv = b.op('Conv', [x, w], {}, 'conv');
    const cb = b.initializer('cb', DataType.FLOAT, [4, 1, 1], [0.5, -1, 2, 0.25]);
    const add = b.op('Add', [cb, conv], {}, 'add');
    const flat = b.op('Flatten', [add], {}, 'flat');
    const w2 = b.initializer('w2', DataType.FLOAT, [64, 5], randomNormal(320, 2));
    const mm = b.op('MatMul', [flat, w2], {}, 'mm');
    const mb = b.initializer('mb', DataType.FLOAT, [1, 5], [1, 2, 3, 4, 5]);
    b.node('Add', [mm, mb], {}, { name: 'add2', outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 5]);
    const m = b.model();
    const folded = m.clone();
    const facts = inferShapes(folded.graph);
    expect(foldBiasAdds(folded.graph, folded.external, facts, new Set())).toEqual(['add', 'add2']);
    expect(folded.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'Flatten', 'Gemm']);
    expect(folded.graph.initializers.has('cb') || folded.graph.initializers.has('mb')).toBe(false);
    const feeds = [{ x: { type: 'float32', dims: [1, 3, 6, 6], data: randomNormal(108, 3) } }];
    const f = await compareOnFeeds(m, folded, feeds);
    expect(f.maxAbsError).toBeLessThan(1e-4);
    // Excluded nodes are left alone.
    const kept = Model.decode(m.encode());
    expect(foldBiasAdds(kept.graph, kept.external, inferShapes(kept.graph), new Set(['conv']))).toEqual([
      'add2',
    ]);
  });
});
