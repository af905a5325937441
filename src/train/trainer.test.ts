import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { seededRandom } from '../runtime/inputs';
import { outputs, testContext } from '../passes/testing/harness';
import { useTrainingBackend } from './backend';
import { fineTuneModel } from './fineTune';
import { TrainableGraph } from './graph';
import {
  DEFAULT_TRAIN_CONFIG,
  logitsTensor,
  trainGraph,
  type TrainingCheckpoint,
  type TrainingData,
} from './trainer';

/** Three Gaussian blobs in 2-D: linearly separable, so a small MLP must reach ~100 %. */
function blobs(count: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const random = seededRandom(seed);
  const centres = [
    [2, 0],
    [-1, 1.7],
    [-1, -1.7],
  ];
  const x = new Float32Array(count * 2);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % 3;
    labels[i] = c;
    x[2 * i] = centres[c]![0]! + (random() - 0.5) * 1.2;
    x[2 * i + 1] = centres[c]![1]! + (random() - 0.5) * 1.2;
  }
  return { x, labels };
}

/** Gemm → Relu → Gemm with random (untrained) weights; the hidden layer has a pruned pattern when asked. */
function mlp(seed: number, prunedEvery = 0) {
  const random = seededRandom(seed);
  const b = new GraphBuilder('blob_mlp');
  const x = b.input('x', DataType.FLOAT, ['N', 2]);
  const w1 = Array.from({ length: 16 * 2 }, (_, i) =>
    prunedEvery && i % prunedEvery === 0 ? 0 : random() - 0.5,
  );
  const h = b.op('Relu', [
    b.op(
      'Gemm',
      [
        x,
        b.initializer('w1', DataType.FLOAT, [16, 2], w1),
        b.initializer('b1', DataType.FLOAT, [16], new Array(16).fill(0)),
      ],
      { transB: 1 },
    ),
  ]);
  const w2 = Array.from({ length: 3 * 16 }, () => random() - 0.5);
  const y = b.op(
    'Gemm',
    [
      h,
      b.initializer('w2', DataType.FLOAT, [3, 16], w2),
      b.initializer('b2', DataType.FLOAT, [3], [0, 0, 0]),
    ],
    { transB: 1 },
  );
  b.output(y, DataType.FLOAT, ['N', 3]);
  return b.model({ opset: 17 });
}

function blobData(): TrainingData {
  const train = blobs(300, 1);
  const validation = blobs(150, 2);
  return {
    input: 'x',
    sampleShape: [1, 2],
    train: { ...train, count: 300 },
    validation: { ...validation, count: 150 },
  };
}

async function accuracyInOrt(model: ReturnType<typeof mlp>, set: { x: Float32Array; labels: Int32Array }) {
  const n = set.labels.length;
  const [out] = await outputs(testContext(), model, { x: { type: 'float32', dims: [n, 2], data: set.x } });
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const row = out!.data.slice(3 * i, 3 * i + 3);
    if (row.indexOf(Math.max(...row)) === set.labels[i]) hits++;
  }
  return hits / n;
}

describe('trainer', () => {
  it('learns a small separable problem to ~100 % and writes the weights back into an ONNX model', async () => {
    await useTrainingBackend('cpu');
    const model = mlp(3);
    const data = blobData();
    const test = blobs(300, 9);
    expect(await accuracyInOrt(model, test)).toBeLessThan(0.9);
    const r = await fineTuneModel(model, data, {
      ...DEFAULT_TRAIN_CONFIG,
      epochs: 15,
      learningRate: 0.02,
      batchSize: 16,
    });
    expect(r.training.history).toHaveLength(15);
    expect(r.training.history.at(-1)!.validationAccuracy).toBeGreaterThanOrEqual(0.99);
    // The exported model runs in onnxruntime with the trained weights.
    expect(await accuracyInOrt(r.model, test)).toBeGreaterThanOrEqual(0.99);
    // The input model is untouched.
    expect(await accuracyInOrt(model, test)).toBeLessThan(0.9);
  });

  it('keeps pruned weights at zero while fine-tuning', async () => {
    const model = mlp(4, 3);
    const r = await fineTuneModel(model, blobData(), {
      ...DEFAULT_TRAIN_CONFIG,
      epochs: 3,
      learningRate: 0.02,
    });
    expect(r.maskedTensors).toBe(1);
    const g = TrainableGraph.build(r.model);
    const w1 = g.variables.get('w1')!.dataSync();
    g.dispose();
    w1.forEach((v, i) => (i % 3 === 0 ? expect(Object.is(v, 0)).toBe(true) : expect(v).not.toBe(0)));
  });

  it('resumes from a checkpoint exactly where an uninterrupted run would be', async () => {
    const config = {
      ...DEFAULT_TRAIN_CONFIG,
      epochs: 3,
      learningRate: 0.01,
      batchSize: 32,
      augment: { shift: 0, flip: false, noise: 0.05 },
    };
    const run = async (stopAfter?: number, resumeFrom?: TrainingCheckpoint) => {
      const model = mlp(5);
      const g = TrainableGraph.build(model);
      const checkpoints: TrainingCheckpoint[] = [];
      let stop = false;
      const r = await trainGraph(g, blobData(), config, {
        logits: logitsTensor(g, model),
        resumeFrom,
        onEpoch: (c) => {
          checkpoints.push(c);
          if (stopAfter === c.epoch) stop = true;
        },
        control: { stopRequested: () => stop },
      });
      const weights = g.snapshot();
      g.dispose();
      return { r, weights, checkpoints };
    };
    const straight = await run();
    const interrupted = await run(1);
    expect(interrupted.r.stoppedByUser).toBe(true);
    expect(interrupted.r.history).toHaveLength(1);
    const resumed = await run(undefined, interrupted.checkpoints[0]);
    expect(resumed.r.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    // Same sample order, same optimizer state: the final weights agree with the uninterrupted run.
    for (const [name, w] of straight.weights) {
      const v = resumed.weights.get(name)!;
      w.forEach((x, i) => expect(v[i]).toBeCloseTo(x, 4));
    }
    // keep-best: the kept epoch is the best on validation.
    const best = Math.max(...straight.r.history.map((h) => h.validationAccuracy ?? 0));
    expect(straight.r.history.find((h) => h.epoch === straight.r.keptEpoch)!.validationAccuracy).toBe(best);
  });

  it('stops when cancelled and leaves no tensors behind', async () => {
    const model = mlp(6);
    const g = TrainableGraph.build(model);
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    controller.abort();
    await expect(
      trainGraph(g, blobData(), DEFAULT_TRAIN_CONFIG, {
        logits: logitsTensor(g, model),
        signal: controller.signal,
      }),
    ).rejects.toThrow(/cancelled/);
    expect(tf.memory().numTensors).toBe(before);
    g.dispose();
  });
});
