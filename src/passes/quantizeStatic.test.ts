import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { Dataset, makeSplits, PreprocessSchema } from '../data/dataset';
import { hasSharedModels } from '../test/fixtures';
import { quantizeStatic, quantizeStaticParams } from './quantizeStatic';
import { quantizeDynamic } from './quantizeDynamic';
import { foldBatchNorm } from './foldBatchNorm';
import { runPipeline } from '../pipeline/runner';
import { parseRecipe } from '../pipeline/recipe';
import {
  buildCnn,
  buildMlp,
  compareOnDataset,
  expectSameBytes,
  hasMnistData,
  mnistDataset,
  optimizedOps,
  readSharedModel,
  runOnWeb,
  runtime,
  stageContext,
  syntheticImages,
  syntheticDataset,
  weightBytes,
} from './testing/quantFixtures';

const defaults = quantizeStaticParams.parse({});

describe('quantize-static on a generated CNN', () => {
  let cnn: Model;
  let data: Dataset;
  beforeAll(async () => {
    cnn = buildCnn();
    data = await syntheticDataset(cnn, { calibration: 64, evaluation: 100 });
  });

  it('writes QDQ that onnxruntime fuses into QLinearConv and QGemm, within tolerance and 4× smaller weights', async () => {
    const before = cnn.encode();
    const r = await quantizeStatic.run(cnn, defaults, stageContext(data));
    expectSameBytes(cnn.encode(), before);
    checkModel(r.model);
    expect(r.notes[0]).toBe(
      'quantized 2 Conv, 2 MaxPool, 1 Gemm (int8 weights per channel, uint8 activations, minmax on 64 samples)',
    );
    expect(r.changes.filter((c) => c.kind === 'quantized').map((c) => c.node)).toEqual([
      'conv1',
      'pool1',
      'conv2',
      'pool2',
      'fc',
    ]);
    const f = await compareOnDataset(cnn, r.model, data);
    expect(f.agreement).toBeGreaterThanOrEqual(0.95);
    expect(f.sqnrDb).toBeGreaterThan(25);
    expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.05);

    const floatWeights = weightBytes(cnn, (n) => n.endsWith('.weight'));
    const int8Weights = weightBytes(r.model, (n) => n.endsWith('.weight_int8'));
    expect(floatWeights / int8Weights).toBe(4);
    // The float weights and biases are gone.
    expect(
      [...r.model.graph.initializers.values()].some(
        (t) => t.dataType === DataType.FLOAT && t.dims.length > 1,
      ),
    ).toBe(false);

    const ops = await optimizedOps(r.model.encode());
    expect(ops.get('com.microsoft:QLinearConv')).toBe(2);
    expect(ops.get('com.microsoft:QGemm')).toBe(1);
    expect(ops.has('Conv') || ops.has('Gemm') || ops.has('com.microsoft:FusedConv')).toBe(false);
  });

  it('reports progress per calibration sample and stops when cancelled', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const ctx = {
      ...stageContext(data, controller.signal),
      progress: (done: number) => {
        seen.push(done);
        if (done === 3) controller.abort();
      },
    };
    await expect(quantizeStatic.run(cnn, defaults, ctx)).rejects.toThrow();
    expect(seen).toEqual([1, 2, 3]);
  });

  it('keeps excluded nodes in float and supports int8 activations, per-tensor weights and every calibrator', async () => {
    const excluded = await quantizeStatic.run(cnn, { ...defaults, exclude: ['conv2'] }, stageContext(data));
    expect(excluded.notes).toContain('excluded 1: conv2');
    const conv2 = excluded.model.graph.nodes.find((n) => n.name === 'conv2')!;
    expect(conv2.inputs[1]).toBe('conv2.weight');
    const exOps = await optimizedOps(excluded.model.encode());
    // conv2 really runs in float: onnxruntime does not quantize it on its own.
    expect(exOps.get('com.microsoft:QLinearConv')).toBe(1);
    expect([...exOps.keys()].some((op) => /(^|:)(Conv|FusedConv)$/.test(op))).toBe(true);

    for (const params of [
      { ...defaults, activationType: 'int8' as const },
      { ...defaults, perChannel: false },
      { ...defaults, method: 'percentile' as const },
      { ...defaults, method: 'entropy' as const },
    ]) {
      const r = await quantizeStatic.run(cnn, params, stageContext(data));
      checkModel(r.model);
      const f = await compareOnDataset(cnn, r.model, data);
      expect(f.agreement, JSON.stringify(params)).toBeGreaterThanOrEqual(0.9);
      expect(f.sqnrDb, JSON.stringify(params)).toBeGreaterThan(18);
      const ops = await optimizedOps(r.model.encode());
      expect(ops.get('com.microsoft:QLinearConv'), JSON.stringify(params)).toBe(2);
    }
  });

  it('raises opset 11 to 13 for per-channel scales, rewriting old operator forms, and refuses what it cannot rewrite', async () => {
    const old = buildCnn({ opset: 11 });
    const r = await quantizeStatic.run(old, defaults, stageContext(data));
    expect(r.model.opsetVersion()).toBe(13);
    expect(r.notes).toContain('raised the default opset from 11 to 13 (no operator changed meaning)');

    const squeezed = (opset: number, upsample: boolean) => {
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, [1, 3, 16, 16]);
      let s = b.op('Unsqueeze', [b.op('Squeeze', [x], { axes: [0] })], { axes: [0] });
      if (upsample) s = b.op('Upsample', [s, b.initializer('scales', DataType.FLOAT, [4], [1, 1, 1, 1])]);
      const w = b.initializer('w', DataType.FLOAT, [4, 3, 3, 3], new Float32Array(108).fill(0.1));
      b.node('Conv', [s, w], {}, { outputs: ['y'] });
      b.output('y', DataType.FLOAT, [1, 4, 14, 14]);
      return b.model({ opset });
    };
    const rewritten = await quantizeStatic.run(squeezed(11, false), defaults, stageContext(data));
    checkModel(rewritten.model);
    expect(rewritten.notes).toContain(
      'raised the default opset from 11 to 13 (rewrote 1 Squeeze, 1 Unsqueeze to the new form)',
    );
    const blocked = squeezed(9, true);
    const before = blocked.encode();
    await expect(quantizeStatic.run(blocked, defaults, stageContext(data))).rejects.toThrow(
      'quantize-static (per channel) needs opset 13, but the model uses opset 9 and these operators changed since: Upsample (is deprecated in opset 10)',
    );
    expectSameBytes(blocked.encode(), before);
  });

  it('says clearly what is wrong with the input', async () => {
    await expect(quantizeStatic.run(cnn, defaults, stageContext())).rejects.toThrow(
      'quantize-static needs calibration data: open a dataset',
    );
    const small = new Dataset(
      { values: new Float32Array(10 * 3 * 8 * 8), count: 10, sampleShape: [3, 8, 8] },
      { name: 'x', elemType: DataType.FLOAT, shape: [1, 3, 8, 8] },
      PreprocessSchema.parse({}),
      makeSplits(10, { train: 0, calibration: 5, evaluation: 5 }),
    );
    await expect(quantizeStatic.run(cnn, defaults, stageContext(small))).rejects.toThrow(
      'quantize-static: calibration samples have shape [1, 3, 8, 8] but input "x" expects [1, 3, 16, 16]',
    );
    const noCalibration = new Dataset(data.raw, data.input, data.preprocess, {
      ...data.splits,
      calibration: [],
    });
    await expect(quantizeStatic.run(cnn, defaults, stageContext(noCalibration))).rejects.toThrow(
      /calibration split is empty/,
    );

    const b = new GraphBuilder();
    b.node('Sigmoid', [b.input('x', DataType.FLOAT, [1, 3, 16, 16])], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 3, 16, 16]);
    await expect(quantizeStatic.run(b.model(), defaults, stageContext(data))).rejects.toThrow(
      /the model has no quantizable operator \(looked for Conv, Gemm, MatMul/,
    );
    const quantized = await quantizeStatic.run(cnn, defaults, stageContext(data));
    await expect(quantizeStatic.run(quantized.model, defaults, stageContext(data))).rejects.toThrow(
      /already quantized \(QuantizeLinear ×\d+, DequantizeLinear ×\d+\); run quantize-static on the float model/,
    );
    const dynamic = await quantizeDynamic.run(
      buildMlp(),
      { perChannel: true, exclude: [], ops: ['MatMul'] },
      stageContext(),
    );
    await expect(quantizeStatic.run(dynamic.model, defaults, stageContext(data))).rejects.toThrow(
      /already quantized \(DynamicQuantizeLinear/,
    );
  });
});

