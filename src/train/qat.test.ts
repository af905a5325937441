import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import type { Model } from '../onnx/ir';
import { makeTensor, tensorArray } from '../onnx/tensor';
import { calibrateActivations } from '../passes/calibration';
import {
  activationGrid,
  dequantizeValue,
  quantizeValue,
  quantizeWeight,
  type QuantGrid,
} from '../passes/qdq';
import { quantizeAwareParams, qatSpec } from '../passes/quantizeAware';
import { applyStatic, planStatic, prepareStatic } from '../passes/quantizeStatic';
import { buildCnn, randomNormal, runtime, syntheticImages } from '../passes/testing/quantFixtures';
import { seededRandom } from '../runtime/inputs';
import { useTrainingBackend } from './backend';
import { TrainableGraph } from './graph';
import {
  fakeQuantize,
  fakeQuantizeWeight,
  QatQuantizer,
  quantizationAwareTraining,
  rangeParams,
  tapQuantizedInputs,
  useFakeQuantOps,
  weightKey,
  type FakeQuantParams,
  type QatSpec,
} from './qat';
import { DEFAULT_TRAIN_CONFIG, type TrainingCheckpoint, type TrainingData } from './trainer';

beforeAll(async () => {
  await useTrainingBackend('cpu');
});

/** Values around and beyond a grid: exact ties (k + ½)·scale, both ends, outliers, zero. */
function probeValues(p: FakeQuantParams, count: number, seed: number): Float32Array {
  const lo = (p.qmin - p.zeroPoint) * p.scale;
  const hi = (p.qmax - p.zeroPoint) * p.scale;
  const rand = seededRandom(seed);
  const values: number[] = [0, lo, hi, lo - p.scale, hi + p.scale, 10 * lo - 1, 10 * hi + 1];
  for (let k = p.qmin - p.zeroPoint - 3; k <= p.qmax - p.zeroPoint + 3; k++) values.push((k + 0.5) * p.scale);
  while (values.length < count) values.push(lo - 2 * p.scale + rand() * (hi - lo + 4 * p.scale));
  return Float32Array.from(values);
}

/** QuantizeLinear → DequantizeLinear in onnxruntime (optimizations off, so it runs those two kernels). */
async function ortQdq(values: Float32Array, p: FakeQuantParams, grid: QuantGrid): Promise<Float32Array> {
  const b = new GraphBuilder('qdq');
  const x = b.input('x', DataType.FLOAT, [values.length]);
  const scale = b.initializer('scale', DataType.FLOAT, [], Float32Array.of(p.scale));
  const zp = b.initializer(
    'zp',
    grid.dataType,
    [],
    grid.dataType === DataType.UINT8 ? Uint8Array.of(p.zeroPoint) : Int8Array.of(p.zeroPoint),
  );
  const q = b.op('QuantizeLinear', [x, scale, zp]);
  b.node('DequantizeLinear', [q, scale, zp], {}, { outputs: ['y'] });
  b.output('y', DataType.FLOAT, [values.length]);
  const session = await ort.InferenceSession.create(b.model({ opset: 13 }).encode(), {
    graphOptimizationLevel: 'disabled',
    logSeverityLevel: 3,
  });
  const out = await session.run({ x: new ort.Tensor('float32', values, [values.length]) });
  await session.release();
  return out.y!.data as Float32Array;
}

/** Values as numbers, −0 as 0 (tfjs rounds −0.3 to −0; onnxruntime dequantizes the integer 0 to +0). */
function numbers(a: ArrayLike<number>): number[] {
  return Array.from(a, (v) => v + 0);
}

