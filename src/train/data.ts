import type { Dataset } from '../data/dataset';
import type { SampleSet, TrainingData } from './trainer';

/** The float samples of some dataset rows, as one flat array. */
export function sampleSet(dataset: Dataset, rows: readonly number[]): SampleSet {
  const size = dataset.input.shape.reduce((p, d) => p * d, 1);
  const x = new Float32Array(rows.length * size);
  const labels = dataset.hasLabels ? new Int32Array(rows.length) : undefined;
  rows.forEach((row, k) => {
    const s = dataset.sample(row);
    const data = s.feeds[dataset.input.name]!.data;
    if (!(data instanceof Float32Array)) throw new Error('Training needs a float32 model input.');
    x.set(data, k * size);
    if (labels) labels[k] = s.label ?? 0;
  });
  return { x, count: rows.length, labels };
}

/**
 * Training data from a dataset: its train split to learn from and its calibration split as the
 * held-out set for early stopping and keep-best (the evaluation split stays untouched, so the
 * accuracy the pipeline reports is not the one training selected on).
 */
export function trainingData(dataset: Dataset, options: { maxTrain?: number } = {}): TrainingData {
  const train = dataset.splits.train.slice(0, options.maxTrain ?? dataset.splits.train.length);
  if (!train.length)
    throw new Error('The dataset has no training split: add "split": { "train": N } to its manifest.');
  return {
    input: dataset.input.name,
    sampleShape: [...dataset.input.shape],
    train: sampleSet(dataset, train),
    validation: dataset.splits.calibration.length
      ? sampleSet(dataset, dataset.splits.calibration)
      : undefined,
  };
}
