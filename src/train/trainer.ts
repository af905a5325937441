import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../runtime/inputs';
import type { ForwardHooks, TrainableGraph } from './graph';

/** Hyper-parameters of one training run (the stages' shared parameters). */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Learning-rate schedule over all steps. */
  schedule: 'constant' | 'cosine' | 'step';
  optimizer: 'adam' | 'sgd';
  /** Momentum for SGD. */
  momentum: number;
  /** Decoupled weight decay (AdamW style), applied to weights of rank ≥ 2. */
  weightDecay: number;
  augment: Augmentation;
  /** Stop after this many epochs without a better validation score (0: never stop early). */
  patience: number;
  /** BatchNormalization: 'train' normalises with batch statistics and updates the running ones. */
  batchNorm: 'train' | 'frozen';
  seed: number;
}

/** Simple image augmentation for NCHW inputs. */
export interface Augmentation {
  /** Random translation by up to this many pixels (zero-filled), 0 to disable. */
  shift: number;
  /** Random horizontal flip (off for digits and text). */
  flip: boolean;
  /** Standard deviation of added Gaussian noise, in input units. */
  noise: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  epochs: 5,
  batchSize: 32,
  learningRate: 1e-3,
  schedule: 'cosine',
  optimizer: 'adam',
  momentum: 0.9,
  weightDecay: 0,
  augment: { shift: 0, flip: false, noise: 0 },
  patience: 0,
  batchNorm: 'train',
  seed: 1,
};

/** Samples for training: inputs flattened row-major, one model input. */
export interface SampleSet {
  /** `count` samples, each of `sampleShape` (including the model's leading batch dimension of 1). */
  x: Float32Array;
  count: number;
  labels?: Int32Array;
  /** Teacher outputs (logits), `count × classes`, for distillation. */
  teacher?: Float32Array;
}

export interface TrainingData {
  /** The model input the samples feed. */
  input: string;
  /** Shape of one sample as the model takes it, e.g. [1, 1, 28, 28]. */
  sampleShape: number[];
  train: SampleSet;
  /** Held-out samples for early stopping and keep-best (never the evaluation split). */
  validation?: SampleSet;
}

/** A batch as the loss sees it. */
export interface Batch {
  x: tf.Tensor;
  labels?: tf.Tensor1D;
  teacher?: tf.Tensor2D;
}

/** Loss of a batch from the model's logits (cross-entropy on labels unless a stage brings its own). */
export type LossFunction = (logits: tf.Tensor2D, batch: Batch) => tf.Scalar;

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy?: number;
  validationLoss?: number;
  validationAccuracy?: number;
  seconds: number;
  samplesPerSecond: number;
}

export interface TrainingProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Running mean loss of the epoch so far. */
  loss: number;
  samplesPerSecond: number;
  secondsLeft: number;
  history: EpochRecord[];
}

/** Pause / stop requests from the user, polled between batches. */
export interface TrainingControl {
  /** Resolves when training may continue (immediately unless paused). */
  waitWhilePaused?(): Promise<void>;
  /** True once the user asked to stop and keep the best weights so far. */
  stopRequested?(): boolean;
}

/** Everything needed to resume a run after a reload. */
export interface TrainingCheckpoint {
  /** Epochs completed. */
  epoch: number;
  weights: Map<string, Float32Array>;
  best?: { epoch: number; score: number; weights: Map<string, Float32Array> };
  history: EpochRecord[];
  /** The optimizer's state (Adam moments, momentum), in its own order. */
  optimizer?: { name: string; shape: number[]; data: Float32Array }[];
}

export interface TrainingOptions {
  loss?: LossFunction;
  hooks?: ForwardHooks;
  /** Tensor whose values are the logits (defaults to the pre-Softmax tensor of the first output). */
  logits?: string;
  onProgress?(p: TrainingProgress): void;
  /** Called after each epoch with a checkpoint to persist. */
  onEpoch?(c: TrainingCheckpoint): void | Promise<void>;
  control?: TrainingControl;
  signal?: AbortSignal;
  resumeFrom?: TrainingCheckpoint;
  /** Called after each optimizer step, e.g. to re-apply a pruning mask or a quantizer's state. */
  afterStep?(): void;
}