describe.each([
  ['JavaScript loops', false],
  ['tfjs ops', true],
])('fake quantization (%s)', (_kernel, ops) => {
  beforeAll(() => useFakeQuantOps(ops));
  afterAll(() => useFakeQuantOps(false));

  const grids: [string, QuantGrid, number, number][] = [
    ['uint8 [-1.3, 2.9]', activationGrid('uint8'), -1.3, 2.9],
    ['uint8 ReLU range [0, 6.1]', activationGrid('uint8'), 0, 6.1],
    ['int8 [-0.7, 0.2]', activationGrid('int8'), -0.7, 0.2],
  ];

  it.each(grids)(
    'forward equals QuantizeLinear → DequantizeLinear exactly (%s)',
    async (_name, grid, lo, hi) => {
      const p = rangeParams({ min: lo, max: hi }, lo === 0, grid);
      const x = probeValues(p, 2000, 5);
      const got = tf.tidy(() => fakeQuantize(tf.tensor1d(x), p).dataSync());
      const reference = Float32Array.from(x, (v) => dequantizeValue(quantizeValue(v, p, grid), p));
      expect(numbers(got)).toEqual(numbers(reference));
      expect(numbers(got)).toEqual(numbers(await ortQdq(x, p, grid)));
      // Ties went both ways (round half to even), and values beyond the range were clamped.
      const steps = new Set(Array.from(got, (v) => Math.round(v / p.scale)));
      expect(steps.has(p.qmin - p.zeroPoint)).toBe(true);
      expect(steps.has(p.qmax - p.zeroPoint)).toBe(true);
      expect(Math.max(...got)).toBeCloseTo((p.qmax - p.zeroPoint) * p.scale, 6);
    },
  );

  it('the straight-through gradient is 1 inside the range and 0 where the value is clipped', () => {
    const grid = activationGrid('uint8');
    const p = rangeParams({ min: -1, max: 3 }, false, grid);
    const lo = (p.qmin - p.zeroPoint) * p.scale;
    const hi = (p.qmax - p.zeroPoint) * p.scale;
    const x = Float32Array.from([
      lo - 1,
      lo - p.scale,
      lo,
      lo + 0.013,
      -0.5,
      0,
      0.77,
      hi - 0.01,
      hi,
      hi + p.scale,
      9,
    ]);
    const upstream = Float32Array.from(x, (_, i) => i + 1);
    const grad = tf.tidy(() =>
      tf
        .grad((t: tf.Tensor) => tf.sum(tf.mul(fakeQuantize(t, p), tf.tensor1d(upstream))))(tf.tensor1d(x))
        .dataSync(),
    );
    const expected = Array.from(x, (v, i) => (v >= lo && v <= hi ? upstream[i] : 0));
    expect(Array.from(grad)).toEqual(expected);
    expect(expected.filter((g) => g === 0)).toHaveLength(4);
  });

  it('weights: per channel and per tensor symmetric int8 equal quantizeWeight dequantized, gradient identity', () => {
    const dims = [6, 3, 3, 3];
    const values = randomNormal(162, 11, 0.2);
    values.fill(0, 27, 54); // an all-zero channel keeps scale 1 and stays zero
    values[100] = 1.7; // an outlier in one channel
    for (const axis of [0, undefined]) {
      const q = quantizeWeight(values, dims, axis);
      const reference = Float32Array.from(q.data, (v, i) => {
        const c = axis === undefined ? 0 : Math.floor(i / 27);
        return v * q.scales[c];
      });
      const got = tf.tidy(() => fakeQuantizeWeight(tf.tensor(values, dims), axis).dataSync());
      expect(numbers(got)).toEqual(numbers(reference));
    }
    // Gemm weight [in, out] quantized along its output axis 1.
    const gemm = randomNormal(40, 12, 0.5);
    const q = quantizeWeight(gemm, [8, 5], 1);
    const got = tf.tidy(() => fakeQuantizeWeight(tf.tensor(gemm, [8, 5]), 1).dataSync());
    expect(numbers(got)).toEqual(numbers(Float32Array.from(q.data, (v, i) => v * q.scales[i % 5])));
    const grad = tf.tidy(() =>
      tf
        .grad((t: tf.Tensor) => tf.sum(tf.mul(fakeQuantizeWeight(t, 0), 3)))(tf.tensor(values, dims))
        .dataSync(),
    );
    expect(Array.from(new Set(grad))).toEqual([3]);
  });
});

