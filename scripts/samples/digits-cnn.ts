import * as tf from '@tensorflow/tfjs';
import { batchNormTraining, type BatchStats } from '../../src/train/batchNorm';

export type { BatchStats };

/**
 * The sample digit classifier, trained with TensorFlow.js (CPU backend, NHWC):
 * conv 3×3 1→16, BN, ReLU, max-pool 2 → conv 3×3 16→32, BN, ReLU, max-pool 2 → flatten 7·7·32 →
 * dense 1568→96, ReLU → dense 96→10 (logits). Convolutions have no bias (the BN shift plays that
 * part), as in most exported CNNs.
 */
export const ARCHITECTURE = {
  conv1: { in: 1, out: 16, kernel: 3 },
  conv2: { in: 16, out: 32, kernel: 3 },
  fc1: { in: 7 * 7 * 32, out: 96 },
  fc2: { in: 96, out: 10 },
} as const;

export const BN_EPSILON = 1e-5;
/** Running statistics follow running = running·m + batch·(1 − m), ONNX's `momentum` convention. */
export const BN_MOMENTUM = 0.9;

/** Trainable weights of a batch-normalization layer plus its running statistics. */
export interface BatchNormParams {
  gamma: tf.Variable;
  beta: tf.Variable;
  runningMean: tf.Variable;
  runningVar: tf.Variable;
}

export interface DigitsCnnParams {
  conv1: tf.Variable;
  bn1: BatchNormParams;
  conv2: tf.Variable;
  bn2: BatchNormParams;
  fc1Kernel: tf.Variable;
  fc1Bias: tf.Variable;
  fc2Kernel: tf.Variable;
  fc2Bias: tf.Variable;
}

function batchNormParams(channels: number, name: string): BatchNormParams {
  return {
    gamma: tf.variable(tf.ones([channels]), true, `${name}.gamma`),
    beta: tf.variable(tf.zeros([channels]), true, `${name}.beta`),
    runningMean: tf.variable(tf.zeros([channels]), false, `${name}.running_mean`),
    runningVar: tf.variable(tf.ones([channels]), false, `${name}.running_var`),
  };
}

/** Fresh parameters from seeded initializers (He-normal for ReLU layers, Glorot for the logits). */
export function initDigitsCnn(seed: number): DigitsCnnParams {
  const he = (k: number) => tf.initializers.heNormal({ seed: seed + k });
  const { conv1, conv2, fc1, fc2 } = ARCHITECTURE;
  return {
    conv1: tf.variable(he(1).apply([3, 3, conv1.in, conv1.out]), true, 'conv1'),
    bn1: batchNormParams(conv1.out, 'bn1'),
    conv2: tf.variable(he(2).apply([3, 3, conv2.in, conv2.out]), true, 'conv2'),
    bn2: batchNormParams(conv2.out, 'bn2'),
    fc1Kernel: tf.variable(he(3).apply([fc1.in, fc1.out]), true, 'fc1.kernel'),
    fc1Bias: tf.variable(tf.zeros([fc1.out]), true, 'fc1.bias'),
    fc2Kernel: tf.variable(
      tf.initializers.glorotUniform({ seed: seed + 4 }).apply([fc2.in, fc2.out]),
      true,
      'fc2.kernel',
    ),
    fc2Bias: tf.variable(tf.zeros([fc2.out]), true, 'fc2.bias'),
  };
}

export function trainableVariables(p: DigitsCnnParams): tf.Variable[] {
  return [
    p.conv1,
    p.bn1.gamma,
    p.bn1.beta,
    p.conv2,
    p.bn2.gamma,
    p.bn2.beta,
    p.fc1Kernel,
    p.fc1Bias,
    p.fc2Kernel,
    p.fc2Bias,
  ];
}

