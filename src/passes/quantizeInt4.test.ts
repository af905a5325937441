import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { checkModel } from '../onnx/validate';
import { summarizeModel } from '../onnx/summary';
import { Dataset, makeSplits, PreprocessSchema } from '../data/dataset';
import { generateInputs } from '../runtime/inputs';
import { hasSharedModels } from '../test/fixtures';
import { quantizeInt4, quantizeInt4Params } from './quantizeInt4';
import { bestBlockParams, packInt4, packInt4Gptq, unpackInt4, type PackedInt4 } from './quantizeInt4Blocks';
import { seededRandom } from '../runtime/inputs';
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
  runtime,
  stageContext,
  syntheticDataset,
  syntheticImages,
  trainedTokenMlp,
  weightBytes,
} from './testing/quantFixtures';

const defaults = quantizeInt4Params.parse({});

/** Dequantized value of every weight and the representable range of its block, from the packed form. */
function blockRanges(p: PackedInt4, k: number, n: number, blockSize: number) {
  const back = unpackInt4(p, k, n, blockSize);
  const range = (r: number, c: number) => {
    const b = Math.floor(r / blockSize);
    const scale = p.scales[c * p.blocks + b];
    const zByte = p.zeroPoints?.[c * Math.ceil(p.blocks / 2) + (b >> 1)];
    const zp = zByte === undefined ? 8 : b % 2 === 0 ? zByte & 15 : zByte >> 4;
    const ends = [(0 - zp) * scale, (15 - zp) * scale];
    return { lo: Math.min(...ends), hi: Math.max(...ends), step: Math.abs(scale) };
  };
  return { back, range };
}

describe('4-bit block packing', () => {
  it('round-trips weights inside a block’s range within half a step and saturates the rest, with padding', () => {
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
        const { back, range } = blockRanges(p, k, n, blockSize);
        let clipped = 0;
        for (let r = 0; r < k; r++)
          for (let c = 0; c < n; c++) {
            const { lo, hi, step } = range(r, c);
            const v = w[r * n + c];
            const got = back[r * n + c];
            if (v >= lo - step / 2 && v <= hi + step / 2)
              expect(Math.abs(got - v)).toBeLessThanOrEqual(step / 2 + 1e-6);
            else {
              clipped++;
              expect(got).toBeCloseTo(v < lo ? lo : hi, 6);
            }
          }
        // Clipping is the search's choice for a few outliers, not the rule.
        expect(clipped).toBeLessThan(0.05 * k * n);
        if (symmetric) expect(back[7 * n] === 0).toBe(true);
      }
  });

  it('packs low nibble first, with zero point 8 for symmetric blocks', () => {
    const w = Float32Array.from({ length: 16 }, (_, i) => i - 8); // -8 … 7 in one column
    const p = packInt4(w, 16, 1, 16, true);
    expect(p.scales[0]).toBe(1);
    expect(Array.from(p.data)).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
  });

  it('chooses block parameters no worse than the full range, and honours row weights', () => {
    const rand = seededRandom(21);
    for (let trial = 0; trial < 200; trial++) {
      const size = 16 + Math.floor(rand() * 48);
      // Heavy-tailed blocks (a few large weights), as trained layers have.
      const block = Float64Array.from({ length: size }, () => {
        const g = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
        return rand() < 0.05 ? 6 * g : g;
      });
      const ones = new Float64Array(size).fill(1);
      for (const symmetric of [true, false]) {
        const error = (p: { scale: number; zp: number }, weights = ones) =>
          block.reduce((e, v, i) => {
            const q = Math.min(15, Math.max(0, Math.round(v / p.scale) + p.zp));
            return e + weights[i] * ((q - p.zp) * p.scale - v) ** 2;
          }, 0);
        let lo = 0;
        let hi = 0;
        let extreme = 0;
        for (const v of block) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
          if (Math.abs(v) > Math.abs(extreme)) extreme = v;
        }
        const fullScale = symmetric ? Math.fround(extreme / -8) : Math.fround((hi - lo) / 15);
        const full = { scale: fullScale, zp: symmetric ? 8 : Math.round(-lo / fullScale) };
        const best = bestBlockParams(block, ones, symmetric);
        expect(error(best)).toBeLessThanOrEqual(error(full) * (1 + 1e-9));
        // A row that weighs 100× more is reproduced at least as closely as when all rows weigh alike.
        const heavy = Float64Array.from(ones);
        heavy[0] = 100;
        const weighted = bestBlockParams(block, heavy, symmetric);
        const rowError = (p: { scale: number; zp: number }) =>
          ((Math.min(15, Math.max(0, Math.round(block[0] / p.scale) + p.zp)) - p.zp) * p.scale - block[0]) **
          2;
        expect(error(weighted, heavy)).toBeLessThanOrEqual(error(best, heavy) * (1 + 1e-9));
        expect(rowError(weighted)).toBeLessThanOrEqual(rowError(best) + 1e-12);
      }
    }
  });
});