describe('QatQuantizer', () => {
  const spec = (rangeUpdate: 'calibrated' | 'ema'): QatSpec => ({
    activations: new Map([
      ['a', 'a'],
      ['a_flat', 'a'],
      ['b', 'b'],
    ]),
    ranges: new Map([
      ['a', { min: -1, max: 1 }],
      ['b', { min: 0, max: 4 }],
    ]),
    nonNegative: new Set(['b']),
    grid: activationGrid('uint8'),
    weights: new Map(),
    rangeUpdate,
    momentum: 0.9,
  });

  it('EMA moves ranges by the training batches only, and the kept epoch’s ranges come back', () => {
    const tensorsBefore = tf.memory().numTensors;
    const qat = new QatQuantizer(spec('ema'));
    const hooks = qat.hooks();
    tf.tidy(() => {
      hooks.activation!('a', tf.tensor1d([-3, 0.5, 2]));
      hooks.activation!('a_flat', tf.tensor1d([-100, 100])); // shares a's range, does not move it
      hooks.activation!('other', tf.tensor1d([50]));
    });
    qat.afterStep();
    expect(qat.ranges.get('a')!.min).toBeCloseTo(0.9 * -1 + 0.1 * -3, 6);
    expect(qat.ranges.get('a')!.max).toBeCloseTo(0.9 * 1 + 0.1 * 2, 6);
    expect(qat.ranges.get('b')).toEqual({ min: 0, max: 4 });
    const c1: TrainingCheckpoint = { epoch: 1, weights: new Map(), history: [] };
    qat.onEpoch(c1);
    const epoch1 = { ...qat.ranges.get('a')! };
    // An evaluation pass after the epoch: measured, then dropped.
    tf.tidy(() => void hooks.activation!('a', tf.tensor1d([-50, 50])));
    const c2: TrainingCheckpoint = { epoch: 2, weights: new Map(), history: [] };
    qat.onEpoch(c2);
    qat.afterStep();
    expect(qat.ranges.get('a')).toEqual(epoch1);
    tf.tidy(() => void hooks.activation!('a', tf.tensor1d([-9, 9])));
    qat.afterStep();
    expect(qat.ranges.get('a')!.max).toBeGreaterThan(epoch1.max);
    const c3: TrainingCheckpoint = {
      epoch: 3,
      weights: new Map(),
      history: [],
      best: { epoch: 1, score: 1, weights: new Map() },
    };
    qat.onEpoch(c3);
    expect(c3.best!.weights.get('qat-range:a')).toHaveLength(4);
    const resumed = new QatQuantizer(spec('ema'));
    resumed.resume(c3);
    expect(resumed.ranges.get('a')).toEqual(qat.ranges.get('a'));
    resumed.keepEpoch(1);
    expect(resumed.ranges.get('a')).toEqual(epoch1);
    qat.keepEpoch(1);
    expect(qat.ranges.get('a')).toEqual(epoch1);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('calibrated ranges never move, and non-negative tensors quantize from 0', () => {
    const qat = new QatQuantizer(spec('calibrated'));
    const out = tf.tidy(() => {
      const y = qat.hooks().activation!('b', tf.tensor1d([-1, 0.005, 2, 5]));
      qat.afterStep();
      return numbers(y.dataSync());
    });
    const p = rangeParams({ min: 0, max: 4 }, true, activationGrid('uint8'));
    expect(p.zeroPoint).toBe(0);
    expect(out).toEqual([0, 0, Math.fround(Math.round(2 / p.scale) * p.scale), Math.fround(255 * p.scale)]);
    expect(qat.ranges.get('b')).toEqual({ min: 0, max: 4 });
  });
});

/** A labelled image set for the generated CNN: labels from the float model plus noise-free images. */
function imagesFor(model: Model, count: number, seed: number) {
  const x = syntheticImages(count, [1, 3, 16, 16], seed);
  const graph = TrainableGraph.build(model);
  const labels = tf.tidy(() => {
    const out = graph.forward({ x: tf.tensor(x, [count, 3, 16, 16]) }, { training: false });
    return Int32Array.from(tf.argMax(out[graph.outputNames[0]!]!, 1).dataSync());
  });
  graph.dispose();
  return { x, count, labels };
}

describe('quantization-aware training of a small CNN, exported as QDQ', () => {
  it('keeps pruning zeros, resumes exactly, exports the ranges it trained with, and onnxruntime computes what training simulated', async () => {
    const model = buildCnn({ seed: 3 });
    // Prune half of conv2's weights so the masks are exercised.
    const w2 = model.graph.initializers.get('conv2.weight')!;
    const w2Values = Float32Array.from(tensorArray(w2, model.external) as Float32Array);
    for (let i = 0; i < w2Values.length; i += 2) w2Values[i] = 0;
    model.graph.addInitializer(makeTensor('conv2.weight', DataType.FLOAT, [16, 8, 3, 3], w2Values));

    const params = quantizeAwareParams.parse({ ranges: 'ema', rangeMomentum: 0.9 });
    const prepared = prepareStatic(model, params);
    const plan = planStatic(prepared, params);
    const train = imagesFor(prepared.model, 96, 21);
    const validation = imagesFor(prepared.model, 32, 22);
    const calibration = await calibrateActivations(
      prepared.model,
      [...plan.tensors.keys()],
      runtime,
      {
        count: 16,
        feeds: (i) => ({
          x: { type: 'float32', dims: [1, 3, 16, 16], data: validation.x.subarray(i * 768, (i + 1) * 768) },
        }),
      },
      { method: 'minmax' },
    );
    const spec = qatSpec(plan, calibration, params, weightKey);
    expect(spec.weights.size).toBe(3);
    expect([...spec.activations.keys()]).toContain('x');
    const data: TrainingData = { input: 'x', sampleShape: [1, 3, 16, 16], train, validation };
    const config = { ...DEFAULT_TRAIN_CONFIG, epochs: 2, batchSize: 16, learningRate: 3e-3 };
    const checkpoints: TrainingCheckpoint[] = [];
    const r = await quantizationAwareTraining(prepared.model, data, config, spec, {
      backend: 'cpu',
      onEpoch: (c) => void checkpoints.push(c),
    });
    expect(r.maskedTensors).toBe(1);
    expect(r.training.history).toHaveLength(2);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual(prepared.model.graph.nodes.map((n) => n.opType));
    const trainedW2 = tensorArray(
      r.model.graph.initializers.get('conv2.weight')!,
      r.model.external,
    ) as Float32Array;
    for (let i = 0; i < trainedW2.length; i += 2) expect(trainedW2[i] + 0).toBe(0);
    expect(trainedW2.some((v, i) => i % 2 === 1 && v !== w2Values[i])).toBe(true);
    // EMA moved the ranges away from calibration.
    expect([...r.ranges].some(([k, v]) => v.max !== spec.ranges.get(k)!.max)).toBe(true);
    // Resuming after epoch 1 (a reload mid-training) ends exactly where the uninterrupted run did.
    const resumed = await quantizationAwareTraining(prepared.model, data, config, spec, {
      backend: 'cpu',
      resumeFrom: checkpoints[0],
    });
    expect(resumed.training.keptEpoch).toBe(r.training.keptEpoch);
    expect(resumed.ranges).toEqual(r.ranges);
    for (const [name, t] of r.model.graph.initializers)
      expect(tensorArray(resumed.model.graph.initializers.get(name)!, resumed.model.external)).toEqual(
        tensorArray(t, r.model.external),
      );

    const trained = { ...prepared, model: r.model.clone() };
    const exportPlan = planStatic(trained, params);
    expect(new Map(exportPlan.tensors)).toEqual(new Map(plan.tensors));
    const quantSpec = { ...spec, ranges: r.ranges, rangeUpdate: 'calibrated' as const };
    applyStatic(trained, exportPlan, r.ranges, params);
    const exported = trained.model;

    // Every activation Q carries exactly the parameters of the range the kept weights trained with.
    const grid = activationGrid('uint8');
    let checked = 0;
    for (const q of exported.graph.nodes.filter((n) => n.opType === 'QuantizeLinear')) {
      const tensor = q.inputs[0];
      const root = plan.tensors.get(tensor)!;
      const p = rangeParams(r.ranges.get(root)!, plan.nonNegative.has(root), grid);
      const scale = tensorArray(exported.graph.initializers.get(q.inputs[1])!, exported.external);
      const zp = tensorArray(exported.graph.initializers.get(q.inputs[2])!, exported.external);
      expect([scale[0], zp[0]]).toEqual([p.scale, p.zeroPoint]);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(4);

    // The simulated model (trained weights, fake quantization) against onnxruntime on the export.
    const probe = imagesFor(prepared.model, 24, 23);
    const tapped = tapQuantizedInputs(r.model, quantSpec.activations);
    const graph = TrainableGraph.build(tapped.model);
    const hooks = new QatQuantizer(quantSpec, tapped.aliases).hooks();
    const run = (withHooks: boolean) =>
      tf.tidy(() =>
        graph
          .forward(
            { x: tf.tensor(probe.x, [24, 3, 16, 16]) },
            { training: false, hooks: withHooks ? hooks : undefined },
          )
          .logits!.dataSync(),
      );
    const simulated = run(true);
    const float = run(false);
    graph.dispose();
    // The logits are a graph output, so they stay float (QGemm writes float32).
    expect(plan.tensors.has('logits')).toBe(false);
    const logitsRange = Math.max(...Array.from(simulated, Math.abs));
    const bytes = exported.encode();
    for (const level of ['disabled', 'all'] as const) {
      const session = await ort.InferenceSession.create(bytes, {
        graphOptimizationLevel: level,
        logSeverityLevel: 3,
      });
      let worst = 0;
      let floatWorst = 0;
      let agree = 0;
      for (let i = 0; i < 24; i++) {
        const out = await session.run({
          x: new ort.Tensor('float32', probe.x.slice(i * 768, (i + 1) * 768), [1, 3, 16, 16]),
        });
        const y = out.logits!.data as Float32Array;
        const s = simulated.subarray(i * 10, (i + 1) * 10);
        for (let k = 0; k < 10; k++) {
          worst = Math.max(worst, Math.abs(y[k]! - s[k]!));
          floatWorst = Math.max(floatWorst, Math.abs(y[k]! - float[i * 10 + k]!));
        }
        if (argmaxOf(y) === argmaxOf(s)) agree++;
      }
      await session.release();
      console.log(
        `QAT small CNN: simulated vs onnxruntime (${level === 'all' ? 'integer kernels' : 'QDQ unfused'}): worst logit difference ${((worst / logitsRange) * 100).toFixed(3)} % of the largest (the float weights without fake quantization: ${((floatWorst / logitsRange) * 100).toFixed(3)} %), top-1 agreement ${agree}/24`,
      );
      expect(worst).toBeLessThanOrEqual(0.005 * logitsRange);
      expect(floatWorst).toBeGreaterThan(4 * worst);
      expect(agree).toBeGreaterThanOrEqual(23);
    }
  });
});

function argmaxOf(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}
