import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, attr } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { createNodeRuntime } from '../runtime/node';
import { seededRandom } from '../runtime/inputs';
import { hasSharedModels, readBytes, runOrtNode, sharedModelsDir } from '../test/fixtures';
import { foldBatchNorm } from './foldBatchNorm';
import type { StageContext } from './types';
import path from 'node:path';

const ctx: StageContext = {
  runtime: createNodeRuntime(),
  progress: () => {},
  signal: new AbortController().signal,
};
const rand = seededRandom(42);
const randoms = (n: number, lo = -1, hi = 1) =>
  Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

function addBn(b: GraphBuilder, x: string, c: number, name: string, output?: string) {
  const s = b.initializer(`${name}.scale`, DataType.FLOAT, [c], randoms(c, 0.5, 1.5));
  const bb = b.initializer(`${name}.bias`, DataType.FLOAT, [c], randoms(c));
  const m = b.initializer(`${name}.mean`, DataType.FLOAT, [c], randoms(c));
  const v = b.initializer(`${name}.var`, DataType.FLOAT, [c], randoms(c, 0.1, 2));
  return b.node(
    'BatchNormalization',
    [x, s, bb, m, v],
    { epsilon: attr.float(1e-3) },
    { name, outputs: output ? [output] : 1 },
  )[0];
}

async function compare(a: Model, b: Model, feeds: Record<string, ort.Tensor>) {
  const x = await runOrtNode(a.encode(), feeds);
  const y = await runOrtNode(b.encode(), feeds);
  let max = 0;
  for (const k of Object.keys(x)) {
    const p = x[k].data as Float32Array;
    const q = y[k].data as Float32Array;
    for (let i = 0; i < p.length; i++) max = Math.max(max, Math.abs(p[i] - q[i]));
  }
  return max;
}

describe('fold-batchnorm', () => {
  it('folds BN into Conv (with and without bias, grouped), ConvTranspose and Gemm', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 4, 8, 8]);
    const w1 = b.initializer('w1', DataType.FLOAT, [8, 4, 3, 3], randoms(288));
    const c1 = b.op('Conv', [x, w1], { pads: [1, 1, 1, 1] }, 'conv1');
    const n1 = addBn(b, c1, 8, 'bn1');
    const r1 = b.op('Relu', [n1], {}, 'relu1');
    const w2 = b.initializer('w2', DataType.FLOAT, [8, 2, 3, 3], randoms(144));
    const b2 = b.initializer('b2', DataType.FLOAT, [8], randoms(8));
    const c2 = b.op('Conv', [r1, w2, b2], { group: 4, strides: [2, 2] }, 'dwconv');
    const n2 = addBn(b, c2, 8, 'bn2');
    const w3 = b.initializer('w3', DataType.FLOAT, [8, 6, 2, 2], randoms(192));
    const c3 = b.op('ConvTranspose', [n2, w3], { strides: [2, 2] }, 'deconv');
    const n3 = addBn(b, c3, 6, 'bn3');
    const flat = b.op('Flatten', [n3], {}, 'flat');
    const wg = b.initializer('wg', DataType.FLOAT, [5, 6 * 6 * 6], randoms(5 * 216));
    const cg = b.initializer('cg', DataType.FLOAT, [5], randoms(5));
    const g = b.op('Gemm', [flat, wg, cg], { transB: 1, beta: attr.float(0.5), alpha: attr.float(2) }, 'fc');
    addBn(b, g, 5, 'bn4', 'y');
    b.output('y', DataType.FLOAT, [2, 5]);
    const m = b.model({ opset: 17 });
    const r = await foldBatchNorm.run(m.clone(), {}, ctx);
    checkModel(r.model);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual([
      'Conv',
      'Relu',
      'Conv',
      'ConvTranspose',
      'Flatten',
      'Gemm',
    ]);
    expect(r.notes[0]).toBe('folded 4 BatchNormalization nodes');
    expect(r.model.graph.outputs[0].name).toBe('y');
    // Old weights are gone: one weight and one bias per folded producer.
    expect(r.model.graph.initializers.size).toBe(8);
    const feeds = { x: new ort.Tensor('float32', randoms(2 * 4 * 64), [2, 4, 8, 8]) };
    expect(await compare(m, r.model, feeds)).toBeLessThan(1e-4);
  });

  it('leaves a BN alone when the Conv output has another reader, and says why', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const w = b.initializer('w', DataType.FLOAT, [2, 2, 1, 1], randoms(4));
    const c = b.op('Conv', [x, w], {}, 'conv');
    const n = addBn(b, c, 2, 'bn');
    b.node('Add', [n, c], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 2, 4, 4]);
    const r = await foldBatchNorm.run(b.model(), {}, ctx);
    expect(r.model.graph.nodes.map((n2) => n2.opType)).toContain('BatchNormalization');
    expect(r.notes.join(' ')).toMatch(/kept 1: Conv output is read elsewhere too/);
  });

  it.skipIf(!hasSharedModels)(
    'folds the 35 Constant-node BNs of ppocr_mobile_v2_cls with matching outputs',
    async () => {
      const bytes = readBytes(path.join(sharedModelsDir, 'ppocr_mobile_v2_cls.onnx'));
      const m = Model.decode(bytes);
      const r = await foldBatchNorm.run(m.clone(), {}, ctx);
      checkModel(r.model);
      const left = r.model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
      expect(left).toBe(0);
      expect(r.notes[0]).toBe('folded 35 BatchNormalization nodes');
      const feeds = { x: new ort.Tensor('float32', randoms(3 * 48 * 192, 0, 1), [1, 3, 48, 192]) };
      expect(await compare(m, r.model, feeds)).toBeLessThan(1e-4);
      expect(r.model.encode().length).toBeLessThan(bytes.length);
    },
  );
});
