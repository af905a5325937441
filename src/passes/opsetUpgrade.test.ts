import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import type { Model } from '../onnx/ir';
import { inferShapes } from '../onnx/shapes';
import { summarizeModel } from '../onnx/summary';
import { checkModel } from '../onnx/validate';
import { generateInputs } from '../runtime/inputs';
import { hasSharedModels } from '../test/fixtures';
import { opsetNote, opsetUpgradeBlockers, raiseOpset } from './opsetUpgrade';
import { compareOnFeeds, randomNormal, readSharedModel } from './testing/quantFixtures';

function upgraded(m: Model, target = 13) {
  const copy = m.clone();
  const r = raiseOpset(copy, target, 'test', inferShapes(copy.graph, { opset: copy.opsetVersion() }));
  checkModel(copy);
  return { model: copy, upgrade: r };
}

describe('raising the default opset', () => {
  it('rewrites the operators whose form changed, with the same outputs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 4, 6]);
    const s = b.op('Slice', [x], { starts: [0, 1], ends: [2, 6], axes: [0, 2] }, 'slice');
    const c = b.op('Clip', [s], { min: attr.float(-0.5), max: attr.float(0.8) }, 'clip');
    const u = b.op('Unsqueeze', [c], { axes: [0] }, 'unsqueeze');
    const q = b.op('Squeeze', [u], { axes: [0] }, 'squeeze');
    const p = b.op('Pad', [q], { pads: [0, 0, 1, 0, 0, 0], value: attr.float(0.25) }, 'pad');
    const [s1, s2] = b.node('Split', [p], { axis: 2, split: [2, 4] }, { name: 'split', outputs: 2 });
    const r = b.op('ReduceSum', [s2], { axes: [2], keepdims: 1 }, 'reducesum');
    const a = b.op('Add', [s1, b.op('Dropout', [r], { ratio: attr.float(0.3) }, 'dropout')], {}, 'add');
    const sm = b.op('Softmax', [a], { axis: 1 }, 'softmax');
    const ls = b.op('LogSoftmax', [a], { axis: -1 }, 'logsoftmax');
    const [vals] = b.node('TopK', [sm], { k: 2, axis: 1 }, { name: 'topk', outputs: 2 });
    b.node(
      'Concat',
      [vals, b.op('ReduceMean', [ls], { axes: [1] })],
      { axis: 1 },
      { name: 'concat', outputs: ['y'] },
    );
    b.output('y', DataType.FLOAT);
    const m = b.model({ opset: 9, irVersion: 4 });
    const { model, upgrade } = upgraded(m);
    expect(model.opsetVersion()).toBe(13);
    expect(model.proto.irVersion).toBe(7n);
    expect(opsetNote(upgrade)).toEqual([
      'raised the default opset from 9 to 13 (rewrote 1 Slice, 1 Clip, 1 Unsqueeze, 1 Squeeze, 1 Pad, 1 Split, 1 ReduceSum, 1 Dropout, 1 Softmax, 1 TopK to the new form)',
    ]);
    // The LogSoftmax over the last axis means the same in both opsets and is left alone.
    expect(model.graph.nodes.filter((n) => n.opType === 'LogSoftmax')[0].inputs[0]).toBe('add_out0');
    const feeds = [1, 2].map((seed) => ({
      x: { type: 'float32', dims: [2, 4, 6], data: randomNormal(48, seed) },
    }));
    const f = await compareOnFeeds(m, model, feeds);
    expect(f.maxAbsError).toBeLessThan(1e-6);
  });

  it('refuses, changing nothing, when an operator cannot be rewritten', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const up = b.op('Upsample', [x, b.initializer('scales', DataType.FLOAT, [4], [1, 1, 2, 2])], {}, 'up');
    const s = b.op('Slice', [up], { starts: [0], ends: [1], axes: [1] }, 'slice');
    b.node('Softmax', [s], { axis: -2 }, { name: 'softmax', outputs: ['y'] });
    b.output('y', DataType.FLOAT);
    const m = b.model({ opset: 9 });
    const before = m.encode();
    expect(opsetUpgradeBlockers(m, 13)).toEqual([
      'Upsample (is deprecated in opset 10)',
      'Softmax (changed meaning (normalizes over one axis instead of a flattened 2-D view) in opset 13)',
    ]);
    expect(() => raiseOpset(m, 13, 'quantize-static')).toThrow(
      'quantize-static needs opset 13, but the model uses opset 9 and these operators changed since: Upsample (is deprecated in opset 10); Softmax',
    );
    expect(m.encode()).toEqual(before);
    // With the rank known, a negative axis can be rewritten; Upsample still cannot.
    expect(opsetUpgradeBlockers(m, 13, inferShapes(m.graph, { opset: 9 }))).toEqual([
      'Upsample (is deprecated in opset 10)',
    ]);
    expect(opsetUpgradeBlockers(m, 9)).toEqual([]);
  });

  it('moves an IR 3 model to IR 7 and drops its weights from the graph inputs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 2]);
    b.input('w', DataType.FLOAT, [2, 2]);
    b.initializer('w', DataType.FLOAT, [2, 2], [1, 2, 3, 4]);
    b.node('MatMul', [x, 'w'], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 2]);
    const m = b.model({ opset: 8, irVersion: 3 });
    const r = raiseOpset(m, 13, 'test');
    expect(r).toEqual({ from: 8, to: 13, rewritten: new Map() });
    expect(opsetNote(r)).toEqual(['raised the default opset from 8 to 13 (no operator changed meaning)']);
    expect(m.opsetVersion()).toBe(13);
    expect(m.proto.irVersion).toBe(7n);
    expect(m.graph.inputs.map((v) => v.name)).toEqual(['x']);
    expect(raiseOpset(m, 11, 'test')).toEqual({ from: 13, to: 13, rewritten: new Map() });
  });

  it.skipIf(!hasSharedModels)(
    'raises the opset-9 models of ../shared/models to 13 without changing their outputs',
    async () => {
      for (const [file, dims] of [
        ['ppocr_mobile_v2_cls.onnx', { N: 1 }],
        ['ultraface-RFB-320.onnx', {}],
        ['light/light_squeezenet.onnx', {}],
      ] as const) {
        const m = readSharedModel(file);
        const { model, upgrade } = upgraded(m);
        expect(upgrade.rewritten.size, file).toBeGreaterThan(0);
        const feeds = [generateInputs(summarizeModel(m, 0).inputs, { '*': 1, ...dims }, 1)];
        const f = await compareOnFeeds(m, model, feeds);
        expect(f.maxAbsError, file).toBeLessThan(1e-5);
      }
    },
  );
});
