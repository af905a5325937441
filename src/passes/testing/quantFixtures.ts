/**
 * Test-only builders and checks shared by the quantization stage tests: generated models with random
 * weights, labelled synthetic datasets, fidelity against the float model, onnxruntime's optimized
 * graph, and the real MNIST data when ../shared/models is present.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type * as Tf from '@tensorflow/tfjs';
import { GraphBuilder } from '../../onnx/builder';
import { DataType } from '../../onnx/dtype';
import { Model } from '../../onnx/ir';
import { elementCount } from '../../onnx/tensor';
import { Dataset, loadDataset, makeSplits, PreprocessSchema } from '../../data/dataset';
import { summarizeModel } from '../../onnx/summary';
import { parseNpy } from '../../data/npy';
import { createNodeRuntime } from '../../runtime/node';
import { seededRandom } from '../../runtime/inputs';
import type { RtTensor, Runtime } from '../../runtime/types';
import { addFidelity, argmax, fidelityResult, newFidelity, type Fidelity } from '../../metrics/fidelity';
import { hasSharedModels, readBytes, repoRoot, sharedModelsDir } from '../../test/fixtures';
import type { StageContext } from '../types';

export const runtime: Runtime = createNodeRuntime({ threads: 1 });

/**
 * Byte equality of two encoded models without vitest's element-by-element diffing, which takes
 * seconds on a few hundred KB.
 */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength).toBe(expected.byteLength);
  expect(Buffer.compare(actual, expected)).toBe(0);
}

export function stageContext(data?: Dataset, signal = new AbortController().signal): StageContext {
  return { runtime, data, progress: () => {}, signal };
}

/** Gaussian-ish random numbers (sum of uniforms), deterministic. */
export function randomNormal(n: number, seed: number, std = 1): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (rand() + rand() + rand() + rand() - 2) * std * Math.sqrt(3));
}

/** He-initialized weights for `fanIn` inputs. */
function he(n: number, fanIn: number, seed: number): Float32Array {
  return randomNormal(n, seed, Math.sqrt(2 / fanIn));
}

/**
 * x[1,3,16,16] → Conv(8, 3×3)+Relu → MaxPool → Conv(16, 3×3)+Relu → MaxPool → Flatten →
 * Gemm(10, transB) → logits[1,10]. Node names: conv1, relu1, pool1, conv2, relu2, pool2, flatten, fc.
 */
