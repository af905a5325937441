import * as tf from '@tensorflow/tfjs';

/** Batch statistics a training-mode forward pass measured, for the running averages. */
export interface BatchStats {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * Training-mode batch normalization over the rows of x [rows, channels] with a closed-form gradient.
 * On the tfjs CPU backend a broadcasting op or an axis-0 sum over the first block's 800 k activations
 * costs 25–65 ms, while a matrix product with a ones vector (the per-channel sums) or the fused
 * batchNorm kernel (the per-channel affine maps) costs 2–8 ms; autodiff through tf.moments needs a
 * dozen of the slow kind.
 */
export function batchNormTraining(
  x: tf.Tensor2D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  stats?: (s: BatchStats) => void,
): tf.Tensor2D {
  const [rows, channels] = x.shape;
  // Made on each use: tensors of the forward pass are gone by the time the gradient runs.
  const channelSum = (t: tf.Tensor2D) => tf.matMul(tf.ones([1, rows]), t).reshape([channels]) as tf.Tensor1D;
  /** t · scale + shift per channel: batchNorm with mean 0, variance 0 and epsilon 1 divides by exactly 1. */
  const affine = (t: tf.Tensor2D, scale: tf.Tensor1D, shift: tf.Tensor1D) =>
    tf.batchNorm2d(
      t,
      tf.zeros([channels]) as tf.Tensor1D,
      tf.zeros([channels]) as tf.Tensor1D,
      shift,
      scale,
      1,
    );
  const op = tf.customGrad((...args) => {
    const [input, gammaIn, betaIn] = args.slice(0, 3) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as (tensors: tf.Tensor[]) => void;
    const mean = channelSum(input).div(rows) as tf.Tensor1D;
    const centered = affine(input, tf.ones([channels]), mean.neg());
    const variance = channelSum(centered.square()).div(rows) as tf.Tensor1D;
    const normalized = tf.batchNorm2d(input, mean, variance, undefined, undefined, epsilon);
    stats?.({ mean, variance });
    save([normalized, variance.add(epsilon).rsqrt().mul(gammaIn)]);
    return {
      value: tf.batchNorm2d(input, mean, variance, betaIn, gammaIn, epsilon),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor2D;
        const [xhat, k] = saved as [tf.Tensor2D, tf.Tensor1D];
        const dBeta = channelSum(g);
        const dGamma = channelSum(g.mul(xhat));
        // dx = k · (dy − mean(dy) − x̂ · mean(dy · x̂)), per channel.
        const dx = affine(g, k, k.mul(dBeta).div(-rows)).sub(
          affine(xhat, k.mul(dGamma).div(rows), tf.zeros([channels]) as tf.Tensor1D),
        );
        return [dx, dGamma, dBeta];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor2D;
}
