import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, parseManifest } from '../src/data/dataset';
import { parseNpy } from '../src/data/npy';
import { DataType } from '../src/onnx/dtype';
import { Model } from '../src/onnx/ir';
import { summarizeModel } from '../src/onnx/summary';
import { validateModel } from '../src/onnx/validate';
import { seededRandom } from '../src/runtime/inputs';
import { batchNormTraining } from '../src/train/batchNorm';
import { loadMnistDigits, permutation, takeSamples } from './samples/mnist-data';
import { installFastCpuKernels } from '../src/train/cpuKernels';

const samplesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../public/samples');
const read = (name: string) => new Uint8Array(readFileSync(path.join(samplesDir, name)));

interface SampleFacts {
  model: string;
  dataset: string;
  accuracy: { evaluation: number; correct: number; samples: number; runtime: string };
  tfjs: { accuracy: number; sameTop1AsOnnx: number };
  parameters: number;
  nodes: number;
  seed: number;
  scriptVersion: number;
  data: { samples: number; splits: { train: number; calibration: number; evaluation: number } };
  files: Record<string, { bytes: number; sha256: string }>;
}

const facts = JSON.parse(readFileSync(path.join(samplesDir, 'digits-cnn.json'), 'utf8')) as SampleFacts;
const manifest = JSON.parse(readFileSync(path.join(samplesDir, 'digits-dataset.json'), 'utf8')) as {
  split: { train: number; calibration: number; evaluation: number };
};

describe('bundled digits sample model', () => {
  const bytes = read('digits-cnn.onnx');
  const model = Model.decode(bytes);
  const summary = summarizeModel(model, bytes.length);

  it('is the file digits-cnn.json describes', () => {
    for (const [name, f] of Object.entries(facts.files)) {
      const b = read(name);
      expect(b.length, name).toBe(f.bytes);
      expect(createHash('sha256').update(b).digest('hex'), name).toBe(f.sha256);
    }
    expect(Object.keys(facts.files).sort()).toEqual([
      'digits-cnn.onnx',
      'digits-images.npy',
      'digits-labels.npy',
    ]);
  });

  it('has Conv + BatchNormalization + Relu blocks, pooling and a Gemm head with ≥ 100k parameters', () => {
    expect(summary.ops).toEqual({ Conv: 2, BatchNormalization: 2, Relu: 3, MaxPool: 2, Flatten: 1, Gemm: 2 });
    const order = model.graph.nodes.map((n) => n.opType);
    expect(order.slice(0, 8)).toEqual([
      'Conv',
      'BatchNormalization',
      'Relu',
      'MaxPool',
      'Conv',
      'BatchNormalization',
      'Relu',
      'MaxPool',
    ]);
    expect(summary.parameters).toBeGreaterThanOrEqual(100_000);
    expect(summary.parameters).toBe(facts.parameters);
    expect(summary.nodes).toBe(facts.nodes);
    expect(model.graph.nodes.map((n) => n.name)).toContain('/features/bn1/BatchNormalization');
    expect(model.graph.nodes.every((n) => /^\/[a-z]+(\/[a-z0-9]+)*\/[A-Za-z]+$/.test(n.name))).toBe(true);
  });

  it('is a valid opset-17 IR-8 model with input image [N,1,28,28] and output logits [N,10]', () => {
    expect(validateModel(model).filter((i) => i.severity === 'error')).toEqual([]);
    expect(summary.producer).toBe('whittle-samples');
    expect(summary.irVersion).toBe(8);
    expect(summary.opsets).toEqual({ 'ai.onnx': 17 });
    expect(summary.inputs).toEqual([
      { name: 'image', type: 'float', elemType: DataType.FLOAT, shape: ['N', 1, 28, 28] },
    ]);
    expect(summary.outputs).toEqual([
      { name: 'logits', type: 'float', elemType: DataType.FLOAT, shape: ['N', 10] },
    ]);
    expect(summary.metadata['evaluation.accuracy']).toBe(facts.accuracy.evaluation.toFixed(4));
    expect(summary.metadata.dataset).toMatch(/mnist/);
  });

  it('keeps BatchNormalization in inference form with its four weight tensors', () => {
    for (const n of model.graph.nodes.filter((x) => x.opType === 'BatchNormalization')) {
      expect(n.inputs).toHaveLength(5);
      for (const w of n.inputs.slice(1)) expect(model.graph.initializers.has(w), w).toBe(true);
      expect(n.outputs).toHaveLength(1);
    }
  });
});