export function buildCnn(options: { opset?: number; seed?: number } = {}): Model {
  const seed = options.seed ?? 7;
  const b = new GraphBuilder('cnn');
  const x = b.input('x', DataType.FLOAT, [1, 3, 16, 16]);
  const w1 = b.initializer('conv1.weight', DataType.FLOAT, [8, 3, 3, 3], he(216, 27, seed));
  const b1 = b.initializer('conv1.bias', DataType.FLOAT, [8], randomNormal(8, seed + 1, 0.1));
  const c1 = b.op('Conv', [x, w1, b1], { pads: [1, 1, 1, 1] }, 'conv1');
  const r1 = b.op('Relu', [c1], {}, 'relu1');
  const p1 = b.op('MaxPool', [r1], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool1');
  const w2 = b.initializer('conv2.weight', DataType.FLOAT, [16, 8, 3, 3], he(1152, 72, seed + 2));
  const b2 = b.initializer('conv2.bias', DataType.FLOAT, [16], randomNormal(16, seed + 3, 0.1));
  const c2 = b.op('Conv', [p1, w2, b2], { pads: [1, 1, 1, 1] }, 'conv2');
  const r2 = b.op('Relu', [c2], {}, 'relu2');
  const p2 = b.op('MaxPool', [r2], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool2');
  const f = b.op('Flatten', [p2], {}, 'flatten');
  const wf = b.initializer('fc.weight', DataType.FLOAT, [10, 256], he(2560, 256, seed + 4));
  const bf = b.initializer('fc.bias', DataType.FLOAT, [10], randomNormal(10, seed + 5, 0.1));
  b.node('Gemm', [f, wf, bf], { transB: 1 }, { name: 'fc', outputs: ['logits'] });
  b.output('logits', DataType.FLOAT, [1, 10]);
  return b.model({ opset: options.opset ?? 17 });
}

/** Weights of one MatMul + Add layer: [K, N] row-major and [N]. */
export interface DenseWeights {
  weight: Float32Array;
  bias: Float32Array;
}

/**
 * x[1,8,sizes[0]] → (MatMul, Add, Relu) per hidden layer → MatMul → Add → ReduceMean over the 8 rows →
 * y[1,classes]. A 3-D activation like a transformer's, so MatMul+Add stay MatMul+Add. Node names:
 * mm1, add1, relu1, mm2, …, mean. Weights are given, or random (He) from `seed`.
 */
function mlpModel(
  sizes: readonly number[],
  layer: (l: number, k: number, n: number) => DenseWeights,
  opset = 17,
) {
  const b = new GraphBuilder('mlp');
  let h = b.input('x', DataType.FLOAT, [1, TOKEN_TASK.tokens, sizes[0]]);
  const layers = sizes.length - 1;
  for (let l = 0; l < layers; l++) {
    const [k, n] = [sizes[l], sizes[l + 1]];
    const { weight, bias } = layer(l, k, n);
    const w = b.initializer(`mm${l + 1}.weight`, DataType.FLOAT, [k, n], weight);
    const c = b.initializer(`mm${l + 1}.bias`, DataType.FLOAT, [n], bias);
    const m = b.op('MatMul', [h, w], {}, `mm${l + 1}`);
    h = b.op('Add', [m, c], {}, `add${l + 1}`);
    if (l < layers - 1) h = b.op('Relu', [h], {}, `relu${l + 1}`);
  }
  b.node('ReduceMean', [h], { axes: [1], keepdims: 0 }, { name: 'mean', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, sizes[layers]]);
  return b.model({ opset });
}

/**
 * The random-weight MLP x[1,8,64] → 256 → 256 → 10 (see {@link mlpModel}). Its logits on random
 * inputs are nearly tied, unlike a trained model's: use {@link trainedTokenMlp} for fidelity figures.
 */
export function buildMlp(options: { seed?: number; opset?: number } = {}): Model {
  const seed = options.seed ?? 11;
  return mlpModel(
    [64, 256, 256, 10],
    (l, k, n) => ({
      weight: he(k * n, k, seed + 2 * l),
      bias: randomNormal(n, seed + 2 * l + 1, 0.1),
    }),
    options.opset,
  );
}

/**
 * A synthetic sequence-classification task: each sample is 8 tokens of 64 features and one of 10
 * classes. Every token carries its class prototype at a random strength (0–0.5) under unit Gaussian
 * noise; one token in ten is three times noisier, and two feature channels are loud noise (std 6),
 * like the outlier dimensions of transformer activations. A single token says little; the 8 together
 * classify about 94 % of samples right, so part of the samples sit near a decision boundary.
 */
export const TOKEN_TASK = { tokens: 8, features: 64, classes: 10, outlierChannels: [5, 37] } as const;

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** `count` samples of {@link TOKEN_TASK} ([count, 8, 64] values, labels), deterministic per seed. */
export function tokenTaskSamples(count: number, seed: number): { values: Float32Array; labels: Int32Array } {
  const { tokens, features, classes, outlierChannels } = TOKEN_TASK;
  const protoRand = seededRandom(100);
  const prototypes = Array.from({ length: classes }, () =>
    Float32Array.from({ length: features }, () => gaussian(protoRand)),
  );
  const loud = new Set<number>(outlierChannels);
  const rand = seededRandom(seed);
  const values = new Float32Array(count * tokens * features);
  const labels = new Int32Array(count);
  for (let s = 0; s < count; s++) {
    const c = Math.floor(rand() * classes);
    labels[s] = c;
    for (let t = 0; t < tokens; t++) {
      const strength = 0.5 * rand();
      const noise = rand() < 0.1 ? 3 : 1;
      const base = (s * tokens + t) * features;
      for (let d = 0; d < features; d++)
        values[base + d] = strength * prototypes[c][d] + (loud.has(d) ? 6 : noise) * gaussian(rand);
    }
  }
  return { values, labels };
}

/** A trained MatMul-heavy model and held-out labelled samples of its task. */
export interface TrainedMlp {
  model: Model;
  /** 100 calibration + 1000 evaluation samples, never seen in training. */
  data: Dataset;
  /** Float accuracy on the evaluation split, as TensorFlow.js computed it. */
  accuracy: number;
  trainingMs: number;
}

let trainedMlp: Promise<TrainedMlp> | undefined;

/**
 * x[1,8,64] → 128 → 128 → 10 (the {@link mlpModel} topology) trained on {@link TOKEN_TASK} with
 * TensorFlow.js (WASM backend, ~2–3 s): one pass over 6,144 fresh samples, Adam, seeded. Trained
 * weights have the structure of real layers (ignored noise channels, confident margins on most
 * samples) that random weights lack. Trained once per test file.
 */
export function trainedTokenMlp(): Promise<TrainedMlp> {
  trainedMlp ??= trainTokenMlp();
  return trainedMlp;
}

async function trainTokenMlp(): Promise<TrainedMlp> {
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  const { tokens, features, classes } = TOKEN_TASK;
  const sizes = [features, 128, 128, classes];
  const start = performance.now();
  const variables = sizes.slice(1).map((n, l) => ({
    weight: tf.variable(
      (l < sizes.length - 2
        ? tf.initializers.heNormal({ seed: 7 + l })
        : tf.initializers.glorotUniform({ seed: 7 + l })
      ).apply([sizes[l], n]) as Tf.Tensor2D,
    ),
    bias: tf.variable(tf.zeros([n])),
  }));
  const forward = (x: Tf.Tensor2D, batch: number) => {
    let h = x;
    variables.forEach(({ weight, bias }, l) => {
      h = tf.matMul(h, weight).add(bias);
      if (l < variables.length - 1) h = tf.relu(h);
    });
    return h.reshape([batch, tokens, classes]).mean(1) as Tf.Tensor2D;
  };
  const train = tokenTaskSamples(6144, 1);
  const optimizer = tf.train.adam(0.003);
  const batch = 64;
  for (let i = 0; i + batch <= train.labels.length; i += batch) {
    const loss = optimizer.minimize(
      () =>
        tf.tidy(() => {
          const x = tf.tensor2d(
            train.values.subarray(i * tokens * features, (i + batch) * tokens * features),
            [batch * tokens, features],
          );
          const y = tf.oneHot(tf.tensor1d(train.labels.subarray(i, i + batch), 'int32'), classes);
          return tf.losses.softmaxCrossEntropy(y, forward(x, batch)) as Tf.Scalar;
        }),
      true,
    );
    loss?.dispose();
  }
  const weights = variables.map(({ weight, bias }) => ({
    weight: weight.dataSync() as Float32Array,
    bias: bias.dataSync() as Float32Array,
  }));
  const trainingMs = performance.now() - start;
  const model = mlpModel(sizes, (l) => weights[l]);

  const [calibration, evaluation] = [100, 1000];
  const held = tokenTaskSamples(calibration + evaluation, 2);
  const predicted = tf.tidy(() =>
    forward(tf.tensor2d(held.values, [held.labels.length * tokens, features]), held.labels.length)
      .argMax(1)
      .dataSync(),
  );
  let right = 0;
  for (let i = calibration; i < held.labels.length; i++) if (predicted[i] === held.labels[i]) right++;
  tf.disposeVariables();
  const data = new Dataset(
    { values: held.values, count: held.labels.length, sampleShape: [tokens, features], labels: held.labels },
    { name: 'x', elemType: DataType.FLOAT, shape: [1, tokens, features] },
    PreprocessSchema.parse({}),
    makeSplits(held.labels.length, { train: 0, calibration, evaluation }),
    'token-task',
  );
  return { model, data, accuracy: right / evaluation, trainingMs };
}

/** Smooth random images (low-frequency patterns plus noise) so activations look like real ones. */
export function syntheticImages(count: number, shape: readonly number[], seed: number): Float32Array {
  const [c, h, w] = shape.slice(-3);
  const rand = seededRandom(seed);
  const out = new Float32Array(count * c * h * w);
  for (let s = 0; s < count; s++)
    for (let ch = 0; ch < c; ch++) {
      const fx = 0.2 + rand() * 0.8;
      const fy = 0.2 + rand() * 0.8;
      const phase = rand() * 6.28;
      const amp = 0.5 + rand();
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          out[((s * c + ch) * h + y) * w + x] =
            amp * Math.sin(fx * x + fy * y + phase) + 0.3 * (rand() - 0.5) + 0.2;
    }
  return out;
}

/**
 * Text-like images for OCR models, normalized as PaddleOCR feeds them ((pixel / 255 − 0.5) / 0.5):
 * a light, slightly uneven background with lines of dark glyphs, each glyph a few random strokes
 * (bars and dots) in a cell as tall as the line. `lines` text lines fill the height evenly.
 */
export function textImages(count: number, shape: readonly number[], seed: number, lines = 1): Float32Array {
  const [c, h, w] = shape.slice(-3);
  const rand = seededRandom(seed);
  const out = new Float32Array(count * c * h * w);
  const plane = new Float32Array(h * w);
  for (let s = 0; s < count; s++) {
    const paper = 0.6 + 0.35 * rand();
    const ink = -0.6 - 0.35 * rand();
    for (let i = 0; i < h * w; i++) plane[i] = paper + 0.06 * (rand() - 0.5);
    const band = h / lines;
    for (let l = 0; l < lines; l++) {
      const size = Math.max(6, Math.floor(band * (0.45 + 0.3 * rand())));
      const top = Math.floor(l * band + (band - size) * rand());
      let x = Math.floor(rand() * size);
      const end = w - Math.floor(rand() * w * 0.3);
      while (x + size <= end) {
        const strokes = 2 + Math.floor(rand() * 3);
        for (let k = 0; k < strokes; k++) {
          const horizontal = rand() < 0.5;
          const thick = Math.max(1, Math.round(size * 0.12));
          const len = Math.floor(size * (0.4 + 0.6 * rand()));
          const y0 = top + Math.floor(rand() * (size - (horizontal ? thick : len)));
          const x0 = x + Math.floor(rand() * (size - (horizontal ? len : thick)));
          for (let y = y0; y < y0 + (horizontal ? thick : len); y++)
            for (let xx = x0; xx < x0 + (horizontal ? len : thick); xx++)
              if (y >= 0 && y < h && xx >= 0 && xx < w) plane[y * w + xx] = ink;
        }
        x += size + Math.floor(size * (0.1 + (rand() < 0.15 ? 0.8 : 0.2) * rand()));
      }
    }
    for (let ch = 0; ch < c; ch++) out.set(plane, (s * c + ch) * h * w);
  }
  return out;
}

/** Labels = the float model's predictions, so accuracy and agreement are both meaningful. */
export async function labelWithModel(model: Model, values: Float32Array, input: string, shape: number[]) {
  const size = elementCount(shape);
  const count = values.length / size;
  const session = await runtime.createSession(model.encode());
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const out = await session.run({
      [input]: { type: 'float32', dims: shape, data: values.slice(i * size, (i + 1) * size) },
    });
    labels[i] = argmax(out[session.outputNames[0]].data as Float32Array);
  }
  await session.release();
  return labels;
}

/** A labelled dataset for a model with one float input (train 0, then calibration, then evaluation). */
export async function syntheticDataset(
  model: Model,
  split: { calibration: number; evaluation: number },
  seed = 3,
): Promise<Dataset> {
  const input = model.graph.feedInputs()[0];
  const shape = model.graph.valueShape(input.name)!.map((d) => (typeof d === 'number' ? d : 1));
  const count = split.calibration + split.evaluation;
  const values =
    shape.length === 4
      ? syntheticImages(count, shape, seed)
      : randomNormal(count * elementCount(shape), seed);
  const labels = await labelWithModel(model, values, input.name, shape);
  return new Dataset(
    { values, count, sampleShape: shape.slice(1), labels },
    { name: input.name, elemType: DataType.FLOAT, shape },
    PreprocessSchema.parse({}),
    makeSplits(count, { train: 0, ...split }),
    'synthetic',
  );
}

/** Accuracy of both models and the candidate's fidelity to the reference on the evaluation split. */
export async function compareOnDataset(
  reference: Model,
  candidate: Model,
  data: Dataset,
): Promise<Fidelity & { referenceAccuracy: number; accuracy: number }> {
  const a = await runtime.createSession(reference.encode(), { externalData: reference.external });
  const b = await runtime.createSession(candidate.encode(), { externalData: candidate.external });
  const acc = newFidelity();
  let okA = 0;
  let okB = 0;
  for (const i of data.splits.evaluation) {
    const s = data.sample(i);
    const ra = await a.run(s.feeds);
    const rb = await b.run(s.feeds);
    const oa = a.outputNames.map((n) => ra[n]);
    const ob = b.outputNames.map((n) => rb[n]);
    addFidelity(acc, oa, ob);
    if (argmax(oa[0].data as Float32Array) === s.label) okA++;
    if (argmax(ob[0].data as Float32Array) === s.label) okB++;
  }
  await a.release();
  await b.release();
  const n = data.splits.evaluation.length;
  return { ...fidelityResult(acc), referenceAccuracy: okA / n, accuracy: okB / n };
}

/** Fidelity of `candidate` to `reference` on given feeds (generated inputs). */
export async function compareOnFeeds(
  reference: Model,
  candidate: Model,
  feeds: Record<string, RtTensor>[],
): Promise<Fidelity> {
  const a = await runtime.createSession(reference.encode(), { externalData: reference.external });
  const b = await runtime.createSession(candidate.encode(), { externalData: candidate.external });
  const acc = newFidelity();
  for (const f of feeds) {
    const ra = await a.run(f);
    const rb = await b.run(f);
    addFidelity(
      acc,
      a.outputNames.map((n) => ra[n]),
      b.outputNames.map((n) => rb[n]),
    );
  }
  await a.release();
  await b.release();
  return fidelityResult(acc);
}

/**
 * The operators of the graph onnxruntime actually runs: a session with graphOptimizationLevel 'all'
 * writes it to a temporary file, which our codec reads back. Op names carry their domain
 * ('com.microsoft:QLinearConv').
 */
export async function optimizedOps(bytes: Uint8Array): Promise<Map<string, number>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'whittle-opt-'));
  try {
    const file = path.join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(bytes, {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: file,
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
    });
    await session.release();
    const m = Model.decode(new Uint8Array(readFileSync(file)));
    const ops = new Map<string, number>();
    for (const n of m.graph.nodes) {
      const op = n.domain ? `${n.domain}:${n.opType}` : n.opType;
      ops.set(op, (ops.get(op) ?? 0) + 1);
    }
    return ops;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes of every stored tensor (initializers and Constant nodes) whose name passes `filter`. */
export function weightBytes(model: Model, filter: (name: string) => boolean = () => true): number {
  let total = 0;
  for (const [name, t] of model.graph.initializers) if (filter(name)) total += tensorByteSize(t);
  for (const n of model.graph.nodes)
    if (n.opType === 'Constant' && filter(n.outputs[0])) {
      const t = n.attribute('value')?.t;
      if (t) total += tensorByteSize(t);
    }
  return total;
}

function tensorByteSize(t: {
  rawData: Uint8Array;
  floatData: number[];
  int32Data: number[];
  int64Data: bigint[];
}) {
  return t.rawData.byteLength + t.floatData.length * 4 + t.int32Data.length * 4 + t.int64Data.length * 8;
}

/**
 * Run a model in onnxruntime-web's WASM build (the studio's runtime; its Node entry is the same
 * WebAssembly binary) and return the float outputs by name.
 */
export async function runOnWeb(
  bytes: Uint8Array,
  feeds: Record<string, RtTensor>,
): Promise<Record<string, Float32Array>> {
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const inputs: Record<string, InstanceType<typeof ortWeb.Tensor>> = {};
    for (const [name, t] of Object.entries(feeds))
      inputs[name] = new ortWeb.Tensor('float32', t.data as Float32Array, [...t.dims]);
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

export const hasMnistData =
  hasSharedModels && existsSync(path.join(sharedModelsDir, 'datasets/mnist_test_labels_uint8.npy'));

/**
 * The real MNIST test set as mnist-8 reads it (raw 0–255 pixels, [1,1,28,28]): the first
 * `calibration` samples for calibration, the next `evaluation` for evaluation.
 */
export function mnistDataset(calibration = 200, evaluation = 1000): Dataset {
  const images = parseNpy(readBytes(path.join(sharedModelsDir, 'datasets/mnist_test_images_uint8.npy')));
  const labels = parseNpy(readBytes(path.join(sharedModelsDir, 'datasets/mnist_test_labels_uint8.npy')));
  const count = calibration + evaluation;
  return new Dataset(
    {
      values: (images.data as Uint8Array).subarray(0, count * 784),
      count,
      sampleShape: [28, 28],
      labels: Int32Array.from((labels.data as Uint8Array).subarray(0, count)),
    },
    { name: 'Input3', elemType: DataType.FLOAT, shape: [1, 1, 28, 28] },
    PreprocessSchema.parse({}),
    makeSplits(count, { train: 0, calibration, evaluation }),
    'mnist',
  );
}

export function readSharedModel(file: string): Model {
  return Model.decode(readBytes(path.join(sharedModelsDir, file)));
}

/** The bundled sample's dataset (public/samples/digits-dataset.json), converted for `model`'s input. */
export async function sampleDataset(model: Model): Promise<Dataset> {
  const samples = path.join(repoRoot, 'public/samples');
  const manifest: unknown = JSON.parse(
    new TextDecoder().decode(readBytes(path.join(samples, 'digits-dataset.json'))),
  );
  return loadDataset(
    manifest,
    async (p) => readBytes(path.join(samples, p)),
    summarizeModel(model, 0).inputs,
  );
}
