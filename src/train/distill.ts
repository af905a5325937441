import * as tf from '@tensorflow/tfjs';
import type { Model } from '../onnx/ir';
import { countParameters } from '../onnx/summary';
import { withExtraOutputs } from '../passes/calibration';
import type { Runtime } from '../runtime/types';
import { useTrainingBackend, type TrainingBackend } from './backend';
import { TrainableGraph } from './graph';
import {
  crossEntropy,
  logitsTensor,
  trainGraph,
  type LossFunction,
  type SampleSet,
  type TrainConfig,
  type TrainingData,
  type TrainingOptions,
  type TrainingResult,
} from './trainer';

/**
 * The distillation loss: α·CE(labels) + (1−α)·T²·KL(softmax(teacher/T) ‖ softmax(student/T)).
 * Without labels (or α = 0) only the soft-target term remains. T² keeps the soft term's gradients
 * on the scale of the hard term's as T grows (Hinton et al., 2015).
 */
export function distillationLoss(temperature: number, alpha: number, useLabels: boolean): LossFunction {
  return (logits, batch) => {
    if (!batch.teacher) throw new Error('Distillation needs the teacher outputs of every sample.');
    const teacher = tf.logSoftmax(tf.div(batch.teacher, temperature));
    const student = tf.logSoftmax(tf.div(logits, temperature));
    const kl = tf.mean(tf.sum(tf.mul(tf.exp(teacher), tf.sub(teacher, student)), 1));
    const soft = tf.mul(kl, temperature * temperature);
    if (!useLabels || !batch.labels || alpha <= 0) return soft as tf.Scalar;
    return tf.add(tf.mul(crossEntropy(logits, batch), alpha), tf.mul(soft, 1 - alpha)) as tf.Scalar;
  };
}

/** The tensor holding a model's logits: the input of a final Softmax / LogSoftmax, else the first output. */
export function onnxLogitsName(model: Model): string {
  const out = model.graph.outputs[0]?.name;
  if (!out) throw new Error('The teacher has no output.');
  const producer = model.graph.producer(out);
  return producer && (producer.opType === 'Softmax' || producer.opType === 'LogSoftmax')
    ? producer.inputs[0]
    : out;
}

/**
 * The teacher's logits for every sample of `set`, computed by onnxruntime (web in the studio, node in
 * tests): `count × classes` floats. Samples go in batches when the model's batch dimension is free.
 */
export async function teacherLogits(
  teacher: Model,
  runtime: Runtime,
  input: { name: string; sampleShape: readonly number[] },
  set: SampleSet,
  options: { signal?: AbortSignal; progress?: (done: number, total: number) => void } = {},
): Promise<{ logits: Float32Array; classes: number }> {
  const name = onnxLogitsName(teacher);
  const model = teacher.graph.isGraphOutput(name) ? teacher : withExtraOutputs(teacher, [name]);
  const declared = teacher.graph.feedInputs().find((v) => v.name === input.name);
  if (!declared) throw new Error(`The teacher has no input "${input.name}" for the dataset to feed.`);
  const batchDim = teacher.graph.valueShape(input.name)?.[0];
  const batch = input.sampleShape[0] === 1 && typeof batchDim !== 'number' ? 64 : 1;
  const size = input.sampleShape.reduce((p, d) => p * d, 1);
  const session = await runtime.createSession(model.encode(), { externalData: teacher.external });
  let logits: Float32Array | undefined;
  let classes = 0;
  try {
    for (let start = 0; start < set.count; start += batch) {
      options.signal?.throwIfAborted();
      const n = Math.min(batch, set.count - start);
      const out = await session.run(
        {
          [input.name]: {
            type: 'float32',
            dims: [n * input.sampleShape[0], ...input.sampleShape.slice(1)],
            data: set.x.slice(start * size, (start + n) * size),
          },
        },
        [name],
      );
      const values = out[name]!.data;
      if (!(values instanceof Float32Array))
        throw new Error(`The teacher's logits "${name}" are not float32.`);
      if (!logits) {
        classes = values.length / n;
        if (!Number.isInteger(classes) || classes < 2)
          throw new Error(`The teacher's output "${name}" is not one row of class scores per sample.`);
        logits = new Float32Array(set.count * classes);
      }
      if (values.length !== n * classes)
        throw new Error(`The teacher's output "${name}" changed size between batches.`);
      logits.set(values, start * classes);
      options.progress?.(start + n, set.count);
    }
  } finally {
    await session.release();
  }
  return { logits: logits ?? new Float32Array(0), classes };
}

/** Index of the largest score of each row. */
export function argmaxRows(scores: Float32Array, classes: number): Int32Array {
  const rows = scores.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[r * classes + c] > scores[r * classes + best]) best = c;
    out[r] = best;
  }
  return out;
}

/** Share of rows whose top score is at `labels`. */
export function topOneAccuracy(scores: Float32Array, classes: number, labels: Int32Array): number {
  const top = argmaxRows(scores, classes);
  let hits = 0;
  top.forEach((t, i) => (hits += t === labels[i] ? 1 : 0));
  return top.length ? hits / top.length : 0;
}

export interface StudentTrainingOptions extends Omit<TrainingOptions, 'logits' | 'afterStep'> {
  backend?: TrainingBackend;
}

export interface StudentTrainingResult {
  model: Model;
  training: TrainingResult;
  parameters: number;
  /** Validation accuracy of the kept epoch (agreement with the teacher when the data have no labels). */
  accuracy?: number;
}

/**
 * Train a student on `data` with `options.loss` (cross-entropy on labels by default) and return it
 * with the trained weights written back. The student's class count must match the teacher's.
 */
export async function trainStudent(
  student: Model,
  data: TrainingData,
  config: TrainConfig,
  options: StudentTrainingOptions = {},
): Promise<StudentTrainingResult> {
  await useTrainingBackend(options.backend);
  const graph = TrainableGraph.build(student);
  try {
    const logits = logitsTensor(graph, student);
    const teacherClasses = data.train.teacher ? data.train.teacher.length / data.train.count : undefined;
    if (teacherClasses !== undefined) {
      const size = data.sampleShape.reduce((p, d) => p * d, 1);
      const classes = tf.tidy(() => {
        const x = tf.tensor(data.train.x.subarray(0, size), data.sampleShape, 'float32');
        const t = graph.forward({ [data.input]: x }, { training: false, extraOutputs: [logits] })[logits];
        return t.size / data.sampleShape[0];
      });
      if (classes !== teacherClasses)
        throw new Error(
          `The student gives ${classes} scores per sample but the teacher gives ${teacherClasses}: they must classify the same classes.`,
        );
    }
    const training = await trainGraph(graph, data, config, { ...options, logits });
    const kept = training.history.find((h) => h.epoch === training.keptEpoch);
    return {
      model: graph.writeBack(),
      training,
      parameters: countParameters(student.graph),
      accuracy: kept?.validationAccuracy,
    };
  } finally {
    graph.dispose();
  }
}
