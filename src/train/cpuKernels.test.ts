import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installFastCpuKernels } from './cpuKernels';

/**
 * The replaced CPU kernels (convolution forward, its input and filter gradients, max-pool gradient)
 * must give the tfjs kernels' values: computed once with the originals, once with ours.
 */
describe('fast CPU kernels', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('match the tfjs kernels they replace, for strides, explicit and same padding', () => {
    const x = tf.relu(tf.randomNormal([2, 9, 11, 5], 0, 1, 'float32', 1)) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 5, 7], 0, 1, 'float32', 2) as tf.Tensor4D;
    const cases: [
      number | [number, number],
      'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]],
    ][] = [
      [1, 'same'],
      [[2, 1], 'same'],
      [2, 'valid'],
      [
        1,
        [
          [0, 0],
          [1, 0],
          [0, 2],
          [0, 0],
        ],
      ],
    ];
    const run = () =>
      cases.flatMap(([strides, pad]) => {
        const y = tf.conv2d(x, w, strides, pad);
        const [dx, dw] = tf.grads((a, b) =>
          tf
            .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad)
            .square()
            .sum(),
        )([x, w]);
        const dpool = tf.grads((a) =>
          tf
            .maxPool(a as tf.Tensor4D, [3, 2], [2, 2], 'same')
            .square()
            .sum(),
        )([x])[0]!;
        return [y, dx!, dw!, dpool].map((t) => Array.from(t.dataSync()));
      });
    const before = run();
    installFastCpuKernels();
    const after = run();
    after.forEach((values, k) => {
      expect(values.length).toBe(before[k]!.length);
      const scale = Math.max(1, ...before[k]!.map(Math.abs));
      values.forEach((v, i) => expect(Math.abs(v - before[k]![i]!) / scale).toBeLessThan(1e-5));
    });
  });
});