describe('bundled digits dataset', () => {
  const imagesFile = read('digits-images.npy');
  const labelsFile = read('digits-labels.npy');

  it('is written as NumPy 1.0 uint8 arrays with a 64-byte aligned header', () => {
    for (const file of [imagesFile, labelsFile]) {
      expect(Array.from(file.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      const headerLength = file[8] | (file[9] << 8);
      expect((10 + headerLength) % 64).toBe(0);
      const header = new TextDecoder().decode(file.subarray(10, 10 + headerLength));
      expect(header.endsWith('\n')).toBe(true);
      expect(header).toContain("'descr': '|u1', 'fortran_order': False");
    }
    const images = parseNpy(imagesFile);
    const labels = parseNpy(labelsFile);
    const total = manifest.split.train + manifest.split.calibration + manifest.split.evaluation;
    expect(images.shape).toEqual([total, 28, 28]);
    expect(labels.shape).toEqual([total]);
    expect(images.data.length).toBe(total * 784);
    const labelValues = Array.from(labels.data as Uint8Array);
    expect(Math.max(...labelValues)).toBe(9);
    expect(new Set(labelValues).size).toBe(10);
  });

  it('has the manifest CONTRACT.md defines', () => {
    expect(manifest).toEqual({
      'whittle-dataset': 1,
      samples: 'digits-images.npy',
      labels: 'digits-labels.npy',
      input: 'image',
      preprocess: {
        dtype: 'float32',
        shape: [1, 1, 28, 28],
        layout: 'NCHW',
        scale: 1 / 255,
        mean: [0],
        std: [1],
      },
      split: { train: manifest.split.train, calibration: 500, evaluation: 1000 },
    });
    expect(manifest.split.train).toBeGreaterThanOrEqual(0);
    expect(() => parseManifest(manifest)).not.toThrow();
  });

  it('holds the mnist package samples of the seeded split, in file order train, calibration, evaluation', () => {
    const data = loadMnistDigits();
    expect(data.count).toBe(facts.data.samples);
    const { train, calibration, evaluation } = facts.data.splits;
    expect(train + calibration + evaluation).toBe(data.count);
    const order = permutation(data.count, seededRandom(facts.seed));
    const expected = [
      ...order.subarray(0, manifest.split.train),
      ...order.subarray(train, train + calibration + evaluation),
    ];
    const want = takeSamples(data, expected);
    expect(Buffer.from(parseNpy(imagesFile).data as Uint8Array).equals(Buffer.from(want.images))).toBe(true);
    expect(Array.from(parseNpy(labelsFile).data as Uint8Array)).toEqual(Array.from(want.labels));
  });
});

describe('digits sample accuracy', () => {
  it('matches digits-cnn.json on the evaluation split in onnxruntime-node', async () => {
    const bytes = read('digits-cnn.onnx');
    const model = Model.decode(bytes);
    const dataset = await loadDataset(
      manifest,
      async (p) => read(p),
      summarizeModel(model, bytes.length).inputs,
    );
    expect(dataset.splits.evaluation).toHaveLength(facts.accuracy.samples);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    let correct = 0;
    for (const i of dataset.splits.evaluation) {
      const s = dataset.sample(i);
      const feed = s.feeds.image;
      expect(feed.dims).toEqual([1, 1, 28, 28]);
      const out = await session.run({
        image: new ort.Tensor('float32', feed.data as Float32Array, feed.dims),
      });
      const logits = out.logits.data as Float32Array;
      let best = 0;
      for (let k = 1; k < 10; k++) if (logits[k] > logits[best]) best = k;
      if (best === s.label) correct++;
    }
    await session.release();
    expect(correct).toBe(facts.accuracy.correct);
    expect(correct / facts.accuracy.samples).toBe(facts.accuracy.evaluation);
    expect(facts.accuracy.evaluation).toBeGreaterThanOrEqual(0.97);
    expect(facts.tfjs.sameTop1AsOnnx).toBeGreaterThanOrEqual(999);
  });
});

describe('training helpers', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('the fast CPU gradient kernels give the same values as the tfjs kernels they replace', () => {
    const x = tf.relu(tf.randomNormal([3, 9, 11, 5], 0, 1, 'float32', 1)) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 5, 7], 0, 1, 'float32', 2) as tf.Tensor4D;
    const gradients = () =>
      [
        tf.grads((a, b) =>
          tf
            .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, [2, 1], 'same')
            .square()
            .sum(),
        )([x, w])[1],
        tf.grads((a) =>
          tf
            .maxPool(a as tf.Tensor4D, [3, 2], [2, 2], 'same')
            .square()
            .sum(),
        )([x])[0],
        tf.grads((a) =>
          tf
            .maxPool(a as tf.Tensor4D, 2, 2, 'valid')
            .square()
            .sum(),
        )([x])[0],
      ].map((t) => Array.from(t.dataSync()));
    const before = gradients();
    installFastCpuKernels();
    const after = gradients();
    after.forEach((values, k) => {
      expect(values.length).toBe(before[k].length);
      values.forEach((v, i) => expect(v).toBeCloseTo(before[k][i], 4));
    });
    expect(after[1].some((v) => v !== 0)).toBe(true);
  });

  it('batch normalization with its closed-form gradient matches autodiff through tf.moments', () => {
    const x = tf.randomNormal([300, 6], 2, 3, 'float32', 1) as tf.Tensor2D;
    const gamma = tf.randomNormal([6], 1, 0.5, 'float32', 2) as tf.Tensor1D;
    const beta = tf.randomNormal([6], 0, 1, 'float32', 3) as tf.Tensor1D;
    const weights = tf.randomNormal([300, 6], 0, 1, 'float32', 4);
    const ours = tf.grads((a, g, b) =>
      batchNormTraining(a as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5)
        .mul(weights)
        .square()
        .sum(),
    )([x, gamma, beta]);
    const reference = tf.grads((a, g, b) => {
      const m = tf.moments(a, 0);
      return tf.batchNorm(a, m.mean, m.variance, b, g, 1e-5).mul(weights).square().sum();
    })([x, gamma, beta]);
    ours.forEach((t, k) => {
      const a = t.dataSync();
      const r = reference[k].dataSync();
      const scale = Math.max(...Array.from(r, Math.abs));
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - r[i]) / scale).toBeLessThan(1e-5);
    });
  });
});