export interface TrainingResult {
  history: EpochRecord[];
  /** Epoch whose weights were kept (1-based), the best on validation when there is a validation set. */
  keptEpoch: number;
  stoppedEarly: boolean;
  stoppedByUser: boolean;
  backend: string;
}

export class TrainingAbortedError extends Error {
  constructor() {
    super('Training was cancelled.');
    this.name = 'AbortError';
  }
}

/** Cross-entropy of integer labels against logits. */
export const crossEntropy: LossFunction = (logits, batch) => {
  if (!batch.labels) throw new Error('This training needs labels, and the dataset has none.');
  const oneHot = tf.oneHot(batch.labels, logits.shape[1]);
  return tf.losses.softmaxCrossEntropy(oneHot, logits) as tf.Scalar;
};

/** The tensor to train on as logits: the input of a final Softmax, else the first output. */
export function logitsTensor(graph: TrainableGraph, model: { graph: import('../onnx/ir').Graph }): string {
  const out = graph.outputNames[0]!;
  const producer = model.graph.producer(out);
  if (producer && (producer.opType === 'Softmax' || producer.opType === 'LogSoftmax'))
    return producer.inputs[0]!;
  return out;
}

class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }
}
class ScheduledMomentum extends tf.MomentumOptimizer {
  setRate(rate: number): void {
    this.setLearningRate(rate);
  }
}

function learningRateAt(config: TrainConfig, step: number, totalSteps: number): number {
  const t = totalSteps <= 1 ? 0 : step / (totalSteps - 1);
  if (config.schedule === 'cosine')
    return config.learningRate * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * t)));
  if (config.schedule === 'step') return config.learningRate * (t < 0.5 ? 1 : t < 0.75 ? 0.1 : 0.01);
  return config.learningRate;
}

/** Copy the samples at `indices` into one batch tensor, augmenting when asked. */
function gatherBatch(
  set: SampleSet,
  indices: ArrayLike<number>,
  sampleShape: number[],
  augment: Augmentation | undefined,
  random: () => number,
): Batch {
  const size = sampleShape.reduce((p, d) => p * d, 1);
  const n = indices.length;
  const x = new Float32Array(n * size);
  for (let k = 0; k < n; k++) x.set(set.x.subarray(indices[k]! * size, (indices[k]! + 1) * size), k * size);
  if (augment) augmentImages(x, n, sampleShape, augment, random);
  const shape = [n * sampleShape[0]!, ...sampleShape.slice(1)];
  const batch: Batch = { x: tf.tensor(x, shape, 'float32') };
  if (set.labels)
    batch.labels = tf.tensor1d(
      Int32Array.from(indices, (i) => set.labels![i]!),
      'int32',
    );
  if (set.teacher) {
    const classes = set.teacher.length / set.count;
    const t = new Float32Array(n * classes);
    for (let k = 0; k < n; k++)
      t.set(set.teacher.subarray(indices[k]! * classes, (indices[k]! + 1) * classes), k * classes);
    batch.teacher = tf.tensor2d(t, [n, classes]);
  }
  return batch;
}

/** Shift / flip / noise on NCHW images in place (other shapes only get noise). */
function augmentImages(
  x: Float32Array,
  n: number,
  shape: number[],
  a: Augmentation,
  random: () => number,
): void {
  const image = shape.length === 4 && shape[2]! >= 8 && shape[3]! >= 8;
  const size = shape.reduce((p, d) => p * d, 1);
  if (image && (a.shift > 0 || a.flip)) {
    const [, c, h, w] = shape as [number, number, number, number];
    const copy = new Float32Array(size);
    for (let k = 0; k < n; k++) {
      const base = k * size;
      copy.set(x.subarray(base, base + size));
      const dy = Math.round((random() * 2 - 1) * a.shift);
      const dx = Math.round((random() * 2 - 1) * a.shift);
      const flip = a.flip && random() < 0.5;
      for (let ch = 0; ch < c; ch++)
        for (let yy = 0; yy < h; yy++)
          for (let xx = 0; xx < w; xx++) {
            const sy = yy - dy;
            const sxRaw = xx - dx;
            const sx = flip ? w - 1 - sxRaw : sxRaw;
            x[base + (ch * h + yy) * w + xx] =
              sy >= 0 && sy < h && sx >= 0 && sx < w ? copy[(ch * h + sy) * w + sx]! : 0;
          }
    }
  }
  if (a.noise > 0)
    for (let i = 0; i < n * size; i++) {
      // Box–Muller.
      const u = Math.max(random(), 1e-12);
      x[i] += a.noise * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    }
}