describe('quantization stages in the pipeline', () => {
  it('run from a recipe and are measured like every stage', async () => {
    const cnn = buildCnn();
    const data = await syntheticDataset(cnn, { calibration: 32, evaluation: 50 });
    const recipe = parseRecipe({
      whittle: 1,
      stages: [{ stage: 'quantize-static', params: { method: 'percentile', calibrationSamples: 32 } }],
    });
    const results = await runPipeline({
      modelBytes: cnn.encode(),
      recipe,
      runtime,
      dataset: data,
      latencyRuns: 2,
    });
    expect(results.map((r) => r.status)).toEqual(['done', 'done']);
    const m = results[1].metrics!;
    expect(m.agreement).toBeGreaterThanOrEqual(0.95);
    expect(m.bytes).toBeLessThan(0.5 * results[0].metrics!.bytes);
    expect(results[1].changes.filter((c) => c.kind === 'quantized')).toHaveLength(5);
    for (const stage of ['quantize-dynamic', 'convert-fp16', 'quantize-int4'])
      expect(parseRecipe({ stages: [{ stage }] }).stages[0].stage).toBe(stage);
    expect(() => parseRecipe({ stages: [{ stage: 'quantize-static', params: { method: 'kl' } }] })).toThrow(
      /stage 1 \("quantize-static"\): field "method"/,
    );
  });
});

