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
