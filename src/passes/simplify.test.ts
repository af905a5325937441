import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { createNodeRuntime } from '../runtime/node';
import { hasSharedModels, readBytes, runOrtNode, sharedModelFiles } from '../test/fixtures';
import { generateInputs } from '../runtime/inputs';
import { summarizeModel } from '../onnx/summary';
import { simplify } from './simplify';
import type { StageContext } from './types';

const ctx: StageContext = {
  runtime: createNodeRuntime(),
  progress: () => {},
  signal: new AbortController().signal,
};

function modelWithNoise() {
  const b = new GraphBuilder('noisy');
  const x = b.input('x', DataType.FLOAT, ['N', 3]);
  const w = b.initializer('w', DataType.FLOAT, [3, 2], [1, 2, 3, 4, 5, 6]);
  b.initializer('unused', DataType.FLOAT, [2], [7, 8]);
  const i1 = b.op('Identity', [x], {}, 'in_identity');
  const mm = b.op('MatMul', [i1, w], {}, 'mm');
  const [d] = b.node('Dropout', [mm], {}, { name: 'drop', outputs: ['dropped'] });
  b.op('Relu', [d], {}, 'dead_relu');
  b.node('Identity', [d], {}, { name: 'out_identity', outputs: ['y'] });
  b.output('y', DataType.FLOAT, ['N', 2]);
  return b.model({ opset: 13 });
}

describe('simplify', () => {
  it('removes Identity, Dropout, dead nodes and unused initializers, keeping outputs and names', async () => {
    const m = modelWithNoise();
    const r = await simplify.run(m, {}, ctx);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual(['MatMul']);
    expect([...r.model.graph.initializers.keys()]).toEqual(['w']);
    expect(r.model.graph.outputs.map((o) => o.name)).toEqual(['y']);
    expect(r.changes.filter((c) => c.kind === 'removed')).toHaveLength(4);
    checkModel(r.model);
    const x = new ort.Tensor('float32', Float32Array.from([1, -2, 3, 0.5, 0, -1]), [2, 3]);
    const a = await runOrtNode(m.encode(), { x });
    const b = await runOrtNode(r.model.encode(), { x });
    expect(Array.from(b.y.data as Float32Array)).toEqual(Array.from(a.y.data as Float32Array));
    // The input model is not touched.
    expect(m.graph.nodes).toHaveLength(5);
  });

  it('keeps a Dropout whose mask is used and an Identity from input to output', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    b.node('Dropout', [x], {}, { name: 'd', outputs: ['y', 'mask'] });
    b.node('Identity', [x], {}, { name: 'pass', outputs: ['z'] });
    b.output('y', DataType.FLOAT, [2]);
    b.output('mask', DataType.BOOL, [2]);
    b.output('z', DataType.FLOAT, [2]);
    const r = await simplify.run(b.model({ opset: 13 }), {}, ctx);
    expect(r.model.graph.nodes.map((n) => n.opType)).toEqual(['Dropout', 'Identity']);
  });

  it.skipIf(!hasSharedModels)('keeps every real model runnable with identical outputs', async () => {
    // Input sizes these models need where their dims are symbolic (see ../shared/models/README.md).
    const sizes: Record<string, Record<string, number>> = {
      oww_melspectrogram: { '*': 1, samples: 1760, batch: 1 },
      ppocr_v4_det: { '*': 32 },
      ppocr_v4_rec: { '*': 1 },
    };
    for (const file of sharedModelFiles().filter(
      (f) => !/vgg19|alexnet|zfnet|silero|densenet|inception_v2/.test(f),
    )) {
      const bytes = readBytes(file);
      const m = Model.decode(bytes);
      const r = await simplify.run(m, {}, ctx);
      checkModel(r.model);
      const inputs = summarizeModel(m, bytes.length).inputs;
      const key = Object.keys(sizes).find((k) => file.includes(k));
      const dims: Record<string, number> = key ? sizes[key] : { '*': 1 };
      const feeds = generateInputs(inputs, dims);
      const ortFeeds = Object.fromEntries(
        Object.entries(feeds).map(([k, t]) => [
          k,
          new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims),
        ]),
      );
      const a = await runOrtNode(bytes, ortFeeds);
      const b2 = await runOrtNode(r.model.encode(), ortFeeds);
      for (const k of Object.keys(a)) expect(b2[k].data, `${file} ${k}`).toEqual(a[k].data);
    }
  });
});