function bnBlock(
  x: tf.Tensor4D,
  kernel: tf.Variable,
  bn: BatchNormParams,
  training: boolean,
  stats: BatchStats[],
): tf.Tensor4D {
  const conv = tf.conv2d(x, kernel as tf.Tensor4D, 1, 'same');
  let normed: tf.Tensor4D;
  if (training) {
    const [b, h, w, c] = conv.shape;
    normed = batchNormTraining(
      conv.reshape([b * h * w, c]),
      bn.gamma as tf.Tensor1D,
      bn.beta as tf.Tensor1D,
      BN_EPSILON,
      (s) => stats.push({ mean: tf.keep(s.mean), variance: tf.keep(s.variance) }),
    ).reshape([b, h, w, c]);
  } else {
    normed = tf.batchNorm4d(
      conv,
      bn.runningMean as tf.Tensor1D,
      bn.runningVar as tf.Tensor1D,
      bn.beta as tf.Tensor1D,
      bn.gamma as tf.Tensor1D,
      BN_EPSILON,
    );
  }
  return tf.maxPool(tf.relu(normed), 2, 2, 'valid');
}

/**
 * Logits for a batch of NHWC images with values 0–1. In training mode it appends each BN layer's
 * batch statistics to `stats` (kept tensors the caller disposes).
 */
export function digitsCnnForward(
  p: DigitsCnnParams,
  x: tf.Tensor4D,
  training = false,
  stats: BatchStats[] = [],
): tf.Tensor2D {
  const h1 = bnBlock(x, p.conv1, p.bn1, training, stats);
  const h2 = bnBlock(h1, p.conv2, p.bn2, training, stats);
  const flat = h2.reshape([h2.shape[0], ARCHITECTURE.fc1.in]) as tf.Tensor2D;
  const hidden = tf.relu(tf.matMul(flat, p.fc1Kernel as tf.Tensor2D).add(p.fc1Bias)) as tf.Tensor2D;
  return tf.matMul(hidden, p.fc2Kernel as tf.Tensor2D).add(p.fc2Bias) as tf.Tensor2D;
}

/** Fold one step's batch statistics into the running averages. */
export function updateRunningStats(p: DigitsCnnParams, stats: BatchStats[]): void {
  const layers = [p.bn1, p.bn2];
  if (stats.length !== layers.length)
    throw new Error(`expected ${layers.length} BN statistics, got ${stats.length}`);
  tf.tidy(() =>
    layers.forEach((bn, i) => {
      bn.runningMean.assign(bn.runningMean.mul(BN_MOMENTUM).add(stats[i].mean.mul(1 - BN_MOMENTUM)));
      bn.runningVar.assign(bn.runningVar.mul(BN_MOMENTUM).add(stats[i].variance.mul(1 - BN_MOMENTUM)));
    }),
  );
  for (const s of stats) tf.dispose([s.mean, s.variance]);
}

/** The parameters as plain arrays, in tfjs layouts (conv [kh,kw,in,out], dense [in,out]). */
export interface DigitsCnnWeights {
  conv1: Float32Array;
  bn1: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array };
  conv2: Float32Array;
  bn2: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array };
  fc1Kernel: Float32Array;
  fc1Bias: Float32Array;
  fc2Kernel: Float32Array;
  fc2Bias: Float32Array;
}

export function readWeights(p: DigitsCnnParams): DigitsCnnWeights {
  const read = (v: tf.Variable) => Float32Array.from(v.dataSync() as Float32Array);
  const bn = (b: BatchNormParams) => ({
    gamma: read(b.gamma),
    beta: read(b.beta),
    mean: read(b.runningMean),
    variance: read(b.runningVar),
  });
  return {
    conv1: read(p.conv1),
    bn1: bn(p.bn1),
    conv2: read(p.conv2),
    bn2: bn(p.bn2),
    fc1Kernel: read(p.fc1Kernel),
    fc1Bias: read(p.fc1Bias),
    fc2Kernel: read(p.fc2Kernel),
    fc2Bias: read(p.fc2Bias),
  };
}
