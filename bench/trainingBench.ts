/**
 * The measurement of bench/training-throughput.ts, shared by its Node run and the page it builds for
 * Chromium: train the bundled sample model (batch 32, Adam) on its training split with one
 * TensorFlow.js backend and report samples per second of the training steps alone.
 */
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../src/data/dataset';
import { Model } from '../src/onnx/ir';
import { summarizeModel } from '../src/onnx/summary';
import { useTrainingBackend, type TrainingBackend } from '../src/train/backend';
import { trainingData } from '../src/train/data';
import { TrainableGraph } from '../src/train/graph';
import { DEFAULT_TRAIN_CONFIG, logitsTensor, trainGraph, type SampleSet } from '../src/train/trainer';

/** One backend's figures. */
export interface ThroughputResult {
  requested: TrainingBackend;
  /** The backend tfjs actually ran ('cpu', 'webgl', 'webgpu'). */
  backend: string;
  /** Samples per second over the measured steps (after the warm-up). */
  samplesPerSecond: number;
  samples: number;
  seconds: number;
  /** Time of the warm-up steps (kernel compilation on GPU backends). */
  warmupSeconds: number;
  /** Mean training loss of the measured epoch and accuracy on its samples after it: the backend really trained. */
  loss: number;
  accuracy: number;
  /** The backend could not run (why). */
  error?: string;
}

export interface ThroughputOptions {
  /** Samples of the measured epoch at most. */
  samples: number;
  /** Stop the measured epoch after this many seconds (slow software GPUs). */
  maxSeconds: number;
  /** Warm-up batches before measuring. */
  warmupBatches: number;
}

const batchSize = 32;

function head(set: SampleSet, count: number): SampleSet {
  const size = set.x.length / set.count;
  return { x: set.x.subarray(0, count * size), count, labels: set.labels?.subarray(0, count) };
}

/** The sample model and its training split, read through `read` (files of public/samples). */
export async function loadSample(read: (path: string) => Promise<Uint8Array>) {
  const bytes = await read('digits-cnn.onnx');
  const model = Model.decode(bytes);
  const manifest = JSON.parse(new TextDecoder().decode(await read('digits-dataset.json'))) as unknown;
  const dataset = await loadDataset(manifest, read, summarizeModel(model, bytes.byteLength).inputs);
  return { model, data: trainingData(dataset) };
}

/**
 * Why the active backend computes wrong numbers, or null: a 2×2 by 2×1 product read back
 * synchronously (as the trainer reads its loss) and asynchronously. tfjs's WebGPU backend on
 * Chromium's SwiftShader adapter reads zeros synchronously, then has lost its device.
 */
async function wrongResults(): Promise<string | null> {
  const product = tf.matMul(
    tf.tensor2d([
      [1, 2],
      [3, 4],
    ]),
    tf.tensor2d([[1], [1]]),
  );
  const expected = (v: ArrayLike<number>) => v[0] === 3 && v[1] === 7;
  try {
    const sync = product.dataSync();
    if (!expected(sync))
      return `wrong results: [[1,2],[3,4]]·[1,1] read back as [${Array.from(sync).join(', ')}]`;
    const read = await product.data();
    if (!expected(read))
      return `wrong results: [[1,2],[3,4]]·[1,1] read back as [${Array.from(read).join(', ')}]`;
    return null;
  } catch (e) {
    return `wrong results: reading [[1,2],[3,4]]·[1,1] failed (${e instanceof Error ? e.message : String(e)})`;
  } finally {
    product.dispose();
  }
}

/** Train the sample with one backend: warm-up batches, then one timed epoch (capped in time). */
export async function measureThroughput(
  requested: TrainingBackend,
  sample: Awaited<ReturnType<typeof loadSample>>,
  options: ThroughputOptions,
): Promise<ThroughputResult> {
  const empty = {
    requested,
    backend: '',
    samplesPerSecond: 0,
    samples: 0,
    seconds: 0,
    warmupSeconds: 0,
    loss: NaN,
    accuracy: NaN,
  };
  let backend: string;
  try {
    backend = await useTrainingBackend(requested);
  } catch (e) {
    return { ...empty, error: e instanceof Error ? e.message : String(e) };
  }
  const wrong = await wrongResults();
  if (wrong) return { ...empty, backend, error: wrong };
  const graph = TrainableGraph.build(sample.model);
  try {
    const logits = logitsTensor(graph, sample.model);
    const config = { ...DEFAULT_TRAIN_CONFIG, epochs: 1, batchSize, schedule: 'constant' as const };
    const data = (count: number) => ({
      input: sample.data.input,
      sampleShape: sample.data.sampleShape,
      train: head(sample.data.train, Math.min(count, sample.data.train.count)),
    });
    const w0 = performance.now();
    await trainGraph(graph, data(options.warmupBatches * batchSize), config, { logits });
    const warmupSeconds = (performance.now() - w0) / 1000;
    const started = performance.now();
    const r = await trainGraph(graph, data(options.samples), config, {
      logits,
      control: { stopRequested: () => performance.now() - started > options.maxSeconds * 1000 },
    });
    const epoch = r.history[0];
    if (!epoch) throw new Error('no batch was trained');
    return {
      requested,
      backend,
      samplesPerSecond: epoch.samplesPerSecond,
      samples: Math.round(epoch.samplesPerSecond * epoch.seconds),
      seconds: epoch.seconds,
      warmupSeconds,
      loss: epoch.loss,
      accuracy: epoch.accuracy ?? NaN,
    };
  } catch (e) {
    return { ...empty, backend, error: e instanceof Error ? e.message : String(e) };
  } finally {
    graph.dispose();
  }
}
