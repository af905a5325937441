import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { checkModel } from '../onnx/validate';
import { summarizeModel } from '../onnx/summary';
import { generateInputs } from '../runtime/inputs';
import { hasSharedModels } from '../test/fixtures';
import { packInt4, quantizeInt4, quantizeInt4Params, unpackInt4 } from './quantizeInt4';
import {
  buildCnn,
  buildMlp,
  compareOnDataset,
  compareOnFeeds,
  hasMnistData,
  mnistDataset,
  optimizedOps,
  randomNormal,
  readSharedModel,
  runOnWeb,
  runtime,
  stageContext,
  syntheticDataset,
  weightBytes,
} from './testing/quantFixtures';

const defaults = quantizeInt4Params.parse({});

describe('4-bit block packing', () => {
  it('round-trips every weight within half a step of its block, symmetric or not, with padding', () => {
    for (const [k, n, blockSize] of [
      [64, 5, 32],
      [70, 3, 16],
      [40, 2, 64],
    ])
      for (const symmetric of [true, false]) {
        const w = randomNormal(k * n, k + n, 0.3);
        w[7 * n] = 0; // exact zeros stay exact in symmetric blocks
        const p = packInt4(w, k, n, blockSize, symmetric);
        expect(p.blocks).toBe(Math.ceil(k / blockSize));
        expect(p.data.length).toBe((n * p.blocks * blockSize) / 2);
        expect(p.zeroPoints === undefined).toBe(symmetric);
        const back = unpackInt4(p, k, n, blockSize);
        for (let r = 0; r < k; r++)
          for (let c = 0; c < n; c++) {
            const step = Math.abs(p.scales[c * p.blocks + Math.floor(r / blockSize)]);
            // Clipped blocks may move their extremes by more; everything else is within half a step.
            const v = w[r * n + c];
            const err = Math.abs(back[r * n + c] - v);
            if (Math.abs(v) < 6 * step) expect(err).toBeLessThanOrEqual(step / 2 + 1e-6);
            else expect(err).toBeLessThanOrEqual(0.35 * Math.abs(v) + step / 2);
          }
        if (symmetric) expect(back[7 * n] === 0).toBe(true);
      }
  });

  it('packs low nibble first, with zero point 8 for symmetric blocks', () => {
    const w = Float32Array.from({ length: 16 }, (_, i) => i - 8); // -8 … 7 in one column
    const p = packInt4(w, 16, 1, 16, true);
    expect(p.scales[0]).toBe(1);
    expect(Array.from(p.data)).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
  });
});

