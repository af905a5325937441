import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Model } from '../onnx/ir';
import { feedsFor, outputs, relativeError, testContext } from '../passes/testing/harness';
import { TrainableGraph, UnsupportedOperatorsError } from './graph';
import { rtToTensor } from './tensors';

const repoRoot = path.resolve(__dirname, '../..');
const sharedModels = path.resolve(repoRoot, '../shared/models');
const sample = path.join(repoRoot, 'public/samples/digits-cnn.onnx');

async function compareWithOrt(model: Model, dims?: Record<string, number>): Promise<number> {
  const ctx = testContext();
  const feeds = feedsFor(model, dims, 3);
  const expected = await outputs(ctx, model, feeds);
  const graph = TrainableGraph.build(model);
  try {
    const got = tf.tidy(() => {
      const out = graph.forward(
        Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, rtToTensor(v)])),
        { training: false },
      );
      return graph.outputNames.map((n) => ({ data: Array.from(out[n].dataSync()), dims: out[n].shape }));
    });
    got.forEach((g, i) => expect(g.dims).toEqual([...expected[i].dims]));
    return relativeError(expected, got);
  } finally {
    graph.dispose();
  }
}

describe('translated forward pass matches onnxruntime', () => {
  it('on the bundled sample', async () => {
    const model = Model.decode(new Uint8Array(readFileSync(sample)));
    expect(await compareWithOrt(model)).toBeLessThan(1e-4);
  });

  const real: [string, Record<string, number>?][] = [
    ['mnist-8.onnx'],
    ['ultraface-RFB-320.onnx'],
    ['ppocr_mobile_v2_cls.onnx', { N: 1 }],
    ['ppocr_v4_det.onnx', { N: 1, H: 64, W: 64 }],
    ['oww_embedding_model.onnx', { N: 1 }],
    ['light/light_squeezenet.onnx'],
    ['light/light_shufflenet.onnx'],
  ];
  for (const [file, dims] of real) {
    it.skipIf(!existsSync(path.join(sharedModels, file)))(
      `on ${file}`,
      async () => {
        const model = Model.decode(new Uint8Array(readFileSync(path.join(sharedModels, file))));
        expect(await compareWithOrt(model, dims)).toBeLessThan(1e-3);
      },
      60_000,
    );
  }

  it.skipIf(!existsSync(path.join(sharedModels, 'silero_vad_legacy.onnx')))(
    'lists operators it cannot train',
    () => {
      const model = Model.decode(
        new Uint8Array(readFileSync(path.join(sharedModels, 'silero_vad_legacy.onnx'))),
      );
      expect(() => TrainableGraph.build(model)).toThrow(UnsupportedOperatorsError);
      expect(() => TrainableGraph.build(model)).toThrow(/If ×/);
    },
  );
});