function permutation(n: number, random: () => number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Mean loss and top-1 accuracy of the graph (inference mode) on a sample set. */
export function evaluateSet(
  graph: TrainableGraph,
  data: { input: string; sampleShape: number[] },
  set: SampleSet,
  options: { loss?: LossFunction; logits: string; hooks?: ForwardHooks; batchSize?: number },
): { loss: number; accuracy?: number } {
  const batchSize = options.batchSize ?? 128;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, set.count - start) }, (_, i) => start + i);
    const [l, c] = tf.tidy(() => {
      const batch = gatherBatch(set, idx, data.sampleShape, undefined, Math.random);
      const logits = logitsOf(graph, { [data.input]: batch.x }, false, options);
      const loss =
        batch.labels || batch.teacher ? (options.loss ?? crossEntropy)(logits, batch).dataSync()[0]! : 0;
      const hits = batch.labels ? tf.sum(tf.equal(tf.argMax(logits, 1), batch.labels)).dataSync()[0]! : 0;
      return [loss * idx.length, hits];
    });
    lossSum += l;
    correct += c;
  }
  return { loss: lossSum / set.count, accuracy: set.labels ? correct / set.count : undefined };
}

function logitsOf(
  graph: TrainableGraph,
  feeds: Record<string, tf.Tensor>,
  training: boolean,
  options: { logits: string; hooks?: ForwardHooks },
): tf.Tensor2D {
  const out = graph.forward(feeds, { training, hooks: options.hooks, extraOutputs: [options.logits] });
  const t = out[options.logits]!;
  return (t.rank === 2 ? t : t.reshape([t.shape[0]!, -1])) as tf.Tensor2D;
}

/**
 * Train the graph's variables: mini-batches in a seeded order, the chosen optimizer and schedule,
 * batch statistics folded into BatchNormalization's running averages, validation after each epoch
 * with keep-best and early stopping, pause/stop between batches and a checkpoint per epoch.
 * The weights left in the graph are those of the kept epoch.
 */