describe('quantize-int4', () => {
  it('writes MatMulNBits for a MatMul MLP: about 6.4× smaller layers that onnxruntime node and web run', async () => {
    const mlp = buildMlp();
    const before = mlp.encode();
    const r = await quantizeInt4.run(mlp, defaults, stageContext());
    expect(mlp.encode()).toEqual(before);
    checkModel(r.model);
    expect(r.notes[0]).toBe('quantized 3 MatMul to 4-bit MatMulNBits (blocks of 32, symmetric)');
    expect(r.changes.map((c) => `${c.node}:${c.detail}`)).toEqual(['mm1:int4', 'mm2:int4', 'mm3:int4']);
    const ratio =
      weightBytes(mlp, (n) => n.endsWith('.weight')) /
      weightBytes(r.model, (n) => n.endsWith('.weight_int4') || n.endsWith('.weight_scale'));
    expect(ratio).toBeCloseTo(6.4, 5);
    const data = await syntheticDataset(mlp, { calibration: 0, evaluation: 200 });
    const f = await compareOnDataset(mlp, r.model, data);
    console.log(
      `generated MLP int4 (blocks of 32): agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB, ${ratio.toFixed(2)}× smaller weights`,
    );
    expect(f.agreement).toBeGreaterThanOrEqual(0.85);
    expect(f.sqnrDb).toBeGreaterThan(17);
    const ops = await optimizedOps(r.model.encode());
    expect(ops.get('com.microsoft:MatMulNBits')).toBe(3);
    expect(ops.has('MatMul')).toBe(false);

    const feeds = data.sample(data.splits.evaluation[0]).feeds;
    const web = await runOnWeb(r.model.encode(), feeds);
    const session = await runtime.createSession(r.model.encode());
    const native = (await session.run(feeds)).y.data as Float32Array;
    await session.release();
    web.y.forEach((v, i) => expect(v).toBeCloseTo(native[i], 3));

    const big = await quantizeInt4.run(mlp, { ...defaults, blockSize: 64, symmetric: false }, stageContext());
    expect(big.notes[0]).toBe('quantized 3 MatMul to 4-bit MatMulNBits (blocks of 64, asymmetric)');
    expect((await compareOnDataset(mlp, big.model, data)).sqnrDb).toBeGreaterThan(15);
  });

  it('handles Gemm with transB, alpha, beta and a bias, and honours exclude', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [4, 48]);
    const w = b.initializer('w', DataType.FLOAT, [12, 48], randomNormal(576, 8, 0.2));
    const c = b.initializer('c', DataType.FLOAT, [12], randomNormal(12, 9));
    const g = b.op('Gemm', [x, w, c], { transB: 1, alpha: attr.float(0.5), beta: attr.float(2) }, 'fc1');
    const w2 = b.initializer('w2', DataType.FLOAT, [12, 6], randomNormal(72, 10, 0.3));
    b.node('Gemm', [g, w2], {}, { name: 'fc2', outputs: ['y'] });
    b.output('y', DataType.FLOAT, [4, 6]);
    const m = b.model();
    const r = await quantizeInt4.run(m, { ...defaults, blockSize: 16 }, stageContext());
    checkModel(r.model);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual(['MatMulNBits', 'Add', 'MatMulNBits']);
    const feeds = [1, 2, 3].map((s) => ({
      x: { type: 'float32', dims: [4, 48], data: randomNormal(192, s) },
    }));
    const f = await compareOnFeeds(m, r.model, feeds);
    // Two 4-bit layers: ~15 dB; a mishandled alpha, beta or transpose would give about 0 dB.
    expect(f.sqnrDb).toBeGreaterThan(13);

    const kept = await quantizeInt4.run(m, { ...defaults, exclude: ['fc2'] }, stageContext());
    expect(kept.notes).toContain('excluded 1: fc2');
    expect(kept.model.graph.nodes.map((n) => n.opType)).toEqual(['MatMulNBits', 'Add', 'Gemm']);
  });

  it('refuses models without a constant MatMul/Gemm weight, and already quantized models', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    const y = b.input('w', DataType.FLOAT, [4, 4]);
    b.node('MatMul', [x, y], {}, { outputs: ['z'] });
    b.output('z', DataType.FLOAT, [2, 4]);
    await expect(quantizeInt4.run(b.model(), defaults, stageContext())).rejects.toThrow(
      'quantize-int4: the model has no MatMul or Gemm with a constant 2-D weight to quantize (1: MatMul weight is not a 2-D float constant)',
    );
    const once = await quantizeInt4.run(buildCnn(), defaults, stageContext());
    await expect(quantizeInt4.run(once.model, defaults, stageContext())).rejects.toThrow(
      /already quantized \(MatMulNBits ×1\)/,
    );
    expect(quantizeInt4Params.safeParse({ blockSize: 24 }).success).toBe(false);
    expect(quantizeInt4Params.safeParse({ blockSize: 8 }).success).toBe(false);
  });

  it.skipIf(!hasSharedModels || !hasMnistData)('quantizes the mnist-8 classifier layer', async () => {
    const model = readSharedModel('mnist-8.onnx');
    const data = mnistDataset(0, 1000);
    const r = await quantizeInt4.run(model, defaults, stageContext());
    checkModel(r.model);
    const f = await compareOnDataset(model, r.model, data);
    console.log(
      `mnist-8 int4 (MatMul only): float ${(f.referenceAccuracy * 100).toFixed(1)} %, int4 ${(f.accuracy * 100).toFixed(1)} %, agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB`,
    );
    expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.01);
  });

  it.skipIf(!hasSharedModels)('quantizes the MatMuls of ppocr_v4_rec', async () => {
    const model = readSharedModel('ppocr_v4_rec.onnx');
    const r = await quantizeInt4.run(model, defaults, stageContext());
    checkModel(r.model);
    expect(r.notes[0]).toBe('quantized 9 MatMul to 4-bit MatMulNBits (blocks of 32, symmetric)');
    const inputs = summarizeModel(model, 0).inputs;
    const feeds = [1, 2].map((seed) => generateInputs(inputs, { N: 1, W: 320, '*': 1 }, seed));
    const f = await compareOnFeeds(model, r.model, feeds);
    console.log(`ppocr_v4_rec int4: agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB, ${r.notes[1]}`);
    expect(f.sqnrDb).toBeGreaterThan(15);
  });
});