describe('quantize-static on a generated MatMul MLP (3-D activations)', () => {
  it('fuses into QLinearMatMul and QLinearAdd and keeps agreement', async () => {
    const mlp = buildMlp();
    const data = await syntheticDataset(mlp, { calibration: 64, evaluation: 100 });
    const r = await quantizeStatic.run(mlp, defaults, stageContext(data));
    checkModel(r.model);
    expect(r.notes[0]).toMatch(/^quantized 3 MatMul, 3 Add /);
    const f = await compareOnDataset(mlp, r.model, data);
    expect(f.agreement).toBeGreaterThanOrEqual(0.95);
    expect(f.sqnrDb).toBeGreaterThan(20);
    const ops = await optimizedOps(r.model.encode());
    expect(ops.get('QLinearMatMul')).toBe(3);
    expect(ops.get('com.microsoft:QLinearAdd')).toBe(3);
    expect(
      weightBytes(mlp, (n) => n.endsWith('.weight')) /
        weightBytes(r.model, (n) => n.endsWith('.weight_int8')),
    ).toBe(4);
  });
});

describe.skipIf(!hasSharedModels || !hasMnistData)(
  'quantize-static on mnist-8 with the real MNIST test set',
  () => {
    it('stays within 1 accuracy point of the float model and runs as QLinearConv/QGemm', async () => {
      const model = readSharedModel('mnist-8.onnx');
      const data = mnistDataset(200, 1000);
      const r = await quantizeStatic.run(model, defaults, stageContext(data));
      checkModel(r.model);
      expect(r.notes).toContain('raised the default opset from 8 to 13 (no operator changed meaning)');
      expect(r.notes).toContain('folded 3 bias Adds into the layer before');
      const f = await compareOnDataset(model, r.model, data);
      console.log(
        `mnist-8 static int8: float ${(f.referenceAccuracy * 100).toFixed(1)} %, int8 ${(f.accuracy * 100).toFixed(1)} % on samples 200–1199, agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB, ${model.encode().byteLength} → ${r.model.encode().byteLength} bytes`,
      );
      expect(f.referenceAccuracy).toBeGreaterThan(0.97);
      expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.01);
      expect(r.model.encode().byteLength).toBeLessThan(0.45 * model.encode().byteLength);
      const ops = await optimizedOps(r.model.encode());
      expect(ops.get('com.microsoft:QLinearConv')).toBe(2);
      expect(ops.get('com.microsoft:QGemm')).toBe(1);
      // onnxruntime-web (WASM) runs the integer model with the same results.
      const feeds = data.sample(data.splits.evaluation[0]).feeds;
      const web = await runOnWeb(r.model.encode(), feeds);
      const session = await runtime.createSession(r.model.encode());
      const native = (await session.run(feeds)).Plus214_Output_0.data as Float32Array;
      await session.release();
      web.Plus214_Output_0.forEach((v, i) => expect(v).toBeCloseTo(native[i], 3));
    });
  },
);

describe.skipIf(!hasSharedModels)('quantize-static on other real CNNs (generated image-like inputs)', () => {
  /** Smooth synthetic images of the model's input shape: 32 for calibration, 16 for evaluation. */
  function images(model: Model, shape: number[]) {
    const values = syntheticImages(48, shape, 9);
    return new Dataset(
      { values, count: 48, sampleShape: shape.slice(1) },
      { name: model.graph.feedInputs()[0].name, elemType: DataType.FLOAT, shape },
      PreprocessSchema.parse({}),
      makeSplits(48, { train: 0, calibration: 32, evaluation: 16 }),
    );
  }

  it('ppocr_mobile_v2_cls (BatchNorm folded first, opset 9 Clip/Slice rewritten)', async () => {
    const folded = (await foldBatchNorm.run(readSharedModel('ppocr_mobile_v2_cls.onnx'), {}, stageContext()))
      .model;
    const data = images(folded, [1, 3, 48, 192]);
    const r = await quantizeStatic.run(folded, defaults, stageContext(data));
    checkModel(r.model);
    expect(r.notes).toContain(
      'raised the default opset from 9 to 13 (rewrote 18 Clip, 1 Slice to the new form)',
    );
    const f = await compareOnDataset(folded, r.model, data);
    console.log(
      `ppocr_mobile_v2_cls static int8: agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB, ${r.notes[0]}`,
    );
    expect(f.agreement).toBeGreaterThanOrEqual(0.95);
    expect(f.sqnrDb).toBeGreaterThan(20);
    const ops = await optimizedOps(r.model.encode());
    expect(ops.get('com.microsoft:QLinearConv')).toBe(53);
  });

  it('ultraface-RFB-320 (a detector: SQNR of its scores and boxes)', async () => {
    const model = readSharedModel('ultraface-RFB-320.onnx');
    const data = images(model, [1, 3, 240, 320]);
    const r = await quantizeStatic.run(model, defaults, stageContext(data));
    checkModel(r.model);
    const f = await compareOnDataset(model, r.model, data);
    console.log(`ultraface-RFB-320 static int8: SQNR ${f.sqnrDb.toFixed(1)} dB, ${r.notes[0]}`);
    expect(f.sqnrDb).toBeGreaterThan(35);
    expect((await optimizedOps(r.model.encode())).get('com.microsoft:QLinearConv')).toBe(52);
  });
});