describe('GPTQ', () => {
  /** Inputs with strongly correlated features (a few latent factors plus noise), as real activations. */
  function correlatedInputs(rows: number, k: number, seed: number): Float64Array {
    const gaussian = (rand: () => number) => () =>
      Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const mix = Float64Array.from({ length: 4 * k }, gaussian(seededRandom(99)));
    const gauss = gaussian(seededRandom(seed));
    const x = new Float64Array(rows * k);
    for (let r = 0; r < rows; r++) {
      const z = [gauss(), gauss(), gauss(), gauss()];
      for (let j = 0; j < k; j++)
        x[r * k + j] = z.reduce((s, zi, i) => s + zi * mix[i * k + j], 0) + 0.3 * gauss();
    }
    return x;
  }
  function gram(x: Float64Array, rows: number, k: number): Float64Array {
    const h = new Float64Array(k * k);
    for (let r = 0; r < rows; r++)
      for (let p = 0; p < k; p++)
        for (let q = 0; q < k; q++) h[p * k + q] += (x[r * k + p] * x[r * k + q]) / rows;
    return h;
  }
  /** Mean squared output error E‖x·(W − Ŵ)‖² over the rows of x. */
  function outputError(
    x: Float64Array,
    rows: number,
    k: number,
    n: number,
    w: ArrayLike<number>,
    q: Float32Array,
  ) {
    let e = 0;
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < n; c++) {
        let d = 0;
        for (let j = 0; j < k; j++) d += x[r * k + j] * (w[j * n + c] - q[j * n + c]);
        e += d * d;
      }
    return e / rows;
  }

  it('lowers the output error on correlated inputs well below round-to-nearest, on held-out rows too', () => {
    const [k, n, blockSize] = [64, 24, 16];
    const w = randomNormal(k * n, 31, 0.2);
    const train = correlatedInputs(512, k, 1);
    const test = correlatedInputs(512, k, 2);
    const h = gram(train, 512, k);
    const diagonal = Float64Array.from({ length: k }, (_, i) => h[i * k + i]);
    for (const symmetric of [true, false]) {
      const rtn = unpackInt4(packInt4(w, k, n, blockSize, symmetric, diagonal), k, n, blockSize);
      const gptq = unpackInt4(packInt4Gptq(w, k, n, blockSize, symmetric, h)!, k, n, blockSize);
      const eRtn = outputError(test, 512, k, n, w, rtn);
      const eGptq = outputError(test, 512, k, n, w, gptq);
      // Measured: about a tenth of RTN's error.
      expect(eGptq).toBeLessThan(0.25 * eRtn);
    }
  });

  it('is weighted round-to-nearest when the features are uncorrelated, and refuses degenerate statistics', () => {
    const [k, n, blockSize] = [48, 5, 16];
    const w = randomNormal(k * n, 5, 0.3);
    const diagonal = Float64Array.from({ length: k }, (_, i) => 0.5 + (i % 7));
    const h = new Float64Array(k * k);
    diagonal.forEach((d, i) => (h[i * k + i] = d));
    // No damping: with a diagonal H nothing is compensated, so the bytes are RTN's.
    const gptq = packInt4Gptq(w, k, n, blockSize, true, h, 0)!;
    const rtn = packInt4(w, k, n, blockSize, true, diagonal);
    expect(Array.from(gptq.data)).toEqual(Array.from(rtn.data));
    expect(Array.from(gptq.scales)).toEqual(Array.from(rtn.scales));
    expect(packInt4Gptq(w, k, n, blockSize, true, new Float64Array(k * k))).toBeUndefined();
  });
});

