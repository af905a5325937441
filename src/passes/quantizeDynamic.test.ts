import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { checkModel } from '../onnx/validate';
import { summarizeModel } from '../onnx/summary';
import { generateInputs } from '../runtime/inputs';
import { hasSharedModels } from '../test/fixtures';
import { quantizeDynamic, quantizeDynamicParams } from './quantizeDynamic';
import {
  buildCnn,
  buildMlp,
  compareOnDataset,
  expectSameBytes,
  compareOnFeeds,
  hasMnistData,
  mnistDataset,
  optimizedOps,
  randomNormal,
  readSharedModel,
  runOnWeb,
  stageContext,
  syntheticDataset,
  trainedTokenMlp,
  weightBytes,
} from './testing/quantFixtures';

const defaults = quantizeDynamicParams.parse({});

describe('quantize-dynamic', () => {
  it('turns a MatMul MLP into DynamicQuantizeMatMul kernels with int8 weights', async () => {
    const mlp = buildMlp();
    const before = mlp.encode();
    const r = await quantizeDynamic.run(mlp, defaults, stageContext());
    expectSameBytes(mlp.encode(), before);
    checkModel(r.model);
    expect(r.notes[0]).toBe('quantized 3 MatMul (int8 weights per channel, activations at run time)');
    expect(r.changes.map((c) => c.node)).toEqual(['mm1', 'mm2', 'mm3']);
    const data = await syntheticDataset(mlp, { calibration: 0, evaluation: 100 });
    const f = await compareOnDataset(mlp, r.model, data);
    // Random weights give nearly tied logits; agreement on a trained model is checked below.
    expect(f.sqnrDb).toBeGreaterThan(30);
    expect(
      weightBytes(mlp, (n) => n.endsWith('.weight')) / weightBytes(r.model, (n) => n.endsWith('_int8')),
    ).toBe(4);
    // onnxruntime fuses DynamicQuantizeLinear → MatMulInteger → Cast → Mul → Add into one kernel.
    const ops = await optimizedOps(r.model.encode());
    expect(ops.get('com.microsoft:DynamicQuantizeMatMul')).toBe(3);
    expect(ops.has('MatMulInteger') || ops.has('MatMul')).toBe(false);

    // onnxruntime-web (WASM) runs it too, with the same results.
    const feeds = data.sample(data.splits.evaluation[0]).feeds;
    const web = await runOnWeb(r.model.encode(), feeds);
    const session = await stageContext().runtime.createSession(r.model.encode());
    const native = (await session.run(feeds)).y.data as Float32Array;
    await session.release();
    web.y.forEach((v, i) => expect(v).toBeCloseTo(native[i], 4));
  });

  it('keeps top-1 agreement ≥ 0.98 on a trained MatMul model', async () => {
    const { model, data } = await trainedTokenMlp();
    const r = await quantizeDynamic.run(model, defaults, stageContext());
    checkModel(r.model);
    const f = await compareOnDataset(model, r.model, data);
    const perTensor = await quantizeDynamic.run(model, { ...defaults, perChannel: false }, stageContext());
    const ft = await compareOnDataset(model, perTensor.model, data);
    console.log(
      `trained token MLP dynamic int8 on ${data.splits.evaluation.length} held-out samples: accuracy ${(f.referenceAccuracy * 100).toFixed(1)} % → ${(f.accuracy * 100).toFixed(1)} %, agreement ${f.agreement.toFixed(3)}, SQNR ${f.sqnrDb.toFixed(1)} dB (per tensor: agreement ${ft.agreement.toFixed(3)}, ${ft.sqnrDb.toFixed(1)} dB)`,
    );
    expect(f.agreement).toBeGreaterThanOrEqual(0.98);
    expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.005);
    expect(f.sqnrDb).toBeGreaterThan(32);
    expect(ft.agreement).toBeGreaterThanOrEqual(0.98);
  });

  it('quantizes Gemm (transposed weight, bias) and, when asked, Conv weights only', async () => {
    const cnn = buildCnn();
    const r = await quantizeDynamic.run(cnn, { ...defaults, ops: ['Gemm', 'Conv'] }, stageContext());
    checkModel(r.model);
    expect(r.notes[0]).toBe('quantized 2 Conv, 1 Gemm (int8 weights per channel, activations at run time)');
    expect(r.changes.map((c) => `${c.node}:${c.detail}`)).toEqual([
      'conv1:int8 weights',
      'conv2:int8 weights',
      'fc:int8',
    ]);
    const data = await syntheticDataset(cnn, { calibration: 0, evaluation: 100 });
    const f = await compareOnDataset(cnn, r.model, data);
    expect(f.agreement).toBeGreaterThanOrEqual(0.98);
    expect(f.sqnrDb).toBeGreaterThan(30);
    const ops = await optimizedOps(r.model.encode());
    expect(ops.get('com.microsoft:DynamicQuantizeMatMul')).toBe(1);
    expect(
      weightBytes(cnn, (n) => n.endsWith('.weight')) / weightBytes(r.model, (n) => n.endsWith('_int8')),
    ).toBe(4);

    const perTensor = await quantizeDynamic.run(
      cnn,
      { perChannel: false, exclude: ['fc'], ops: ['Gemm', 'Conv'] },
      stageContext(),
    );
    expect(perTensor.notes.slice(0, 1)).toEqual([
      'quantized 2 Conv (int8 weights per tensor, activations at run time)',
    ]);
    expect(perTensor.notes).toContain('excluded 1: fc');
    expect(perTensor.model.opsetVersion()).toBe(17);
    await expect(quantizeDynamic.run(cnn, { ...defaults, exclude: ['fc'] }, stageContext())).rejects.toThrow(
      /no quantizable operator \(looked for MatMul, Gemm\); 1 excluded/,
    );
  });

  it('rewrites old operator forms to reach opset 11, or writes the contrib kernel directly when it cannot', async () => {
    const build = (upsample: boolean) => {
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, [2, 16]);
      const w = b.initializer('w', DataType.FLOAT, [16, 8], randomNormal(128, 3));
      const c = b.initializer('c', DataType.FLOAT, [8], randomNormal(8, 4));
      const g = b.op('Gemm', [x, w, c], {}, 'fc');
      const clip = b.op('Clip', [g], { min: attr.float(0), max: attr.float(6) }, 'clip');
      const scales = b.initializer('scales', DataType.FLOAT, [2], [1, 2]);
      b.node(upsample ? 'Upsample' : 'Identity', upsample ? [clip, scales] : [clip], {}, { outputs: ['y'] });
      b.output('y', DataType.FLOAT);
      return b.model({ opset: 9 });
    };
    const feeds = [{ x: { type: 'float32', dims: [2, 16], data: randomNormal(32, 5) } }];

    const rewritten = await quantizeDynamic.run(build(false), defaults, stageContext());
    checkModel(rewritten.model);
    expect(rewritten.model.opsetVersion()).toBe(11);
    expect(rewritten.notes).toContain(
      'raised the default opset from 9 to 11 (rewrote 1 Clip to the new form)',
    );
    expect((await compareOnFeeds(build(false), rewritten.model, feeds)).sqnrDb).toBeGreaterThan(25);

    const m = build(true);
    const r = await quantizeDynamic.run(m, defaults, stageContext());
    checkModel(r.model);
    expect(r.model.opsetVersion()).toBe(9);
    expect(r.model.opsetVersion('com.microsoft')).toBe(1);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual(['DynamicQuantizeMatMul', 'Clip', 'Upsample']);
    expect(r.notes).toContain(
      "opset 9 cannot be raised to 11 (Upsample (is deprecated in opset 10)): wrote onnxruntime's DynamicQuantizeMatMul (com.microsoft) directly",
    );
    const f = await compareOnFeeds(m, r.model, feeds);
    expect(f.sqnrDb).toBeGreaterThan(25);
  });

  it.skipIf(!hasSharedModels || !hasMnistData)(
    'keeps mnist-8 accuracy on the real MNIST test set',
    async () => {
      const model = readSharedModel('mnist-8.onnx');
      const data = mnistDataset(200, 1000);
      const r = await quantizeDynamic.run(model, defaults, stageContext());
      checkModel(r.model);
      const f = await compareOnDataset(model, r.model, data);
      console.log(
        `mnist-8 dynamic int8: float ${(f.referenceAccuracy * 100).toFixed(1)} %, int8 ${(f.accuracy * 100).toFixed(1)} %, agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB`,
      );
      expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.005);
      expect(f.agreement).toBeGreaterThanOrEqual(0.99);
    },
  );

  it.skipIf(!hasSharedModels)(
    'quantizes the 9 constant-weight MatMuls of ppocr_v4_rec (Constant-node weights, opset 9)',
    async () => {
      const model = readSharedModel('ppocr_v4_rec.onnx');
      const r = await quantizeDynamic.run(model, defaults, stageContext());
      checkModel(r.model);
      expect(r.notes[0]).toBe('quantized 9 MatMul (int8 weights per channel, activations at run time)');
      expect(r.notes).toContain('kept 4 in float: MatMul weight is not a 2-D float constant');
      const inputs = summarizeModel(model, 0).inputs;
      const feeds = [1, 2].map((seed) => generateInputs(inputs, { N: 1, W: 320, '*': 1 }, seed));
      const f = await compareOnFeeds(model, r.model, feeds);
      console.log(`ppocr_v4_rec dynamic int8: agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB`);
      expect(f.sqnrDb).toBeGreaterThan(30);
      expect(f.agreement).toBe(1);
      const ops = await optimizedOps(r.model.encode());
      expect(ops.get('com.microsoft:DynamicQuantizeMatMul')).toBe(9);
    },
  );
});
