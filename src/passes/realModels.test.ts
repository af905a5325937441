import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Model } from '../onnx/ir';
import { summarizeModel } from '../onnx/summary';
import { checkModel } from '../onnx/validate';
import { generateInputs } from '../runtime/inputs';
import { createNodeRuntime } from '../runtime/node';
import { hasSharedModels, readBytes, sharedModelFiles } from '../test/fixtures';
import { simplify } from './simplify';
import { foldBatchNorm } from './foldBatchNorm';
import type { StageContext } from './types';

const ctx: StageContext = {
  runtime: createNodeRuntime(),
  progress: () => {},
  signal: new AbortController().signal,
};

/** Input sizes and values the real models need (see ../shared/models/README.md). */
const special: Record<string, { dims?: Record<string, number>; feeds?: () => Record<string, ort.Tensor> }> = {
  'silero_vad_legacy.onnx': {
    feeds: () => ({
      input: new ort.Tensor(
        'float32',
        Float32Array.from({ length: 512 }, (_, i) => Math.sin(i / 9) * 0.3),
        [1, 512],
      ),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
      h: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
      c: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
    }),
  },
  'silero_vad_v5.onnx': {
    feeds: () => ({
      input: new ort.Tensor(
        'float32',
        Float32Array.from({ length: 512 }, (_, i) => Math.sin(i / 9) * 0.3),
        [1, 512],
      ),
      state: new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    }),
  },
  'oww_melspectrogram.onnx': { dims: { '*': 1, samples: 16000, batch: 1 } },
  'ppocr_v4_det.onnx': { dims: { '*': 64 } },
  'ppocr_v4_rec.onnx': { dims: { '*': 1 } },
};

/** One thread: multi-threaded reductions may sum in another order, which ppocr_v4_det's ×50 binarization amplifies. */
async function runOrtNode(
  model: Uint8Array,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3, intraOpNumThreads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function toOrt(feeds: ReturnType<typeof generateInputs>): Record<string, ort.Tensor> {
  return Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [
      k,
      new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims),
    ]),
  );
}

/**
 * Largest |a − b| in units of (1e-6 + 1e-4 · max |a|) per output: ≤ 1 means within 1e-4 relative to the
 * output's range, with an absolute floor for outputs that are all near zero (ppocr_v4_det's probability
 * map on random input peaks at ~3e-5, where float32 rounding alone is 1e-7).
 */
function toleranceUnits(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>): number {
  let worst = 0;
  for (const k of Object.keys(a)) {
    const x = a[k].data as Float32Array;
    const y = b[k].data as Float32Array;
    expect(y.length, k).toBe(x.length);
    let scale = 0;
    for (const v of x) scale = Math.max(scale, Math.abs(Number(v)));
    const tol = 1e-6 + 1e-4 * scale;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(Number(x[i]) - Number(y[i])) / tol);
  }
  return worst;
}

describe.skipIf(!hasSharedModels)('simplify and fold-batchnorm on every real model', () => {
  for (const file of sharedModelFiles()) {
    const name = path.basename(file);
    it(`${name}: outputs within 1e-4 relative`, async () => {
      const bytes = readBytes(file);
      const original = Model.decode(bytes);
      const simplified = (await simplify.run(original.clone(), {}, ctx)).model;
      const folded = await foldBatchNorm.run(simplified.clone(), {}, ctx);
      checkModel(folded.model);
      const s = special[name];
      const feeds =
        s?.feeds?.() ??
        toOrt(generateInputs(summarizeModel(original, bytes.length).inputs, s?.dims ?? { '*': 1 }));
      const reference = await runOrtNode(bytes, feeds);
      const afterSimplify = await runOrtNode(simplified.encode(), feeds);
      const afterFold = await runOrtNode(folded.model.encode(), feeds);
      const count = (m: Model) => [...m.graph.allGraphs()].reduce((n, g) => n + g.nodes.length, 0);
      console.log(
        `${name}: nodes ${count(original)} → simplify ${count(simplified)} → fold-batchnorm ${count(folded.model)}; ${folded.notes.join('; ')}`,
      );
      expect(toleranceUnits(reference, afterSimplify)).toBeLessThanOrEqual(1);
      expect(toleranceUnits(reference, afterFold)).toBeLessThanOrEqual(1);
    });
  }
});
