import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { randomNormal, runtime } from '../passes/testing/quantFixtures';
import { argmaxRows, distillationLoss, onnxLogitsName, teacherLogits, topOneAccuracy } from './distill';

/** log-softmax of one row in float64. */
function logSoftmax(row: number[], t: number): number[] {
  const z = row.map((v) => v / t);
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return z.map((v) => v - lse);
}

describe('the distillation loss', () => {
  const student = [
    [2, -1, 0.5],
    [0, 0, 3],
  ];
  const teacher = [
    [3, 0, 1],
    [-1, 0.5, 2],
  ];
  const labels = [0, 1];
  const T = 4;
  const kl = (s: number[], t: number[]) => {
    const lt = logSoftmax(t, T);
    const ls = logSoftmax(s, T);
    return lt.reduce((sum, v, i) => sum + Math.exp(v) * (v - ls[i]), 0);
  };
  const soft = (T * T * (kl(student[0], teacher[0]) + kl(student[1], teacher[1]))) / 2;
  const hard = -(logSoftmax(student[0], 1)[labels[0]] + logSoftmax(student[1], 1)[labels[1]]) / 2;
  const value = (alpha: number, useLabels: boolean, withLabels = true) =>
    tf.tidy(
      () =>
        distillationLoss(
          T,
          alpha,
          useLabels,
        )(tf.tensor2d(student), {
          x: tf.zeros([2, 1]),
          teacher: tf.tensor2d(teacher),
          ...(withLabels ? { labels: tf.tensor1d(labels, 'int32') } : {}),
        }).dataSync()[0],
    );

  it('is α·CE + (1 − α)·T²·KL(teacher_T ‖ student_T)', () => {
    expect(value(0.3, true)).toBeCloseTo(0.3 * hard + 0.7 * soft, 5);
    expect(value(1, true)).toBeCloseTo(hard, 5);
  });

  it('is the soft term alone without labels (α ignored) and zero when the student copies the teacher', () => {
    expect(value(0.3, false)).toBeCloseTo(soft, 5);
    expect(value(0.3, true, false)).toBeCloseTo(soft, 5);
    const same = tf.tidy(
      () =>
        distillationLoss(
          T,
          0.3,
          false,
        )(tf.tensor2d(teacher), { x: tf.zeros([2, 1]), teacher: tf.tensor2d(teacher) }).dataSync()[0],
    );
    expect(Math.abs(same)).toBeLessThan(1e-6);
  });
});

describe('teacher logits from onnxruntime', () => {
  it('read the input of a final Softmax, in batches when the batch dimension is free, like one at a time', async () => {
    const build = (batch: string | number) => {
      const b = new GraphBuilder('softmaxed');
      const x = b.input('x', DataType.FLOAT, [batch, 6]);
      const w = b.initializer('w', DataType.FLOAT, [6, 4], randomNormal(24, 2));
      const z = b.op('MatMul', [x, w], {}, 'mm');
      b.node('Softmax', [z], { axis: -1 }, { name: 'softmax', outputs: ['p'] });
      b.output('p', DataType.FLOAT, [batch, 4]);
      return b.model({ opset: 17 });
    };
    const free = build('N');
    expect(onnxLogitsName(free)).toBe('mm_out0');
    const set = { x: randomNormal(100 * 6, 5), count: 100 };
    const input = { name: 'x', sampleShape: [1, 6] };
    const batched = await teacherLogits(free, runtime, input, set);
    const single = await teacherLogits(build(1), runtime, input, set);
    expect(batched.classes).toBe(4);
    expect(batched.logits).toHaveLength(400);
    batched.logits.forEach((v, i) => expect(v).toBeCloseTo(single.logits[i], 5));
    // Logits, not probabilities: rows do not sum to 1 and take negative values.
    expect(Math.min(...batched.logits)).toBeLessThan(0);
    const top = argmaxRows(batched.logits, 4);
    expect(topOneAccuracy(batched.logits, 4, top)).toBe(1);
    expect(
      topOneAccuracy(
        batched.logits,
        4,
        top.map((c) => (c + 1) % 4),
      ),
    ).toBe(0);
  });
});
