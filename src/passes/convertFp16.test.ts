import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, attr } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import type { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { floatToHalf, halfToFloat } from '../onnx/tensor';
import { summarizeModel } from '../onnx/summary';
import { generateInputs } from '../runtime/inputs';
import { Dataset, makeSplits, PreprocessSchema } from '../data/dataset';
import { hasSharedModels } from '../test/fixtures';
import { convertFp16, convertFp16Params } from './convertFp16';
import {
  buildCnn,
  compareOnDataset,
  compareOnFeeds,
  hasMnistData,
  mnistDataset,
  randomNormal,
  readSharedModel,
  runOnWeb,
  runtime,
  stageContext,
  syntheticDataset,
  weightBytes,
} from './testing/quantFixtures';

const defaults = convertFp16Params.parse({});

function elemTypes(model: Model): Set<number> {
  return new Set([...model.graph.initializers.values()].map((t) => t.dataType));
}

describe('convert-fp16 on a generated CNN', () => {
  let cnn: Model;
  let data: Dataset;
  beforeAll(async () => {
    cnn = buildCnn();
    data = await syntheticDataset(cnn, { calibration: 8, evaluation: 100 });
  });

  it('halves the weights, keeps float32 inputs/outputs and stays within tolerance', async () => {
    const before = cnn.encode();
    const r = await convertFp16.run(cnn, defaults, stageContext(data));
    expect(cnn.encode()).toEqual(before);
    checkModel(r.model);
    expect(r.notes[0]).toBe(
      'converted 8 nodes to float16 (2 Casts at float32 boundaries, inputs and outputs stay float32)',
    );
    expect(r.notes).toContain('range check on dataset samples: 0 values beyond ±8188 kept float32');
    expect(elemTypes(r.model)).toEqual(new Set([DataType.FLOAT16]));
    expect(weightBytes(cnn) / weightBytes(r.model)).toBe(2);
    expect(r.model.graph.valueElemType('x')).toBe(DataType.FLOAT);
    expect(r.model.graph.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(r.changes.every((c) => c.kind === 'quantized' && c.detail === 'fp16')).toBe(true);
    const f = await compareOnDataset(cnn, r.model, data);
    expect(f.agreement).toBeGreaterThanOrEqual(0.99);
    expect(f.sqnrDb).toBeGreaterThan(50);
    // onnxruntime-web (WASM) runs it too.
    const feeds = data.sample(data.splits.evaluation[0]).feeds;
    const web = await runOnWeb(r.model.encode(), feeds);
    expect(web.logits.length).toBe(10);
    expect(web.logits.every(Number.isFinite)).toBe(true);
  });

  it('can make the inputs and outputs float16 too', async () => {
    const r = await convertFp16.run(cnn, { ...defaults, keepIO: false }, stageContext(data));
    checkModel(r.model);
    expect(r.notes[0]).toBe('converted 8 nodes to float16 (0 Casts at float32 boundaries)');
    expect(r.model.graph.valueElemType('x')).toBe(DataType.FLOAT16);
    expect(r.model.graph.valueElemType('logits')).toBe(DataType.FLOAT16);
    const sample = data.sample(data.splits.evaluation[0]).feeds.x;
    const half = Uint16Array.from(sample.data as Float32Array, floatToHalf);
    const session = await runtime.createSession(r.model.encode());
    const out = await session.run({ x: { type: 'float16', dims: sample.dims, data: half } });
    await session.release();
    expect(out.logits.type).toBe('float16');
    const f = await compareOnFeeds(cnn, cnn, [{ x: sample }]);
    expect(f.maxAbsError).toBe(0);
    const ref = await runtime.createSession(cnn.encode());
    const expected = (await ref.run({ x: sample })).logits.data as Float32Array;
    await ref.release();
    Array.from(out.logits.data as Uint16Array, halfToFloat).forEach((v, i) =>
      expect(v).toBeCloseTo(expected[i], 1),
    );
  });

  it('keeps blocked operators in float32 behind Casts, and still stores their weights as float16', async () => {
    const r = await convertFp16.run(cnn, { ...defaults, blockList: ['Conv'] }, stageContext(data));
    checkModel(r.model);
    expect(r.notes).toContain('kept 2 nodes float32: Conv is on the block list');
    expect(r.changes.map((c) => c.node)).not.toContain('conv1');
    // Weights are stored as float16; tiny tensors (the 8- and 16-value biases) stay float32.
    expect(weightBytes(cnn) / weightBytes(r.model)).toBeGreaterThan(1.99);
    const conv1 = r.model.graph.nodes.find((n) => n.name === 'conv1')!;
    expect(r.model.graph.producer(conv1.inputs[1])?.opType).toBe('Cast');
    const f = await compareOnDataset(cnn, r.model, data);
    expect(f.sqnrDb).toBeGreaterThan(50);

    const float32Weights = await convertFp16.run(
      cnn,
      { ...defaults, blockList: ['Conv'], fp16Storage: false },
      stageContext(data),
    );
    expect(float32Weights.model.graph.initializers.get('conv1.weight')?.dataType).toBe(DataType.FLOAT);
    expect(float32Weights.model.graph.initializers.get('fc.weight')?.dataType).toBe(DataType.FLOAT16);
  });
});

describe('convert-fp16 safeguards', () => {
  /** x → Mul(1e4) → Relu → MatMul(1e-4 weights) → Add → y: the middle values overflow float16 (max 65504) for x > 6.5. */
  function overflowing() {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 64]);
    const big = b.op('Mul', [x, b.initializer('k', DataType.FLOAT, [], [1e4])], {}, 'scale_up');
    const r = b.op('Relu', [big], {}, 'relu');
    const w = b.initializer('w', DataType.FLOAT, [64, 8], randomNormal(512, 1, 1e-4));
    const mm = b.op('MatMul', [r, w], {}, 'mm');
    b.node(
      'Add',
      [mm, b.initializer('c', DataType.FLOAT, [8], randomNormal(8, 2))],
      {},
      { name: 'add', outputs: ['y'] },
    );
    b.output('y', DataType.FLOAT, [1, 8]);
    return b.model();
  }

  it('keeps values that would overflow float16 in float32, measured on the data', async () => {
    const model = overflowing();
    const values = Float32Array.from(randomNormal(16 * 64, 2, 5), Math.abs);
    const data = new Dataset(
      { values, count: 16, sampleShape: [64] },
      { name: 'x', elemType: DataType.FLOAT, shape: [1, 64] },
      PreprocessSchema.parse({}),
      makeSplits(16, { train: 0, calibration: 8, evaluation: 8 }),
    );
    const safe = await convertFp16.run(model, defaults, stageContext(data));
    checkModel(safe.model);
    expect(safe.notes).toContain('range check on dataset samples: 2 values beyond ±8188 kept float32');
    expect(safe.notes).toContain('kept 3 nodes float32: its values exceed the float16 range');
    expect(safe.changes.map((c) => c.node)).toEqual(['add']);
    const good = await compareOnDataset(model, safe.model, data);
    expect(good.sqnrDb).toBeGreaterThan(50);
    const unsafe = await convertFp16.run(model, { ...defaults, rangeCheck: false }, stageContext(data));
    expect(unsafe.changes.map((c) => c.node)).toEqual(['scale_up', 'relu', 'mm', 'add']);

    // onnxruntime's CPU kernels compute these in float32 anyway, so the overflow shows where a value
    // is really stored as float16: a float16 output.
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 64]);
    b.node(
      'Mul',
      [x, b.initializer('k', DataType.FLOAT, [], [1e4])],
      {},
      { name: 'scale_up', outputs: ['y'] },
    );
    b.output('y', DataType.FLOAT, [1, 64]);
    const half = async (rangeCheck: boolean) => {
      const r = await convertFp16.run(
        b.model(),
        { ...defaults, keepIO: false, rangeCheck },
        stageContext(data),
      );
      const session = await runtime.createSession(r.model.encode());
      const sample = data.sample(data.splits.evaluation[0]).feeds.x;
      const type = r.model.graph.valueElemType('x') === DataType.FLOAT16 ? 'float16' : 'float32';
      const fed =
        type === 'float16' ? Uint16Array.from(sample.data as Float32Array, floatToHalf) : sample.data;
      const out = (await session.run({ x: { type, dims: sample.dims, data: fed } })).y;
      await session.release();
      return out.type === 'float16'
        ? Array.from(out.data as Uint16Array, halfToFloat)
        : Array.from(out.data as Float32Array);
    };
    expect((await half(false)).some((v) => v === Infinity)).toBe(true);
    await expect(half(true)).rejects.toThrow(
      /no operator could run in float16 \(1: its values exceed the float16 range\)/,
    );
  });

  it('skips the range check with a note when generated inputs do not run, and refuses models it cannot help', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.INT64, [4]);
    b.node('Add', [x, x], {}, { outputs: ['y'] });
    b.output('y', DataType.INT64, [4]);
    await expect(convertFp16.run(b.model(), defaults, stageContext())).rejects.toThrow(
      'convert-fp16: the model has no float32 tensors to convert',
    );
    const c = new GraphBuilder();
    const y = c.input('x', DataType.FLOAT, [4]);
    c.node('Range', [y, y, c.initializer('d', DataType.FLOAT, [], [1])], {}, { outputs: ['y'] });
    c.output('y', DataType.FLOAT);
    await expect(
      convertFp16.run(c.model(), { ...defaults, rangeCheck: false }, stageContext()),
    ).rejects.toThrow('convert-fp16: no operator could run in float16 (1: Range is on the block list)');
    const clip = new GraphBuilder();
    const z = clip.input('x', DataType.FLOAT, ['n']);
    clip.node('Clip', [z], { min: attr.float(0), max: attr.float(1) }, { outputs: ['y'] });
    clip.output('y', DataType.FLOAT, ['n']);
    const r = await convertFp16.run(clip.model({ opset: 9 }), defaults, stageContext());
    expect(r.notes.at(-1)).toBe('range check on generated inputs: 0 values beyond ±8188 kept float32');
  });
});