describe('quantize-int4', () => {
  it('writes MatMulNBits for a MatMul MLP: about 6.4× smaller layers that onnxruntime node and web run', async () => {
    const mlp = buildMlp();
    const before = mlp.encode();
    const r = await quantizeInt4.run(mlp, defaults, stageContext());
    expectSameBytes(mlp.encode(), before);
    checkModel(r.model);
    expect(r.notes[0]).toBe('quantized 3 MatMul to 4-bit MatMulNBits (blocks of 32, symmetric)');
    expect(r.notes).toContain('rounding: RTN ×3');
    expect(r.changes.map((c) => `${c.node}:${c.detail}`)).toEqual(['mm1:int4', 'mm2:int4', 'mm3:int4']);
    const nbits = r.model.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
    expect(nbits.map((n) => n.attrInt('accuracy_level', 0))).toEqual([4, 4, 4]);
    const ratio =
      weightBytes(mlp, (n) => n.endsWith('.weight')) /
      weightBytes(r.model, (n) => n.endsWith('.weight_int4') || n.endsWith('.weight_scale'));
    expect(ratio).toBeCloseTo(6.4, 5);
    const data = await syntheticDataset(mlp, { calibration: 0, evaluation: 100 });
    const f = await compareOnDataset(mlp, r.model, data);
    console.log(
      `random-weight MLP int4 (RTN, blocks of 32): agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB, ${ratio.toFixed(2)}× smaller weights`,
    );
    // Random weights give nearly tied logits: only the SQNR is a fair check here (see the trained model below).
    expect(f.sqnrDb).toBeGreaterThan(19);
    const ops = await optimizedOps(r.model.encode());
    expect(ops.get('com.microsoft:MatMulNBits')).toBe(3);
    expect(ops.has('MatMul')).toBe(false);

    // onnxruntime-web runs it: the float-compute kernel gives node's numbers; with int8 compute
    // (accuracy_level 4) node rounds the activations too, so the two differ by that rounding.
    const feeds = data.sample(data.splits.evaluation[0]).feeds;
    const floatCompute = await quantizeInt4.run(mlp, { ...defaults, compute: 'float' }, stageContext());
    expect(
      floatCompute.model.graph.nodes.find((n) => n.opType === 'MatMulNBits')!.attribute('accuracy_level'),
    ).toBeUndefined();
    for (const [model, digits] of [
      [floatCompute.model, 3],
      [r.model, 1],
    ] as const) {
      const web = await runOnWeb(model.encode(), feeds);
      const session = await runtime.createSession(model.encode());
      const native = (await session.run(feeds)).y.data as Float32Array;
      await session.release();
      web.y.forEach((v, i) => expect(v).toBeCloseTo(native[i], digits));
    }

    const big = await quantizeInt4.run(mlp, { ...defaults, blockSize: 64, symmetric: false }, stageContext());
    expect(big.notes[0]).toBe('quantized 3 MatMul to 4-bit MatMulNBits (blocks of 64, asymmetric)');
    expect((await compareOnDataset(mlp, big.model, data)).sqnrDb).toBeGreaterThan(17);
  });

  it('keeps top-1 agreement ≥ 0.98 on a trained MatMul model, with GPTQ well above round-to-nearest', async () => {
    const trained = await trainedTokenMlp();
    const { model, data } = trained;
    const gptq = await quantizeInt4.run(model, defaults, stageContext(data));
    checkModel(gptq.model);
    expect(gptq.notes).toContain('input features measured on 64 calibration samples');
    expect(gptq.notes).toContain('rounding: GPTQ ×3');
    const f = await compareOnDataset(model, gptq.model, data);
    const rtn = await quantizeInt4.run(model, defaults, stageContext());
    const fr = await compareOnDataset(model, rtn.model, data);
    const weighted = await quantizeInt4.run(model, { ...defaults, method: 'rtn' }, stageContext(data));
    expect(weighted.notes).toContain('rounding: RTN weighted by input feature size ×3');
    const fw = await compareOnDataset(model, weighted.model, data);
    const line = (name: string, x: typeof f) =>
      `${name}: accuracy ${(x.referenceAccuracy * 100).toFixed(1)} % → ${(x.accuracy * 100).toFixed(1)} %, agreement ${x.agreement.toFixed(3)}, SQNR ${x.sqnrDb.toFixed(1)} dB`;
    console.log(
      [
        `trained token MLP 64→128→128→10 (TensorFlow.js ${trained.trainingMs.toFixed(0)} ms), int4 blocks of 32 on ${data.splits.evaluation.length} held-out samples`,
        line('  GPTQ (64 calibration samples)', f),
        line('  RTN weighted by input features', fw),
        line('  RTN without data', fr),
      ].join('\n'),
    );
    expect(f.referenceAccuracy).toBeGreaterThan(0.88);
    expect(f.agreement).toBeGreaterThanOrEqual(0.98);
    expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.01);
    expect(f.sqnrDb).toBeGreaterThan(25);
    expect(f.sqnrDb).toBeGreaterThan(fr.sqnrDb + 4);
    expect(fr.agreement).toBeGreaterThanOrEqual(0.97);
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
    const data = mnistDataset(200, 1000);
    const r = await quantizeInt4.run(model, defaults, stageContext(data));
    checkModel(r.model);
    expect(r.notes).toContain('rounding: GPTQ ×1');
    const f = await compareOnDataset(model, r.model, data);
    const rtn = await quantizeInt4.run(model, defaults, stageContext());
    const fr = await compareOnDataset(model, rtn.model, data);
    console.log(
      `mnist-8 int4 (MatMul only): float ${(f.referenceAccuracy * 100).toFixed(1)} %, GPTQ ${(f.accuracy * 100).toFixed(1)} % (agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB), RTN ${(fr.accuracy * 100).toFixed(1)} % (agreement ${fr.agreement}, SQNR ${fr.sqnrDb.toFixed(1)} dB)`,
    );
    expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.005);
    expect(fr.accuracy).toBeGreaterThanOrEqual(fr.referenceAccuracy - 0.01);
    expect(f.sqnrDb).toBeGreaterThan(fr.sqnrDb);
  });

  it.skipIf(!hasSharedModels)('quantizes the MatMuls of ppocr_v4_rec', async () => {
    const model = readSharedModel('ppocr_v4_rec.onnx');
    const r = await quantizeInt4.run(model, defaults, stageContext());
    checkModel(r.model);
    expect(r.notes[0]).toBe('quantized 9 MatMul to 4-bit MatMulNBits (blocks of 32, symmetric)');
    const inputs = summarizeModel(model, 0).inputs;
    const feeds = [1, 2].map((seed) => generateInputs(inputs, { N: 1, W: 320, '*': 1 }, seed));
    const f = await compareOnFeeds(model, r.model, feeds);
    // GPTQ calibrated on 8 smooth synthetic text-line-sized images (no real data for this model here).
    const images = syntheticImages(8, [1, 3, 48, 320], 5);
    const calibration = new Dataset(
      { values: images, count: 8, sampleShape: [3, 48, 320] },
      { name: 'x', elemType: DataType.FLOAT, shape: [1, 3, 48, 320] },
      PreprocessSchema.parse({}),
      makeSplits(8, { train: 0, calibration: 8, evaluation: 0 }),
    );
    const g = await quantizeInt4.run(model, defaults, stageContext(calibration));
    expect(g.notes).toContain('rounding: GPTQ ×9');
    const fg = await compareOnFeeds(model, g.model, feeds);
    console.log(
      `ppocr_v4_rec int4: RTN agreement ${f.agreement}, SQNR ${f.sqnrDb.toFixed(1)} dB; GPTQ agreement ${fg.agreement}, SQNR ${fg.sqnrDb.toFixed(1)} dB; ${r.notes[1]}`,
    );
    expect(f.sqnrDb).toBeGreaterThan(15);
    expect(fg.sqnrDb).toBeGreaterThan(f.sqnrDb);
  });
});
