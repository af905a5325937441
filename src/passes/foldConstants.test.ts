import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { hasSharedModels, readBytes, sharedModelsDir } from '../test/fixtures';
import { foldConstants } from './foldConstants';
import { feedsFor, outputs, relativeError, testContext } from './testing/harness';

const ctx = testContext();
const params = foldConstants.params.parse({});

function shapeChainModel() {
  const b = new GraphBuilder('shape_chain');
  const x = b.input('x', DataType.FLOAT, [2, 3, 4, 5]);
  const shape = b.op('Shape', [x], {}, 'shape');
  const batch = b.op(
    'Gather',
    [shape, b.initializer('zero', DataType.INT64, [], [0])],
    { axis: 0 },
    'gather',
  );
  const batch1 = b.op('Unsqueeze', [batch, b.initializer('axes', DataType.INT64, [1], [0])], {}, 'unsqueeze');
  const target = b.op(
    'Concat',
    [batch1, b.initializer('minus_one', DataType.INT64, [1], [-1])],
    { axis: 0 },
    'concat',
  );
  b.node('Reshape', [x, target], {}, { name: 'reshape', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [2, 60]);
  // An inflating fold: a 64×64 tensor from a 2-element shape.
  const z = b.input('z', DataType.FLOAT, [64, 64]);
  const big = b.op(
    'ConstantOfShape',
    [b.initializer('big_shape', DataType.INT64, [2], [64, 64])],
    {},
    'fill',
  );
  b.node('Add', [z, big], {}, { name: 'add_big', outputs: ['w'] });
  b.output('w', DataType.FLOAT, [64, 64]);
  // CumSum is not in our evaluator: onnxruntime computes it.
  const cs = b.op(
    'CumSum',
    [
      b.initializer('steps', DataType.FLOAT, [5], [1, 2, 3, 4, 5]),
      b.initializer('axis0', DataType.INT32, [], [0]),
    ],
    {},
    'cumsum',
  );
  b.node(
    'Mul',
    [b.op('ReduceSum', [x, b.initializer('ax', DataType.INT64, [2], [1, 2])], { keepdims: 0 }, 'rs'), cs],
    {},
    { name: 'scale', outputs: ['v'] },
  );
  b.output('v', DataType.FLOAT, [2, 5]);
  // A shared weight: transposing it for one reader would store it twice.
  const wt = b.initializer(
    'shared',
    DataType.FLOAT,
    [5, 5],
    Array.from({ length: 25 }, (_, i) => i / 10),
  );
  const t = b.op('Transpose', [wt], {}, 'transpose_shared');
  b.node('MatMul', [b.op('MatMul', ['v', t], {}, 'mm1'), wt], {}, { name: 'mm2', outputs: ['u'] });
  b.output('u', DataType.FLOAT, [2, 5]);
  return b.model({ opset: 13 });
}

describe('fold-constants', () => {
  it('folds a Shape→Gather→Unsqueeze→Concat chain into the Reshape target and evaluates CumSum in onnxruntime', async () => {
    const m = shapeChainModel();
    const before = m.encode().byteLength;
    const r = await foldConstants.run(m, params, ctx);
    checkModel(r.model);
    const ops = r.model.graph.nodes.map((n) => n.opType);
    for (const gone of ['Shape', 'Gather', 'Unsqueeze', 'Concat', 'CumSum']) expect(ops).not.toContain(gone);
    const target = r.model.graph.initializers.get(
      r.model.graph.nodes.find((n) => n.opType === 'Reshape')!.inputs[1],
    );
    expect(target?.dims.map(Number)).toEqual([2]);
    // The inflating fill and the shared weight's transpose stay computed, and the notes say why.
    expect(ops).toContain('ConstantOfShape');
    expect(ops).toContain('Transpose');
    expect(r.notes.join('\n')).toMatch(
      /kept 1 ConstantOfShape result computed at run time: storing 16\.0 KB would replace 16 B/,
    );
    expect(r.model.encode().byteLength).toBeLessThanOrEqual(before);
    const feeds = feedsFor(m);
    expect(relativeError(await outputs(ctx, m, feeds), await outputs(ctx, r.model, feeds))).toBeLessThan(
      1e-6,
    );
  });

  it('does nothing to a model without constant subgraphs', async () => {
    const b = new GraphBuilder();
    b.node('Relu', [b.input('x', DataType.FLOAT, [3])], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [3]);
    const m = b.model();
    const r = await foldConstants.run(m, params, ctx);
    expect(r.model.encode()).toEqual(m.encode());
    expect(r.notes[0]).toBe('folded 0 nodes into 0 constants (1 → 1 nodes)');
  });

  const real = (file: string) => path.join(sharedModelsDir, file);
  const dims = { 'p2o.DynamicDimension.0': 1, 'p2o.DynamicDimension.1': 64, 'p2o.DynamicDimension.2': 64 };

  it.skipIf(!hasSharedModels)(
    'folds the PP-OCRv4 models without changing their outputs or growing them',
    async () => {
      for (const file of ['ppocr_v4_det.onnx', 'ppocr_v4_rec.onnx']) {
        const bytes = readBytes(real(file));
        const m = Model.decode(bytes);
        const r = await foldConstants.run(m, params, ctx);
        checkModel(r.model);
        const out = r.model.encode();
        expect(out.byteLength, file).toBeLessThanOrEqual(bytes.byteLength);
        const feeds = feedsFor(m, dims);
        expect(
          relativeError(await outputs(ctx, bytes, feeds), await outputs(ctx, out, feeds)),
          file,
        ).toBeLessThan(1e-5);
        console.log(
          `fold-constants ${file}: ${bytes.byteLength} → ${out.byteLength} bytes; ${r.notes.join('; ')}`,
        );
      }
    },
  );

  it.skipIf(!hasSharedModels)(
    'leaves the ConstantOfShape weights of light_resnet50 alone: the file does not grow',
    async () => {
      const bytes = readBytes(real('light/light_resnet50.onnx'));
      const r = await foldConstants.run(Model.decode(bytes), params, ctx);
      checkModel(r.model);
      expect(r.model.encode().byteLength).toBeLessThanOrEqual(bytes.byteLength);
      expect(r.model.graph.nodes.filter((n) => n.opType === 'ConstantOfShape').length).toBeGreaterThan(100);
      expect(r.notes.join('\n')).toMatch(/kept \d+ ConstantOfShape results computed at run time/);
    },
  );
});