export async function trainGraph(
  graph: TrainableGraph,
  data: TrainingData,
  config: TrainConfig,
  options: TrainingOptions & { logits: string },
): Promise<TrainingResult> {
  const loss = options.loss ?? crossEntropy;
  const random = seededRandom(config.seed);
  const variables = [...graph.variables.values()];
  if (!variables.length) throw new Error('The model has no trainable weights.');
  const decayed = variables.filter((v) => v.rank >= 2);
  const optimizer =
    config.optimizer === 'adam'
      ? new ScheduledAdam(config.learningRate, 0.9, 0.999, 1e-7)
      : new ScheduledMomentum(config.learningRate, config.momentum);
  const setRate = (r: number) =>
    optimizer instanceof ScheduledAdam
      ? optimizer.setLearningRate(r)
      : (optimizer as ScheduledMomentum).setRate(r);
  const batches = Math.ceil(data.train.count / config.batchSize);
  const totalSteps = batches * config.epochs;
  const history: EpochRecord[] = [...(options.resumeFrom?.history ?? [])];
  const startEpoch = options.resumeFrom?.epoch ?? 0;
  if (options.resumeFrom) {
    graph.restore(options.resumeFrom.weights);
    const state = options.resumeFrom.optimizer;
    if (state?.length)
      await optimizer.setWeights(
        state.map((w) => ({ name: w.name, tensor: tf.tensor(w.data, w.shape, 'float32') })),
      );
  }
  let best = options.resumeFrom?.best;
  // Epoch permutations depend only on the seed, so a resumed run sees the same order it would have.
  for (let e = 0; e < startEpoch; e++) permutation(data.train.count, random);
  let stoppedEarly = false;
  let stoppedByUser = false;
  let sinceBest = 0;
  const training = config.batchNorm === 'train';
  const started = performance.now();
  let samplesDone = 0;
  try {
    for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
      const order = permutation(data.train.count, random);
      const epochStart = performance.now();
      let lossSum = 0;
      let hitSum = 0;
      let seen = 0;
      for (let b = 0; b < batches; b++) {
        if (options.signal?.aborted) throw new TrainingAbortedError();
        await options.control?.waitWhilePaused?.();
        if (options.control?.stopRequested?.()) {
          stoppedByUser = true;
          break;
        }
        const idx = order.subarray(
          b * config.batchSize,
          Math.min(data.train.count, (b + 1) * config.batchSize),
        );
        setRate(learningRateAt(config, epoch * batches + b, totalSteps));
        const [stepLoss, stepHits] = tf.tidy(() => {
          const batch = gatherBatch(data.train, idx, data.sampleShape, config.augment, random);
          let hits: tf.Tensor | undefined;
          const cost = optimizer.minimize(
            () => {
              const logits = logitsOf(graph, { [data.input]: batch.x }, training, options);
              // Training accuracy from the step's own logits (as Keras reports it): no extra pass.
              if (batch.labels) hits = tf.keep(tf.sum(tf.equal(tf.argMax(logits, 1), batch.labels)));
              return loss(logits, batch);
            },
            true,
            variables,
          );
          const h = hits ? hits.dataSync()[0]! : 0;
          hits?.dispose();
          return [cost!.dataSync()[0]!, h];
        });
        hitSum += stepHits;
        if (training) graph.commitBatchStats();
        else graph.discardBatchStats();
        if (config.weightDecay > 0) {
          const factor = 1 - learningRateAt(config, epoch * batches + b, totalSteps) * config.weightDecay;
          tf.tidy(() => decayed.forEach((v) => v.assign(tf.mul(v, factor))));
        }
        options.afterStep?.();
        if (!Number.isFinite(stepLoss))
          throw new Error(
            `Training diverged (loss ${stepLoss}) at epoch ${epoch + 1}; lower the learning rate.`,
          );
        lossSum += stepLoss * idx.length;
        seen += idx.length;
        samplesDone += idx.length;
        const elapsed = (performance.now() - started) / 1000;
        const rate = samplesDone / Math.max(elapsed, 1e-6);
        const remaining = (config.epochs - epoch) * data.train.count - seen;
        options.onProgress?.({
          epoch: epoch + 1,
          epochs: config.epochs,
          batch: b + 1,
          batches,
          loss: lossSum / seen,
          samplesPerSecond: rate,
          secondsLeft: remaining / rate,
          history,
        });
        // Let the worker answer pause/stop messages between batches.
        await new Promise((r) => setTimeout(r, 0));
      }
      if (seen === 0) break;
      const seconds = (performance.now() - epochStart) / 1000;
      const record: EpochRecord = {
        epoch: epoch + 1,
        loss: lossSum / seen,
        seconds,
        samplesPerSecond: seen / seconds,
      };
      const evalOptions = { loss, logits: options.logits, hooks: options.hooks };
      if (data.train.labels) record.accuracy = hitSum / seen;
      if (data.validation) {
        const v = evaluateSet(graph, data, data.validation, evalOptions);
        record.validationLoss = v.loss;
        record.validationAccuracy = v.accuracy;
      }
      history.push(record);
      const score =
        record.validationAccuracy ??
        (record.validationLoss !== undefined ? -record.validationLoss : -record.loss);
      if (!best || score > best.score) {
        best = { epoch: epoch + 1, score, weights: graph.snapshot() };
        sinceBest = 0;
      } else sinceBest++;
      if (options.onEpoch) {
        const state = await optimizer.getWeights();
        const optimizerState = state.map((w) => ({
          name: w.name,
          shape: [...w.tensor.shape],
          data: Float32Array.from(w.tensor.dataSync()),
        }));
        // getWeights hands out the optimizer's live variables plus a fresh iteration counter.
        tf.dispose(state.map((w) => w.tensor).filter((t) => !(t instanceof tf.Variable)));
        await options.onEpoch({
          epoch: epoch + 1,
          weights: graph.snapshot(),
          best,
          history: [...history],
          optimizer: optimizerState,
        });
      }
      if (stoppedByUser) break;
      if (config.patience > 0 && sinceBest >= config.patience) {
        stoppedEarly = epoch + 1 < config.epochs;
        break;
      }
    }
  } finally {
    optimizer.dispose();
    graph.discardBatchStats();
  }
  if (best) graph.restore(best.weights);
  return { history, keptEpoch: best?.epoch ?? 0, stoppedEarly, stoppedByUser, backend: tf.getBackend() };
}
