/**
 * Generated models and calibration data for bench/stages.bench.ts: a plain 8-conv CNN (Conv →
 * BatchNormalization → Relu, MaxPool after every second conv, global average pool, Gemm head) and a
 * 6-layer MatMul MLP, both with seeded He-initialized weights, and a synthetic image/vector Dataset.
 */
import { GraphBuilder } from '../src/onnx/builder';
import { DataType } from '../src/onnx/dtype';
import type { Model } from '../src/onnx/ir';
import { Dataset, makeSplits, PreprocessSchema } from '../src/data/dataset';
import { seededRandom } from '../src/runtime/inputs';

/** Gaussian-ish deterministic numbers (sum of four uniforms, unit variance times `std`). */
export function randomNormal(n: number, seed: number, std = 1): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() + rand() + rand() + rand() - 2) * std * Math.sqrt(3);
  return out;
}

function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

/**
 * x[1,3,size,size] → 8 × (Conv 3×3 pad 1 → BatchNormalization → Relu), `channels` wide, with a 2×2
 * MaxPool after convs 2, 4 and 6 → GlobalAveragePool → Flatten → Gemm(10) → logits[1,10].
 * Conv names conv1…conv8.
 */
export function buildConvNet(options: { size: number; channels?: number; seed?: number }): Model {
  const channels = options.channels ?? 64;
  const seed = options.seed ?? 101;
  const b = new GraphBuilder('cnn8');
  let x = b.input('x', DataType.FLOAT, [1, 3, options.size, options.size]);
  let inCh = 3;
  for (let l = 1; l <= 8; l++) {
    const s = seed + 10 * l;
    const fanIn = inCh * 9;
    const w = b.initializer(
      `conv${l}.weight`,
      DataType.FLOAT,
      [channels, inCh, 3, 3],
      randomNormal(channels * fanIn, s, Math.sqrt(2 / fanIn)),
    );
    const bias = b.initializer(
      `conv${l}.bias`,
      DataType.FLOAT,
      [channels],
      randomNormal(channels, s + 1, 0.05),
    );
    const c = b.op('Conv', [x, w, bias], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, `conv${l}`);
    const bn = [
      b.initializer(`bn${l}.scale`, DataType.FLOAT, [channels], uniform(channels, s + 2, 0.5, 1.5)),
      b.initializer(`bn${l}.bias`, DataType.FLOAT, [channels], randomNormal(channels, s + 3, 0.1)),
      b.initializer(`bn${l}.mean`, DataType.FLOAT, [channels], randomNormal(channels, s + 4, 0.1)),
      b.initializer(`bn${l}.var`, DataType.FLOAT, [channels], uniform(channels, s + 5, 0.5, 1.5)),
    ];
    x = b.op('Relu', [b.op('BatchNormalization', [c, ...bn], { epsilon: 1e-5 }, `bn${l}`)], {}, `relu${l}`);
    if (l % 2 === 0 && l < 8)
      x = b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] }, `pool${l / 2}`);
    inCh = channels;
  }
  const g = b.op('Flatten', [b.op('GlobalAveragePool', [x], {}, 'gap')], {}, 'flatten');
  const wf = b.initializer(
    'fc.weight',
    DataType.FLOAT,
    [10, channels],
    randomNormal(10 * channels, seed, 0.1),
  );
  const bf = b.initializer('fc.bias', DataType.FLOAT, [10], randomNormal(10, seed + 1, 0.05));
  b.node('Gemm', [g, wf, bf], { transB: 1 }, { name: 'fc', outputs: ['logits'] });
  b.output('logits', DataType.FLOAT, [1, 10]);
  return b.model({ opset: 17 });
}

/**
 * x[1,tokens,width] → 6 × (MatMul width×width → Add bias, Relu between layers) → y[1,tokens,width].
 * A 3-D activation, as in a transformer block, so MatMul + Add stay separate nodes. Names mm1…mm6.
 */
export function buildMatMulNet(options: { width?: number; tokens: number; seed?: number }): Model {
  const width = options.width ?? 512;
  const seed = options.seed ?? 202;
  const b = new GraphBuilder('mlp6');
  let h = b.input('x', DataType.FLOAT, [1, options.tokens, width]);
  for (let l = 1; l <= 6; l++) {
    const s = seed + 10 * l;
    const w = b.initializer(
      `mm${l}.weight`,
      DataType.FLOAT,
      [width, width],
      randomNormal(width * width, s, Math.sqrt(2 / width)),
    );
    const bias = b.initializer(`mm${l}.bias`, DataType.FLOAT, [width], randomNormal(width, s + 1, 0.05));
    h = b.op('Add', [b.op('MatMul', [h, w], {}, `mm${l}`), bias], {}, `add${l}`);
    if (l < 6) h = b.op('Relu', [h], {}, `relu${l}`);
  }
  b.node('Identity', [h], {}, { name: 'out', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, options.tokens, width]);
  return b.model({ opset: 17 });
}

/**
 * A calibration Dataset for the model's single float input: smooth random images (low-frequency
 * sinusoids plus noise) for a 4-D input, unit Gaussians otherwise. All samples are calibration
 * samples; there are no labels (the bench measures speed and size, not accuracy).
 */
export function calibrationDataset(model: Model, count: number, seed = 7): Dataset {
  const input = model.graph.feedInputs()[0];
  const shape = model.graph.valueShape(input.name)!.map((d) => (typeof d === 'number' ? d : 1));
  const size = shape.reduce((a, b) => a * b, 1);
  let values: Float32Array;
  if (shape.length === 4) {
    const [, c, h, w] = shape;
    const rand = seededRandom(seed);
    values = new Float32Array(count * size);
    for (let s = 0; s < count; s++)
      for (let ch = 0; ch < c; ch++) {
        const fx = 0.05 + rand() * 0.3;
        const fy = 0.05 + rand() * 0.3;
        const phase = rand() * 6.28;
        const amp = 0.5 + rand();
        const base = (s * c + ch) * h * w;
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++)
            values[base + y * w + x] = amp * Math.sin(fx * x + fy * y + phase) + 0.3 * (rand() - 0.5);
      }
  } else values = randomNormal(count * size, seed);
  return new Dataset(
    { values, count, sampleShape: shape.slice(1) },
    { name: input.name, elemType: DataType.FLOAT, shape },
    PreprocessSchema.parse({}),
    makeSplits(count, { train: 0, calibration: count, evaluation: 0 }),
    'synthetic-calibration',
  );
}