describe.skipIf(!hasSharedModels)('convert-fp16 on real models', () => {
  it.skipIf(!hasMnistData)(
    'loses at most 0.1 point on mnist-8 (IR 3, weights listed as inputs)',
    async () => {
      const model = readSharedModel('mnist-8.onnx');
      const data = mnistDataset(8, 1000);
      const r = await convertFp16.run(model, defaults, stageContext(data));
      checkModel(r.model);
      const f = await compareOnDataset(model, r.model, data);
      console.log(
        `mnist-8 fp16: float ${(f.referenceAccuracy * 100).toFixed(1)} %, fp16 ${(f.accuracy * 100).toFixed(1)} %, agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB, ${model.encode().byteLength} → ${r.model.encode().byteLength} bytes`,
      );
      expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.001);
      expect(f.sqnrDb).toBeGreaterThan(50);
    },
  );

  it('converts ppocr_v4_rec (Constant-node weights, opset 9) to half the size with high fidelity', async () => {
    const model = readSharedModel('ppocr_v4_rec.onnx');
    const r = await convertFp16.run(model, { ...defaults, rangeSamples: 2 }, stageContext());
    checkModel(r.model);
    const inputs = summarizeModel(model, 0).inputs;
    const feeds = [1, 2].map((seed) => generateInputs(inputs, { N: 1, W: 320, '*': 1 }, seed));
    const f = await compareOnFeeds(model, r.model, feeds);
    const [a, b] = [model.encode().byteLength, r.model.encode().byteLength];
    console.log(
      `ppocr_v4_rec fp16: agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB, ${a} → ${b} bytes`,
    );
    expect(f.sqnrDb).toBeGreaterThan(40);
    expect(f.agreement).toBe(1);
    expect(b / a).toBeLessThan(0.52);
  });

  it('keeps the overflowing STFT of oww_melspectrogram in float32 on audio at int16 scale', async () => {
    const model = readSharedModel('oww_melspectrogram.onnx');
    const len = 16000;
    const values = new Float32Array(4 * len);
    const noise = randomNormal(values.length, 3, 200);
    for (let s = 0; s < 4; s++)
      for (let i = 0; i < len; i++)
        values[s * len + i] =
          3000 * Math.sin(i * (0.05 + s * 0.01)) * Math.sin(i / 3000) +
          500 * Math.sin(i * 0.31) +
          noise[s * len + i];
    const data = new Dataset(
      { values, count: 4, sampleShape: [len] },
      { name: 'input', elemType: DataType.FLOAT, shape: [1, len] },
      PreprocessSchema.parse({}),
      makeSplits(4, { train: 0, calibration: 2, evaluation: 2 }),
    );
    const r = await convertFp16.run(model, defaults, stageContext(data));
    checkModel(r.model);
    expect(r.notes.join(' ')).toMatch(/kept \d+ nodes float32: its values exceed the float16 range/);
    const f = await compareOnDataset(model, r.model, data);
    console.log(
      `oww_melspectrogram fp16: SQNR ${f.sqnrDb.toFixed(1)} dB, max abs error ${f.maxAbsError.toFixed(3)}`,
    );
    expect(f.sqnrDb).toBeGreaterThan(50);
    expect(weightBytes(model) / weightBytes(r.model)).toBeGreaterThan(1.9);
  });
});
