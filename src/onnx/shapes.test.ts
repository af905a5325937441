import path from 'node:path';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { create } from '@bufbuild/protobuf';
import { GraphBuilder, attr, valueInfo } from './builder';
import { DataType, dtypeInfo } from './dtype';
import { type Dim, Model } from './ir';
import { ValueInfoProtoSchema } from './proto/onnx_pb';
import { decodeTensorProto } from './codec';
import { analyzeShapes, inferShapes, type ValueFacts } from './shapes';
import { makeTensor, tensorToFloat64 } from './tensor';
import { hasSharedModels, readBytes, sharedModelsDir } from '../test/fixtures';

const F = DataType.FLOAT;
const I64 = DataType.INT64;

function infer(b: GraphBuilder, opset = 17): Map<string, ValueFacts> {
  return inferShapes(b.model({ opset }).graph, { opset });
}
function shapeOf(facts: Map<string, ValueFacts>, name: string): Dim[] | undefined {
  return facts.get(name)?.shape;
}
function ints(b: GraphBuilder, name: string, values: number[]): string {
  return b.initializer(name, I64, [values.length], values);
}
function floats(b: GraphBuilder, name: string, values: number[]): string {
  return b.initializer(name, F, [values.length], values);
}
function weights(b: GraphBuilder, name: string, dims: number[], elemType: number = F): string {
  const count = dims.reduce((a, c) => a * c, 1);
  const data = Array.from({ length: count }, (_, i) => ((i * 7) % 11) / 11 - 0.4);
  return b.initializer(name, elemType, dims, elemType === F ? data : data.map((v) => Math.round(v * 10)));
}

describe('shape inference by operator family', () => {
  it('Conv: pads, strides, dilations, group, auto_pad, symbolic batch', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 8, 31, 20]);
    const w = weights(b, 'w', [16, 8, 3, 3]);
    const wg = weights(b, 'wg', [8, 2, 5, 5]);
    const plain = b.op('Conv', [x, w]);
    const padded = b.op('Conv', [x, w], { pads: [1, 2, 1, 0], strides: [2, 3] });
    const dilated = b.op('Conv', [x, w], { dilations: [2, 3] });
    const grouped = b.op('Conv', [x, wg], { group: 4, strides: [2, 2], pads: [2, 2, 2, 2] });
    const upper = b.op('Conv', [x, w], { auto_pad: 'SAME_UPPER', strides: [2, 3] });
    const lower = b.op('Conv', [x, w], { auto_pad: 'SAME_LOWER', strides: [4, 4] });
    const valid = b.op('Conv', [x, wg], { auto_pad: 'VALID', strides: [2, 2], group: 4 });
    const k = b.op('Conv', [x, w], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    const f = infer(b);
    expect(f.get(plain)).toEqual({ elemType: F, shape: ['N', 16, 29, 18] });
    expect(shapeOf(f, padded)).toEqual(['N', 16, 16, 7]);
    expect(shapeOf(f, dilated)).toEqual(['N', 16, 27, 14]);
    expect(shapeOf(f, grouped)).toEqual(['N', 8, 16, 10]);
    expect(shapeOf(f, upper)).toEqual(['N', 16, 16, 7]);
    expect(shapeOf(f, lower)).toEqual(['N', 16, 8, 5]);
    expect(shapeOf(f, valid)).toEqual(['N', 8, 14, 8]);
    expect(shapeOf(f, k)).toEqual(['N', 16, 31, 20]);
  });

  it('Conv with unknown spatial dims keeps rank, batch and channels', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 'H', 'W']);
    const y = b.op('Conv', [x, weights(b, 'w', [4, 3, 1, 1])]);
    expect(shapeOf(infer(b), y)).toEqual(['N', 4, undefined, undefined]);
  });

  it('Conv1d and Conv3d', () => {
    const b = new GraphBuilder();
    const c1 = b.op('Conv', [b.input('a', F, [2, 4, 100]), weights(b, 'w1', [6, 4, 5])], { strides: [3] });
    const c3 = b.op('Conv', [b.input('v', F, [1, 2, 8, 9, 10]), weights(b, 'w3', [3, 2, 3, 3, 3])], {
      pads: [1, 1, 1, 1, 1, 1],
      strides: [2, 2, 2],
    });
    const f = infer(b);
    expect(shapeOf(f, c1)).toEqual([2, 6, 32]);
    expect(shapeOf(f, c3)).toEqual([1, 3, 4, 5, 5]);
  });

  it('ConvTranspose: strides, pads, output_padding, output_shape, auto_pad, group', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 4, 10, 7]);
    const w = weights(b, 'w', [4, 3, 3, 3]);
    const basic = b.op('ConvTranspose', [x, w], { strides: [2, 2] });
    const padded = b.op('ConvTranspose', [x, w], {
      strides: [2, 3],
      pads: [1, 1, 1, 0],
      output_padding: [1, 2],
    });
    const explicit = b.op('ConvTranspose', [x, w], { strides: [2, 2], output_shape: [21, 15] });
    const same = b.op('ConvTranspose', [x, w], { strides: [2, 3], auto_pad: 'SAME_UPPER' });
    const grouped = b.op('ConvTranspose', [x, weights(b, 'wg', [4, 2, 2, 2])], {
      group: 2,
      dilations: [2, 1],
    });
    const f = infer(b);
    expect(f.get(basic)).toEqual({ elemType: F, shape: ['N', 3, 21, 15] });
    expect(shapeOf(f, padded)).toEqual(['N', 3, 20, 22]);
    expect(shapeOf(f, explicit)).toEqual(['N', 3, 21, 15]);
    expect(shapeOf(f, same)).toEqual(['N', 3, 20, 21]);
    expect(shapeOf(f, grouped)).toEqual(['N', 4, 12, 8]);
  });

  it('pooling: ceil_mode, pads, auto_pad, dilations, global pools, indices', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 5, 13, 11]);
    const [mp, idx] = b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2] }, { outputs: 2 });
    const ceil = b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 });
    const ceilPad = b.op('MaxPool', [x], {
      kernel_shape: [3, 3],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
      ceil_mode: 1,
    });
    const dil = b.op('MaxPool', [x], { kernel_shape: [2, 2], dilations: [2, 2] });
    const dropped = b.op('MaxPool', [b.input('small', F, [1, 1, 5, 6])], {
      kernel_shape: [2, 2],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
      ceil_mode: 1,
    });
    const avg = b.op('AveragePool', [x], { kernel_shape: [3, 2], pads: [1, 0, 1, 0], strides: [1, 2] });
    const same = b.op('AveragePool', [x], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' });
    const lp = b.op('LpPool', [x], { kernel_shape: [4, 4], p: 2 });
    const gap = b.op('GlobalAveragePool', [x]);
    const gmp = b.op('GlobalMaxPool', [b.input('v', F, [2, 3, 4, 5, 6])]);
    const f = infer(b);
    expect(f.get(mp)).toEqual({ elemType: F, shape: ['N', 5, 6, 5] });
    expect(f.get(idx)).toEqual({ elemType: I64, shape: ['N', 5, 6, 5] });
    expect(shapeOf(f, ceil)).toEqual(['N', 5, 7, 6]);
    expect(shapeOf(f, ceilPad)).toEqual(['N', 5, 7, 6]);
    expect(shapeOf(f, dil)).toEqual(['N', 5, 11, 9]);
    expect(shapeOf(f, dropped)).toEqual([1, 1, 3, 4]);
    expect(shapeOf(f, avg)).toEqual(['N', 5, 13, 5]);
    expect(shapeOf(f, same)).toEqual(['N', 5, 7, 6]);
    expect(shapeOf(f, lp)).toEqual(['N', 5, 10, 8]);
    expect(shapeOf(f, gap)).toEqual(['N', 5, 1, 1]);
    expect(shapeOf(f, gmp)).toEqual([2, 3, 1, 1, 1]);
  });

  it('Gemm with transA/transB, MatMul with broadcasting and 1-D operands, MatMulInteger', () => {
    const b = new GraphBuilder();
    const a = b.input('a', F, ['B', 8]);
    const g1 = b.op('Gemm', [a, weights(b, 'w', [8, 5])]);
    const g2 = b.op('Gemm', [a, weights(b, 'wt', [5, 8]), floats(b, 'c', [0, 0, 0, 0, 0])], { transB: 1 });
    const g3 = b.op('Gemm', [b.input('at', F, [8, 'B']), weights(b, 'w2', [8, 5])], { transA: 1 });
    const m3 = b.input('m3', F, ['N', 1, 6, 4]);
    const batched = b.op('MatMul', [m3, b.input('m4', F, [3, 4, 7])]);
    const vecLeft = b.op('MatMul', [b.input('v', F, [4]), b.input('m', F, [2, 4, 9])]);
    const vecRight = b.op('MatMul', [m3, b.input('u', F, [4])]);
    const dot = b.op('MatMul', [b.input('p', F, [4]), b.input('q', F, [4])]);
    const mmi = b.op('MatMulInteger', [
      b.input('qa', DataType.UINT8, ['T', 16]),
      weights(b, 'qw', [16, 4], DataType.INT8),
    ]);
    const f = infer(b);
    expect(f.get(g1)).toEqual({ elemType: F, shape: ['B', 5] });
    expect(shapeOf(f, g2)).toEqual(['B', 5]);
    expect(shapeOf(f, g3)).toEqual(['B', 5]);
    expect(shapeOf(f, batched)).toEqual(['N', 3, 6, 7]);
    expect(shapeOf(f, vecLeft)).toEqual([2, 9]);
    expect(shapeOf(f, vecRight)).toEqual(['N', 1, 6]);
    expect(shapeOf(f, dot)).toEqual([]);
    expect(f.get(mmi)).toEqual({ elemType: DataType.INT32, shape: ['T', 4] });
  });

  it('element-wise ops broadcast multidirectionally; comparisons give bool', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 1, 4]);
    const y = b.input('y', F, [3, 1]);
    const z = b.input('z', F, ['N', 'T', 1]);
    const add = b.op('Add', [x, y]);
    const sym = b.op('Mul', [x, z]);
    const pow = b.op('Pow', [x, floats(b, 'two', [2])]);
    const eq = b.op('Equal', [x, y]);
    const less = b.op('Less', [y, x]);
    const and = b.op('And', [eq, less]);
    const where = b.op('Where', [eq, x, b.input('s', F, [])]);
    const sum = b.op('Sum', [x, y, b.input('t', F, [2, 1, 1])]);
    const mean = b.op('Mean', [x]);
    const max = b.op('Max', [x, y]);
    const prelu = b.op('PRelu', [b.input('c', F, ['N', 6, 5, 5]), weights(b, 'slope', [6, 1, 1])]);
    const f = infer(b);
    expect(f.get(add)).toEqual({ elemType: F, shape: ['N', 3, 4] });
    expect(shapeOf(f, sym)).toEqual(['N', 'T', 4]);
    expect(shapeOf(f, pow)).toEqual(['N', 1, 4]);
    expect(f.get(eq)).toEqual({ elemType: DataType.BOOL, shape: ['N', 3, 4] });
    expect(f.get(less)?.elemType).toBe(DataType.BOOL);
    expect(f.get(and)).toEqual({ elemType: DataType.BOOL, shape: ['N', 3, 4] });
    expect(f.get(where)).toEqual({ elemType: F, shape: ['N', 3, 4] });
    expect(shapeOf(f, sum)).toEqual([2, 3, 4]);
    expect(shapeOf(f, mean)).toEqual(['N', 1, 4]);
    expect(shapeOf(f, max)).toEqual(['N', 3, 4]);
    expect(shapeOf(f, prelu)).toEqual(['N', 6, 5, 5]);
  });

  it('unary ops keep shape; Cast, Dropout mask, Not, IsNaN set types', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 'L']);
    const unary = [
      'Relu',
      'Sigmoid',
      'Tanh',
      'LeakyRelu',
      'HardSigmoid',
      'HardSwish',
      'Exp',
      'Log',
      'Sqrt',
      'Abs',
      'Neg',
      'Erf',
      'Softmax',
      'LogSoftmax',
      'Identity',
      'Elu',
      'Floor',
      'Reciprocal',
    ].map((op) => b.op(op, [x]));
    const clip = b.op('Clip', [x, b.initializer('lo', F, [], [0]), b.initializer('hi', F, [], [6])]);
    const gelu = b.op('Gelu', [x]);
    const cast = b.op('Cast', [x], { to: DataType.FLOAT16 });
    const castLike = b.op('CastLike', [x, b.input('ref', DataType.DOUBLE, [1])]);
    const [drop, mask] = b.node('Dropout', [x], {}, { outputs: 2 });
    const not = b.op('Not', [b.op('Greater', [x, b.initializer('zero', F, [], [0])])]);
    const nan = b.op('IsNaN', [x]);
    const f = infer(b, 20);
    for (const u of [...unary, clip, gelu]) expect(f.get(u)).toEqual({ elemType: F, shape: ['N', 3, 'L'] });
    expect(f.get(cast)).toEqual({ elemType: DataType.FLOAT16, shape: ['N', 3, 'L'] });
    expect(f.get(castLike)?.elemType).toBe(DataType.DOUBLE);
    expect(f.get(drop)).toEqual({ elemType: F, shape: ['N', 3, 'L'] });
    expect(f.get(mask)).toEqual({ elemType: DataType.BOOL, shape: ['N', 3, 'L'] });
    expect(f.get(not)).toEqual({ elemType: DataType.BOOL, shape: ['N', 3, 'L'] });
    expect(f.get(nan)?.elemType).toBe(DataType.BOOL);
  });

  it('normalizations: BatchNormalization, LayerNormalization statistics, InstanceNormalization, LRN', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 4, 6, 6]);
    const c = [1, 1, 1, 1];
    const bn = b.op('BatchNormalization', [
      x,
      floats(b, 's', c),
      floats(b, 'b', c),
      floats(b, 'm', c),
      floats(b, 'v', c),
    ]);
    const [ln, mean, inv] = b.node(
      'LayerNormalization',
      [x, weights(b, 'g', [6, 6]), weights(b, 'beta', [6, 6])],
      { axis: -2 },
      { outputs: 3 },
    );
    const inorm = b.op('InstanceNormalization', [x, floats(b, 'is', c), floats(b, 'ib', c)]);
    const lrn = b.op('LRN', [x], { size: 3 });
    const f = infer(b);
    expect(f.get(bn)).toEqual({ elemType: F, shape: ['N', 4, 6, 6] });
    expect(shapeOf(f, ln)).toEqual(['N', 4, 6, 6]);
    expect(f.get(mean)).toEqual({ elemType: F, shape: ['N', 4, 1, 1] });
    expect(shapeOf(f, inv)).toEqual(['N', 4, 1, 1]);
    expect(shapeOf(f, inorm)).toEqual(['N', 4, 6, 6]);
    expect(shapeOf(f, lrn)).toEqual(['N', 4, 6, 6]);
  });

  it('Flatten with positive, zero and negative axes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 4, 5]);
    const d = b.op('Flatten', [x]);
    const a0 = b.op('Flatten', [x], { axis: 0 });
    const a2 = b.op('Flatten', [x], { axis: 2 });
    const neg = b.op('Flatten', [x], { axis: -1 });
    const f = infer(b);
    expect(shapeOf(f, d)).toEqual(['N', 60]);
    expect(shapeOf(f, a0)).toEqual([1, undefined]);
    expect(shapeOf(f, a2)).toEqual([undefined, 20]);
    expect(shapeOf(f, neg)).toEqual([undefined, 5]);
  });

  it('Reshape: shape from initializer or Constant, 0 and -1, allowzero, opset 1 attribute', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 6, 4, 5]);
    const r1 = b.op('Reshape', [x, ints(b, 's1', [0, -1])]);
    const r2 = b.op('Reshape', [x, ints(b, 's2', [0, 2, 3, -1])]);
    const c = b.op('Constant', [], { value: makeTensor('v', I64, [3], [-1, 10, 12]) });
    const r3 = b.op('Reshape', [b.input('y', F, [4, 6, 5]), c]);
    const z = b.input('z', F, [0, 3]);
    const r4 = b.op('Reshape', [z, ints(b, 's4', [3, 0])], { allowzero: 1 });
    const r5 = b.op('Reshape', [z, ints(b, 's5', [0, 3])]);
    const unknown = b.op('Reshape', [x, b.input('dyn', I64, [3])]);
    const f = infer(b);
    expect(f.get(r1)).toEqual({ elemType: F, shape: ['N', 120] });
    expect(shapeOf(f, r2)).toEqual(['N', 2, 3, 20]);
    expect(shapeOf(f, r3)).toEqual([1, 10, 12]);
    expect(shapeOf(f, r4)).toEqual([3, 0]);
    expect(shapeOf(f, r5)).toEqual([0, 3]);
    expect(shapeOf(f, unknown)).toEqual([undefined, undefined, undefined]);
  });

  it('PyTorch-style Shape → Gather → Unsqueeze → Concat → Reshape chains keep the symbolic batch', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['batch', 8, 4, 4]);
    const shape = b.op('Shape', [x]);
    const n = b.op('Gather', [shape, b.initializer('i0', I64, [], [0])], { axis: 0 });
    const n1 = b.op('Unsqueeze', [n, ints(b, 'ax0', [0])]);
    const hw = b.op('Slice', [shape, ints(b, 'st', [2]), ints(b, 'en', [4])]);
    const prod = b.op('ReduceProd', [hw], { keepdims: 1 });
    const c = b.op('Mul', [prod, ints(b, 'eight', [8])]);
    const target = b.op('Concat', [n1, c], { axis: 0 });
    const flat = b.op('Reshape', [x, target]);
    const half = b.op('Div', [b.op('Gather', [shape, ints(b, 'i1', [1])]), ints(b, 'two', [2])]);
    const target2 = b.op('Concat', [n1, half, ints(b, 'm1', [-1])], { axis: 0 });
    const split = b.op('Reshape', [x, target2]);
    const cast = b.op('Cast', [target2], { to: DataType.INT32 });
    const analysis = analyzeShapes(b.model().graph);
    const f = analysis.facts;
    expect(f.get(shape)).toEqual({ elemType: I64, shape: [4] });
    expect(analysis.constants.get(shape)?.values).toEqual(['batch', 8, 4, 4]);
    expect(analysis.constants.get(target)?.values).toEqual(['batch', 128]);
    expect(shapeOf(f, flat)).toEqual(['batch', 128]);
    expect(shapeOf(f, split)).toEqual(['batch', 4, 32]);
    expect(analysis.constants.get(cast)).toEqual({
      elemType: DataType.INT32,
      dims: [3],
      values: ['batch', 4, -1],
    });
  });

  it('Transpose with and without perm', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 5, 7]);
    const t1 = b.op('Transpose', [x], { perm: [0, 2, 3, 1] });
    const t2 = b.op('Transpose', [x]);
    const f = infer(b);
    expect(shapeOf(f, t1)).toEqual(['N', 5, 7, 3]);
    expect(shapeOf(f, t2)).toEqual([7, 5, 3, 'N']);
  });

  it('Squeeze/Unsqueeze with axes as attribute (opset 11) and as input (opset 13)', () => {
    const old = new GraphBuilder();
    const x = old.input('x', F, ['N', 1, 5, 1]);
    const s1 = old.op('Squeeze', [x], { axes: [1, -1] });
    const s2 = old.op('Squeeze', [old.input('y', F, [1, 3, 1])]);
    const u1 = old.op('Unsqueeze', [x], { axes: [0, -1] });
    const fo = infer(old, 11);
    expect(shapeOf(fo, s1)).toEqual(['N', 5]);
    expect(shapeOf(fo, s2)).toEqual([3]);
    expect(shapeOf(fo, u1)).toEqual([1, 'N', 1, 5, 1, 1]);

    const b = new GraphBuilder();
    const z = b.input('x', F, ['N', 1, 5, 1]);
    const s3 = b.op('Squeeze', [z, ints(b, 'a', [3])]);
    const u2 = b.op('Unsqueeze', [z, ints(b, 'b', [1, 3])]);
    const u3 = b.op('Unsqueeze', [b.input('s', F, []), ints(b, 'c', [0])]);
    const dyn = b.op('Squeeze', [z, b.input('axes', I64, [1])]);
    const f = infer(b, 13);
    expect(shapeOf(f, s3)).toEqual(['N', 1, 5]);
    expect(shapeOf(f, u2)).toEqual(['N', 1, 1, 1, 5, 1]);
    expect(shapeOf(f, u3)).toEqual([1]);
    expect(f.get(dyn)).toEqual({ elemType: F, shape: undefined });
  });

  it('Concat and Split (attribute, input, num_outputs, equal parts)', () => {
    const b = new GraphBuilder();
    const a = b.input('a', F, ['N', 3, 8]);
    const c = b.op('Concat', [a, b.input('b', F, ['N', 5, 8]), a], { axis: 1 });
    const cs = b.op('Concat', [a, b.input('d', F, ['N', 'K', 8])], { axis: -2 });
    const eq = b.node('Split', [a], { axis: 2 }, { outputs: 4 });
    const byInput = b.node('Split', [a, ints(b, 'sp', [3, 5])], { axis: -1 }, { outputs: 2 });
    const f = infer(b, 13);
    expect(shapeOf(f, c)).toEqual(['N', 11, 8]);
    expect(shapeOf(f, cs)).toEqual(['N', undefined, 8]);
    for (const o of eq) expect(shapeOf(f, o)).toEqual(['N', 3, 2]);
    expect(byInput.map((o) => shapeOf(f, o))).toEqual([
      ['N', 3, 3],
      ['N', 3, 5],
    ]);

    const old = new GraphBuilder();
    const x = old.input('x', F, [10, 4]);
    const byAttr = old.node('Split', [x], { split: [2, 8] }, { outputs: 2 });
    const fo = infer(old, 11);
    expect(byAttr.map((o) => shapeOf(fo, o))).toEqual([
      [2, 4],
      [8, 4],
    ]);

    const n = new GraphBuilder();
    const y = n.input('y', F, [10, 4]);
    const parts = n.node('Split', [y], { num_outputs: 3 }, { outputs: 3 });
    const fn = infer(n, 18);
    expect(parts.map((o) => shapeOf(fn, o))).toEqual([
      [4, 4],
      [4, 4],
      [2, 4],
    ]);
  });

  it('Slice: inputs with negative indices, steps and axes; opset 9 attributes', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 10, 20, 'T']);
    const s1 = b.op('Slice', [x, ints(b, 'st', [1, -5]), ints(b, 'en', [100, -1]), ints(b, 'ax', [1, 2])]);
    const s2 = b.op('Slice', [
      x,
      ints(b, 'st2', [-1]),
      ints(b, 'en2', [-1000]),
      ints(b, 'ax2', [2]),
      ints(b, 'sp2', [-3]),
    ]);
    const s3 = b.op('Slice', [x, ints(b, 'st3', [0]), ints(b, 'en3', [2 ** 62]), ints(b, 'ax3', [3])]);
    const s4 = b.op('Slice', [x, ints(b, 'st4', [0, 1]), ints(b, 'en4', [7, 8]), ints(b, 'ax4', [1, 3])]);
    const s5 = b.op('Slice', [x, b.input('dyn', I64, [1]), ints(b, 'en5', [3]), ints(b, 'ax5', [1])]);
    const f = infer(b);
    expect(shapeOf(f, s1)).toEqual(['N', 9, 4, 'T']);
    expect(shapeOf(f, s2)).toEqual(['N', 10, 7, 'T']);
    expect(shapeOf(f, s3)).toEqual(['N', 10, 20, 'T']);
    expect(shapeOf(f, s4)).toEqual(['N', 7, 20, undefined]);
    expect(shapeOf(f, s5)).toEqual(['N', undefined, 20, 'T']);

    const old = new GraphBuilder();
    const y = old.input('y', F, [4, 10]);
    const s6 = old.op('Slice', [y], { starts: [2, 1], ends: [3, 1000], axes: [0, 1] });
    expect(shapeOf(infer(old, 9), s6)).toEqual([1, 9]);
  });

  it('Gather, GatherElements, GatherND', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 5, 6]);
    const g1 = b.op('Gather', [x, b.input('i', I64, [2, 3])], { axis: 1 });
    const g2 = b.op('Gather', [x, b.initializer('s', I64, [], [1])], { axis: -1 });
    const ge = b.op('GatherElements', [x, b.input('j', I64, ['N', 2, 6])], { axis: 1 });
    const gnd = b.op('GatherND', [b.input('d', F, [2, 3, 4]), b.input('k', I64, [5, 2])]);
    const f = infer(b);
    expect(shapeOf(f, g1)).toEqual(['N', 2, 3, 6]);
    expect(shapeOf(f, g2)).toEqual(['N', 5]);
    expect(shapeOf(f, ge)).toEqual(['N', 2, 6]);
    expect(shapeOf(f, gnd)).toEqual([5, 4]);
  });

  it('Pad from attribute (opset 10) and input (opset 13, 18 with axes)', () => {
    const old = new GraphBuilder();
    const p1 = old.op('Pad', [old.input('x', F, ['N', 3, 8, 8])], { pads: [0, 0, 1, 2, 0, 0, 3, 4] });
    expect(shapeOf(infer(old, 10), p1)).toEqual(['N', 3, 12, 14]);
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 8, 8]);
    const p2 = b.op('Pad', [x, ints(b, 'p', [0, 1, 1, 0, 0, 1, 1, 0])]);
    const p3 = b.op('Pad', [
      x,
      ints(b, 'p3', [2, 2, 3, 3]),
      b.initializer('v', F, [], [0]),
      ints(b, 'ax', [-1, 2]),
    ]);
    const f = infer(b, 18);
    expect(shapeOf(f, p2)).toEqual(['N', 5, 10, 8]);
    expect(shapeOf(f, p3)).toEqual(['N', 3, 13, 13]);
  });

  it('Resize with scales or sizes, Upsample (opset 7 attribute, opset 9 input)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 15, 20]);
    const r1 = b.op('Resize', [x, '', floats(b, 'sc', [1, 1, 2, 0.5])], { mode: 'nearest' });
    const r2 = b.op('Resize', [x, '', '', ints(b, 'sz', [1, 3, 7, 9])]);
    const r3 = b.op('Resize', [x, '', '', ints(b, 'sz2', [30, 30])], {
      axes: [2, 3],
      keep_aspect_ratio_policy: 'not_larger',
    });
    const f = infer(b, 18);
    expect(shapeOf(f, r1)).toEqual(['N', 3, 30, 10]);
    expect(shapeOf(f, r2)).toEqual([1, 3, 7, 9]);
    expect(shapeOf(f, r3)).toEqual(['N', 3, 23, 30]);
    const r10 = new GraphBuilder();
    const y = r10.op('Resize', [r10.input('x', F, [1, 2, 5, 5]), floats(r10, 'sc', [1, 1, 1.5, 3])]);
    expect(shapeOf(infer(r10, 10), y)).toEqual([1, 2, 7, 15]);
    const u7 = new GraphBuilder();
    const u = u7.op('Upsample', [u7.input('x', F, [1, 2, 5, 5])], { scales: attr.floats([1, 1, 2, 2]) });
    expect(shapeOf(infer(u7, 7), u)).toEqual([1, 2, 10, 10]);
    const u9 = new GraphBuilder();
    const v = u9.op('Upsample', [u9.input('x', F, [1, 2, 5, 5]), floats(u9, 's', [1, 1, 2, 3])]);
    expect(shapeOf(infer(u9, 9), v)).toEqual([1, 2, 10, 15]);
  });

  it('Shape (start/end), Size, ConstantOfShape, Constant in every form', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3, 7]);
    const sh = b.op('Shape', [x]);
    const part = b.op('Shape', [x], { start: 1, end: -1 });
    const size = b.op('Size', [b.input('fixed', F, [2, 3])]);
    const cos = b.op('ConstantOfShape', [b.op('Shape', [b.input('y', F, [4, 5])])], {
      value: makeTensor('v', DataType.INT32, [1], [7]),
    });
    const cosDefault = b.op('ConstantOfShape', [ints(b, 'dims', [2, 2])]);
    const cf = b.op('Constant', [], { value_float: attr.float(1.5) });
    const cfs = b.op('Constant', [], { value_floats: attr.floats([1, 2, 3]) });
    const ci = b.op('Constant', [], { value_int: attr.int(3) });
    const cis = b.op('Constant', [], { value_ints: attr.ints([1, 2]) });
    const ct = b.op('Constant', [], { value: makeTensor('t', DataType.UINT8, [2, 2], [1, 2, 3, 4]) });
    const cstr = b.op('Constant', [], { value_strings: ['a', 'b', 'c'] });
    const a = analyzeShapes(b.model().graph);
    const f = a.facts;
    expect(f.get(sh)).toEqual({ elemType: I64, shape: [3] });
    expect(a.constants.get(part)?.values).toEqual([3]);
    expect(f.get(size)).toEqual({ elemType: I64, shape: [] });
    expect(a.constants.get(size)?.values).toEqual([6]);
    expect(f.get(cos)).toEqual({ elemType: DataType.INT32, shape: [4, 5] });
    expect(f.get(cosDefault)).toEqual({ elemType: F, shape: [2, 2] });
    expect(f.get(cf)).toEqual({ elemType: F, shape: [] });
    expect(f.get(cfs)).toEqual({ elemType: F, shape: [3] });
    expect(f.get(ci)).toEqual({ elemType: I64, shape: [] });
    expect(f.get(cis)).toEqual({ elemType: I64, shape: [2] });
    expect(f.get(ct)).toEqual({ elemType: DataType.UINT8, shape: [2, 2] });
    expect(f.get(cstr)).toEqual({ elemType: DataType.STRING, shape: [3] });
  });

  it('Expand, Tile, Range, OneHot, NonZero', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 1, 4]);
    const e = b.op('Expand', [x, ints(b, 's', [2, 1, 3, 1])]);
    const t = b.op('Tile', [x, ints(b, 'r', [1, 5, 2])]);
    const r = b.op('Range', [
      b.initializer('a', I64, [], [2]),
      b.initializer('l', I64, [], [11]),
      b.initializer('d', I64, [], [3]),
    ]);
    const oh = b.op(
      'OneHot',
      [b.input('i', I64, ['N', 7]), b.initializer('depth', I64, [], [10]), floats(b, 'ov', [0, 1])],
      {
        axis: 1,
      },
    );
    const nz = b.op('NonZero', [x]);
    const a = analyzeShapes(b.model().graph);
    expect(shapeOf(a.facts, e)).toEqual([2, 'N', 3, 4]);
    expect(shapeOf(a.facts, t)).toEqual(['N', 5, 8]);
    expect(a.facts.get(r)).toEqual({ elemType: I64, shape: [3] });
    expect(a.constants.get(r)?.values).toEqual([2, 5, 8]);
    expect(a.facts.get(oh)).toEqual({ elemType: F, shape: ['N', 10, 7] });
    expect(a.facts.get(nz)).toEqual({ elemType: I64, shape: [3, undefined] });
  });

  it('reductions: axes attribute or input, keepdims, noop_with_empty_axes; ArgMax; TopK', () => {
    const old = new GraphBuilder();
    const x = old.input('x', F, ['N', 3, 5, 7]);
    const m1 = old.op('ReduceMean', [x], { axes: [2, 3] });
    const m2 = old.op('ReduceMax', [x], { axes: [-1], keepdims: 0 });
    const m3 = old.op('ReduceSum', [x], { keepdims: 0 });
    const am = old.op('ArgMax', [x], { axis: 1, keepdims: 0 });
    const [tv, ti] = old.node('TopK', [x, ints(old, 'k', [2])], { axis: 2 }, { outputs: 2 });
    const fo = infer(old, 11);
    expect(shapeOf(fo, m1)).toEqual(['N', 3, 1, 1]);
    expect(shapeOf(fo, m2)).toEqual(['N', 3, 5]);
    expect(shapeOf(fo, m3)).toEqual([]);
    expect(fo.get(am)).toEqual({ elemType: I64, shape: ['N', 5, 7] });
    expect(fo.get(tv)).toEqual({ elemType: F, shape: ['N', 3, 2, 7] });
    expect(fo.get(ti)).toEqual({ elemType: I64, shape: ['N', 3, 2, 7] });

    const b = new GraphBuilder();
    const y = b.input('y', F, ['N', 3, 5, 7]);
    const r1 = b.op('ReduceSum', [y, ints(b, 'ax', [1])]);
    const r2 = b.op('ReduceMean', [y, ints(b, 'ax2', [0, 2])], { keepdims: 0 });
    const noop = b.op('ReduceMax', [y], { noop_with_empty_axes: 1 });
    const all = b.op('ReduceL2', [y]);
    const f = infer(b, 18);
    expect(shapeOf(f, r1)).toEqual(['N', 1, 5, 7]);
    expect(shapeOf(f, r2)).toEqual([3, 7]);
    expect(shapeOf(f, noop)).toEqual(['N', 3, 5, 7]);
    expect(shapeOf(f, all)).toEqual([1, 1, 1, 1]);
  });

  it('quantization ops take their output type from the zero point or scale', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 4, 8, 8]);
    const scale = b.initializer('scale', F, [], [0.1]);
    const q = b.op('QuantizeLinear', [x, scale, b.initializer('zp', DataType.INT8, [], [0])]);
    const qDefault = b.op('QuantizeLinear', [x, scale]);
    const dq = b.op('DequantizeLinear', [q, scale, b.initializer('zp2', DataType.INT8, [], [0])]);
    const [dy, ds, dz] = b.node('DynamicQuantizeLinear', [x], {}, { outputs: 3 });
    const w = weights(b, 'qw', [6, 4, 3, 3], DataType.INT8);
    const u8 = (name: string) => b.initializer(name, DataType.UINT8, [], [128]);
    const qc = b.op(
      'QLinearConv',
      [dy, ds, dz, w, scale, b.initializer('wz', DataType.INT8, [], [0]), scale, u8('yz')],
      {
        pads: [1, 1, 1, 1],
      },
    );
    const qa = b.input('qa', DataType.UINT8, ['T', 16]);
    const qm = b.op('QLinearMatMul', [
      qa,
      scale,
      u8('az'),
      weights(b, 'mw', [16, 5], DataType.INT8),
      scale,
      b.initializer('mz', DataType.INT8, [], [0]),
      scale,
      b.initializer('oz', DataType.INT8, [], [0]),
    ]);
    const ci = b.op('ConvInteger', [dy, weights(b, 'ciw', [2, 4, 3, 3], DataType.UINT8)]);
    const f = infer(b, 13);
    expect(f.get(q)).toEqual({ elemType: DataType.INT8, shape: ['N', 4, 8, 8] });
    expect(f.get(qDefault)?.elemType).toBe(DataType.UINT8);
    expect(f.get(dq)).toEqual({ elemType: F, shape: ['N', 4, 8, 8] });
    expect(f.get(dy)).toEqual({ elemType: DataType.UINT8, shape: ['N', 4, 8, 8] });
    expect(f.get(ds)).toEqual({ elemType: F, shape: [] });
    expect(f.get(dz)).toEqual({ elemType: DataType.UINT8, shape: [] });
    expect(f.get(qc)).toEqual({ elemType: DataType.UINT8, shape: ['N', 6, 8, 8] });
    expect(f.get(qm)).toEqual({ elemType: DataType.INT8, shape: ['T', 5] });
    expect(f.get(ci)).toEqual({ elemType: DataType.INT32, shape: ['N', 2, 6, 6] });
  });

  it('LSTM, GRU and RNN outputs Y, Y_h, Y_c in both layouts', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['S', 'B', 10]);
    const lstm = b.node(
      'LSTM',
      [x, weights(b, 'lw', [2, 64, 10]), weights(b, 'lr', [2, 64, 16])],
      { hidden_size: 16, direction: 'bidirectional' },
      { outputs: 3 },
    );
    const gru = b.node(
      'GRU',
      [x, weights(b, 'gw', [1, 24, 10]), weights(b, 'gr', [1, 24, 8])],
      {},
      { outputs: 2 },
    );
    const xb = b.input('xb', F, ['B', 'S', 10]);
    const rnn = b.node(
      'RNN',
      [xb, weights(b, 'rw', [1, 5, 10]), weights(b, 'rr', [1, 5, 5])],
      { hidden_size: 5, layout: 1 },
      { outputs: 2 },
    );
    const f = infer(b, 14);
    expect(lstm.map((o) => shapeOf(f, o))).toEqual([
      ['S', 2, 'B', 16],
      [2, 'B', 16],
      [2, 'B', 16],
    ]);
    expect(gru.map((o) => shapeOf(f, o))).toEqual([
      ['S', 1, 'B', 8],
      [1, 'B', 8],
    ]);
    expect(rnn.map((o) => shapeOf(f, o))).toEqual([
      ['B', 'S', 1, 5],
      ['B', 1, 5],
    ]);
  });

  it('DepthToSpace, SpaceToDepth, Einsum', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 12, 5, 6]);
    const d2s = b.op('DepthToSpace', [x], { blocksize: 2 });
    const s2d = b.op('SpaceToDepth', [b.input('y', F, ['N', 3, 8, 6])], { blocksize: 2 });
    const e1 = b.op('Einsum', [b.input('a', F, ['B', 4, 5]), b.input('c', F, ['B', 5, 6])], {
      equation: 'bij,bjk->bik',
    });
    const e2 = b.op('Einsum', [b.input('p', F, [3, 4]), b.input('q', F, [4, 7])], { equation: 'ij,jk' });
    const e3 = b.op('Einsum', [b.input('r', F, [2, 3, 4, 5])], { equation: '...ij->...ji' });
    const f = infer(b);
    expect(shapeOf(f, d2s)).toEqual(['N', 3, 10, 12]);
    expect(shapeOf(f, s2d)).toEqual(['N', 12, 4, 3]);
    expect(shapeOf(f, e1)).toEqual(['B', 4, 6]);
    expect(shapeOf(f, e2)).toEqual([3, 7]);
    expect(shapeOf(f, e3)).toEqual([2, 3, 5, 4]);
  });

  it('declared value_info wins over contradicting guesses but gets its unknown dims filled', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3, 4]);
    const t = b.op('Transpose', [x], { perm: [2, 1, 0] }, 't');
    const r = b.op('Relu', [t], {}, 'r');
    const s = b.op('Sigmoid', [r], {}, 's');
    b.info(t, F, [4, 'C', undefined]);
    b.info(r, F, [9, 9, 9]);
    const f = infer(b);
    expect(shapeOf(f, t)).toEqual([4, 3, 2]);
    expect(shapeOf(f, r)).toEqual([9, 9, 9]);
    expect(shapeOf(f, s)).toEqual([9, 9, 9]);

    const keep = new GraphBuilder();
    const y = keep.input('y', F, ['N', 3]);
    const id = keep.op('Identity', [y], {}, 'id');
    keep.output(id, DataType.DOUBLE, ['batch', 3]);
    expect(infer(keep).get(id)).toEqual({ elemType: DataType.DOUBLE, shape: ['batch', 3] });
  });

  it('never throws: unknown ops, other domains, inconsistent shapes, cycles, subgraphs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['N', 3]);
    const mystery = b.op('NoSuchOp', [x]);
    const after = b.op('Relu', [mystery]);
    const custom = b.node('FusedThing', [x], {}, { domain: 'com.example', outputs: 1 })[0];
    const bad = b.op('Add', [x, b.input('y', F, [4, 5])]);
    const badMatMul = b.op('MatMul', [x, b.input('z', F, [7, 2])]);
    const badConv = b.op('Conv', [x, weights(b, 'w', [2, 3])]);
    const badReshape = b.op('Reshape', [x, ints(b, 'two', [-1, -1])]);
    const badGather = b.op('Gather', [x], { axis: 5 });
    const thenGraph = new GraphBuilder('then');
    thenGraph.output(thenGraph.op('Identity', [x], {}, 'then_out'), F, ['N', 3]);
    const elseGraph = new GraphBuilder('else');
    elseGraph.output(elseGraph.op('Neg', [x], {}, 'else_out'), F, ['N', 3]);
    const cond = b.input('cond', DataType.BOOL, []);
    const ifOut = b.op('If', [cond], { then_branch: thenGraph.graph(), else_branch: elseGraph.graph() });
    const f = infer(b);
    expect(f.get(mystery)).toBeUndefined();
    expect(f.get(after)).toBeUndefined();
    expect(f.get(custom)).toBeUndefined();
    expect(shapeOf(f, bad)).toEqual([4, undefined]);
    expect(shapeOf(f, badMatMul)).toEqual(['N', 2]);
    expect(shapeOf(f, badConv)).toBeUndefined();
    expect(shapeOf(f, badReshape)).toBeUndefined();
    expect(shapeOf(f, badGather)).toBeUndefined();
    expect(f.get(ifOut)).toEqual({ elemType: F, shape: ['N', 3] });

    const cyc = new GraphBuilder();
    const a = cyc.input('a', F, [2]);
    cyc.node('Add', [a, 'q'], {}, { outputs: ['p'] });
    cyc.node('Relu', ['p'], {}, { outputs: ['q'] });
    expect(() => infer(cyc)).not.toThrow();
  });

  it('Dropout mask keeps the input type before opset 10', () => {
    const b = new GraphBuilder();
    const [, mask] = b.node('Dropout', [b.input('x', F, [2])], {}, { outputs: 2 });
    expect(infer(b, 9).get(mask)?.elemType).toBe(F);
  });
});

// ---------------------------------------------------------------------------------------------
// Cross-checks against onnxruntime

interface CrossCheck {
  total: number;
  exactShape: number;
  exactType: number;
  mismatches: string[];
}

const sameDims = (a: readonly Dim[] | undefined, b: readonly number[]) =>
  a !== undefined && a.length === b.length && a.every((d, i) => d === b[i]);

function randomFeed(elemType: number, dims: number[], seed: number): ort.Tensor {
  const count = dims.reduce((a, c) => a * c, 1);
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const info = dtypeInfo(elemType);
  if (elemType === F) return new ort.Tensor('float32', Float32Array.from({ length: count }, rand), dims);
  if (elemType === I64) return new ort.Tensor('int64', new BigInt64Array(count), dims);
  if (elemType === DataType.BOOL) return new ort.Tensor('bool', new Uint8Array(count).fill(1), dims);
  const Raw = info.raw!;
  const data = new Raw(count);
  for (let i = 0; i < count; i++) (data as Uint8Array)[i] = Math.floor(rand() * 100);
  return new ort.Tensor(info.ort as 'uint8', data as Uint8Array, dims);
}

/**
 * Set the feed inputs to concrete sizes, forget every declared intermediate and output type, infer,
 * then make every node output a graph output, run onnxruntime and compare shapes and types.
 * ConstantOfShape outputs (the `light/` models' weights) are checked against the runtime value of
 * their shape input instead of being materialised as outputs.
 */
async function crossCheck(
  model: Model,
  sizes: Record<string, number[]>,
  opset?: number,
): Promise<CrossCheck> {
  const m = model.clone();
  const g = m.graph;
  g.inputs = g.inputs.map((v) => {
    const dims = sizes[v.name];
    return dims && !g.initializers.has(v.name) ? valueInfo(v.name, g.valueElemType(v.name) ?? F, dims) : v;
  });
  g.valueInfo = [];
  g.outputs = g.outputs.map((o) => create(ValueInfoProtoSchema, { name: o.name }));
  const facts = inferShapes(g, { opset: opset ?? m.opsetVersion() });

  const exposed = new Set(g.outputs.map((o) => o.name));
  const checked: string[] = [...exposed];
  const shapeInputs = new Map<string, string>();
  const expose = (name: string) => {
    if (exposed.has(name) || g.initializers.has(name) || g.isGraphInput(name)) return;
    exposed.add(name);
    g.outputs.push(create(ValueInfoProtoSchema, { name }));
  };
  for (const n of g.nodes) {
    if (n.opType === 'ConstantOfShape') {
      shapeInputs.set(n.outputs[0], n.inputs[0]);
      expose(n.inputs[0]);
      continue;
    }
    for (const o of n.outputs) {
      if (!o || exposed.has(o)) continue;
      expose(o);
      checked.push(o);
    }
  }
  const feeds: Record<string, ort.Tensor> = {};
  g.feedInputs().forEach(
    (v, i) => (feeds[v.name] = randomFeed(g.valueElemType(v.name) ?? F, sizes[v.name], i + 1)),
  );
  const session = await ort.InferenceSession.create(m.encode(), { logSeverityLevel: 3 });
  let results: ort.InferenceSession.OnnxValueMapType;
  try {
    results = await session.run(feeds);
  } finally {
    await session.release();
  }
  const out: CrossCheck = { total: 0, exactShape: 0, exactType: 0, mismatches: [] };
  const record = (name: string, real: readonly number[], realType: string) => {
    const f = facts.get(name);
    out.total++;
    const okShape = sameDims(f?.shape, real);
    const okType = f?.elemType !== undefined && dtypeInfo(f.elemType).ort === realType;
    if (okShape) out.exactShape++;
    if (okType) out.exactType++;
    if (!okShape || !okType)
      out.mismatches.push(
        `${name} (${g.producer(name)?.opType}): inferred ${f?.elemType}:${JSON.stringify(f?.shape)}, real ${realType}${JSON.stringify(real)}`,
      );
  };
  for (const name of checked) {
    const t = results[name];
    record(name, t.dims, t.type);
  }
  for (const [name, shapeInput] of shapeInputs) {
    const init = g.initializers.get(shapeInput);
    const dims = init
      ? Array.from(tensorToFloat64(init))
      : Array.from(results[shapeInput].data as BigInt64Array, Number);
    const valueType = g.producer(name)?.attribute('value')?.t?.dataType ?? F;
    record(name, dims, dtypeInfo(valueType).ort!);
  }
  return out;
}

function expectAllExact(c: CrossCheck) {
  expect(c.mismatches).toEqual([]);
  expect(c.exactShape).toBe(c.total);
  expect(c.total).toBeGreaterThan(0);
}

describe('cross-check against onnxruntime on generated models', () => {
  it('a CNN with every window op, resizing, padding and layout ops', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 4, 17, 23]);
    const c1 = b.op('Conv', [x, weights(b, 'w1', [8, 4, 3, 3])], { pads: [1, 0, 2, 1], strides: [2, 2] });
    const c2 = b.op('Conv', [c1, weights(b, 'w2', [8, 2, 3, 3])], {
      group: 4,
      auto_pad: 'SAME_UPPER',
      strides: [2, 3],
    });
    const c3 = b.op('Conv', [c1, weights(b, 'w3', [6, 8, 3, 2])], {
      auto_pad: 'SAME_LOWER',
      strides: [1, 2],
    });
    const c4 = b.op('Conv', [c1, weights(b, 'w4', [6, 8, 2, 2])], { auto_pad: 'VALID', strides: [3, 2] });
    const bn = b.op('BatchNormalization', [
      c4,
      ...['s', 'bb', 'm', 'v'].map((n) => floats(b, n, [1, 1, 1, 1, 1, 1])),
    ]);
    const t1 = b.op('ConvTranspose', [c2, weights(b, 'wt', [8, 3, 3, 3])], {
      strides: [2, 3],
      pads: [1, 0, 0, 1],
      output_padding: [1, 2],
    });
    const t2 = b.op('ConvTranspose', [c2, weights(b, 'wt2', [8, 2, 2, 2])], {
      group: 2,
      auto_pad: 'SAME_UPPER',
      strides: [2, 2],
    });
    const t3 = b.op('ConvTranspose', [c2, weights(b, 'wt3', [8, 1, 3, 3])], {
      strides: [2, 2],
      output_shape: [10, 8],
    });
    const mp = b.node(
      'MaxPool',
      [x],
      { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1, pads: [1, 1, 0, 0] },
      { outputs: 2 },
    );
    const mp2 = b.op('MaxPool', [x], { kernel_shape: [2, 3], dilations: [2, 2], strides: [1, 2] });
    const ap = b.op('AveragePool', [x], { kernel_shape: [3, 3], strides: [3, 3], ceil_mode: 1 });
    // A ceil_mode window that would start in the trailing padding is dropped.
    const mp3 = b.op('MaxPool', [c2], {
      kernel_shape: [2, 2],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
      ceil_mode: 1,
    });
    const ap2 = b.op('AveragePool', [x], { kernel_shape: [4, 4], strides: [2, 2], auto_pad: 'SAME_LOWER' });
    const lp = b.op('LpPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
    const gap = b.op('GlobalAveragePool', [c3]);
    const gmp = b.op('GlobalMaxPool', [c3]);
    const rs = b.op('Resize', [c1, '', floats(b, 'scales', [1, 1, 1.7, 0.6])], { mode: 'linear' });
    const rs2 = b.op('Resize', [c1, '', '', ints(b, 'sizes', [2, 8, 5, 30])]);
    const pad = b.op('Pad', [x, ints(b, 'pads', [0, 0, 1, 2, 0, 1, 2, 1])], { mode: 'reflect' });
    const d2s = b.op('DepthToSpace', [c1], { blocksize: 2, mode: 'CRD' });
    const s2d = b.op('SpaceToDepth', [pad], { blocksize: 2 });
    const lrn = b.op('LRN', [c1], { size: 3 });
    const inorm = b.op('InstanceNormalization', [
      c1,
      floats(b, 'is', new Array(8).fill(1)),
      floats(b, 'ib', new Array(8).fill(0)),
    ]);
    const cat = b.op('Concat', [c1, lrn, inorm], { axis: 1 });
    const parts = b.node('Split', [cat, ints(b, 'split', [5, 19])], { axis: 1 }, { outputs: 2 });
    const tr = b.op('Transpose', [parts[1]], { perm: [0, 2, 3, 1] });
    const fl = b.op('Flatten', [tr], { axis: 2 });
    const sl = b.op('Slice', [
      fl,
      ints(b, 'st', [-1, 3]),
      ints(b, 'en', [-100, 1000]),
      ints(b, 'ax', [0, 1]),
      ints(b, 'sp', [-2, 5]),
    ]);
    const rmean = b.op('ReduceMean', [sl, ints(b, 'rax', [1])], { keepdims: 1 });
    const gemm = b.op('Gemm', [rmean, weights(b, 'gw', [7, 1])], { transB: 1 });
    const sm = b.op('Softmax', [gemm]);
    const top = b.node('TopK', [sm, ints(b, 'k', [3])], {}, { outputs: 2 });
    const am = b.op('ArgMax', [sm], { axis: 1, keepdims: 1 });
    const gath = b.op('Gather', [bn, b.initializer('gi', I64, [2, 2], [0, 1, 1, 0])], { axis: 3 });
    for (const v of [t1, t2, t3, ...mp, mp2, mp3, ap, ap2, lp, gap, gmp, rs, rs2, d2s, s2d, ...top, am, gath])
      b.output(v, F);
    b.output(sm, F);
    const c = await crossCheck(b.model({ opset: 18 }), { x: [2, 4, 17, 23] });
    expectAllExact(c);
  });

  it('a transformer block with PyTorch-style shape arithmetic, Einsum, Expand, Tile, Where', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, ['B', 'T', 16]);
    const ln = b.node(
      'LayerNormalization',
      [x, floats(b, 'g', new Array(16).fill(1))],
      { axis: -1 },
      { outputs: 3 },
    );
    const qkv = b.op('MatMul', [ln[0], weights(b, 'wqkv', [16, 48])]);
    const [q, k, v] = b.node('Split', [qkv], { axis: -1, num_outputs: 3 }, { outputs: 3 });
    const shape = b.op('Shape', [x]);
    const bt = b.op('Slice', [shape, ints(b, 'z', [0]), ints(b, 'two', [2])]);
    const heads = b.op('Concat', [bt, ints(b, 'hd', [4, -1])], { axis: 0 });
    const split = (t: string) => b.op('Transpose', [b.op('Reshape', [t, heads])], { perm: [0, 2, 1, 3] });
    const [qh, kh, vh] = [q, k, v].map(split);
    const scores = b.op('MatMul', [qh, b.op('Transpose', [kh], { perm: [0, 1, 3, 2] })]);
    const tdim = b.op('Gather', [shape, b.initializer('one', I64, [], [1])]);
    const range = b.op('Range', [b.initializer('r0', I64, [], [0]), tdim, b.initializer('r1', I64, [], [1])]);
    const causal = b.op('Less', [
      b.op('Unsqueeze', [range, ints(b, 'u1', [0])]),
      b.op('Unsqueeze', [range, ints(b, 'u2', [1])]),
    ]);
    const masked = b.op('Where', [causal, b.initializer('ninf', F, [], [-1e9]), scores]);
    const probs = b.op('Softmax', [masked], { axis: -1 });
    const ctx = b.op('Einsum', [probs, vh], { equation: 'bhts,bhsd->bhtd' });
    const merged = b.op('Reshape', [
      b.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }),
      b.op('Concat', [bt, ints(b, 'm1', [-1])], { axis: 0 }),
    ]);
    const proj = b.op('Gelu', [b.op('Add', [b.op('MatMul', [merged, weights(b, 'wo', [16, 16])]), x])]);
    const ones = b.op('ConstantOfShape', [shape], { value: makeTensor('one_f', F, [1], [1]) });
    const expanded = b.op('Expand', [b.op('ReduceSum', [proj, ints(b, 'ax', [-1])]), b.op('Shape', [ones])]);
    const tiled = b.op('Tile', [expanded, ints(b, 'reps', [1, 2, 1])]);
    const sq = b.op('Squeeze', [b.op('ReduceMax', [tiled, ints(b, 'axm', [0])]), ints(b, 'sqa', [0])]);
    const cast = b.op('Cast', [sq], { to: DataType.DOUBLE });
    const eq = b.op('Equal', [b.op('Shape', [merged]), shape]);
    const size = b.op('Size', [tiled]);
    b.output(cast, DataType.DOUBLE);
    b.output(eq, DataType.BOOL);
    b.output(size, I64);
    b.output(ln[1], F);
    const model = b.model({ opset: 20 });
    // Without concrete sizes the symbolic dims must flow through the reshapes.
    const symbolic = inferShapes(model.graph);
    expect(shapeOf(symbolic, qh)).toEqual(['B', 4, 'T', 4]);
    expect(shapeOf(symbolic, merged)).toEqual(['B', 'T', 16]);
    expect(shapeOf(symbolic, tiled)).toEqual(['B', undefined, 16]);
    expect(shapeOf(symbolic, probs)).toEqual(['B', 4, 'T', 'T']);
    expectAllExact(await crossCheck(model, { x: [3, 5, 16] }));
  });

  it('quantized and recurrent operators', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 4, 9, 9]);
    const scale = b.initializer('scale', F, [], [0.05]);
    const u8 = (n: string) => b.initializer(n, DataType.UINT8, [], [128]);
    const q = b.op('QuantizeLinear', [x, scale, u8('zp')]);
    const dq = b.op('DequantizeLinear', [q, scale, u8('zp2')]);
    const [dy, ds, dz] = b.node('DynamicQuantizeLinear', [dq], {}, { outputs: 3 });
    const qc = b.op(
      'QLinearConv',
      [dy, ds, dz, weights(b, 'qw', [6, 4, 3, 3], DataType.UINT8), scale, u8('wz'), scale, u8('yz')],
      {
        strides: [2, 2],
      },
    );
    const ci = b.op('ConvInteger', [dy, weights(b, 'ciw', [2, 4, 2, 2], DataType.UINT8), dz], {
      pads: [1, 1, 0, 0],
    });
    const flat = b.op('Reshape', [dq, ints(b, 'fs', [4, 81])]);
    const [fy, fs, fz] = b.node('DynamicQuantizeLinear', [flat], {}, { outputs: 3 });
    const mmi = b.op('MatMulInteger', [fy, weights(b, 'mw', [81, 5], DataType.UINT8), fz]);
    const qmm = b.op('QLinearMatMul', [
      fy,
      fs,
      fz,
      weights(b, 'qmw', [81, 7], DataType.UINT8),
      scale,
      u8('mz'),
      scale,
      u8('oz'),
    ]);
    const xs = b.op('Reshape', [dq, ints(b, 'ss2', [9, 4, 9])]);
    const lstm = b.node(
      'LSTM',
      [xs, weights(b, 'lw', [2, 24, 9]), weights(b, 'lr', [2, 24, 6])],
      { hidden_size: 6, direction: 'bidirectional' },
      { outputs: 3 },
    );
    const gru = b.node(
      'GRU',
      [xs, weights(b, 'gw', [1, 15, 9]), weights(b, 'gr', [1, 15, 5])],
      { hidden_size: 5 },
      { outputs: 2 },
    );
    const rnn = b.node(
      'RNN',
      [
        b.op('Transpose', [xs], { perm: [1, 0, 2] }),
        weights(b, 'rw', [1, 3, 9]),
        weights(b, 'rr', [1, 3, 3]),
      ],
      { hidden_size: 3, layout: 0 },
      { outputs: 2 },
    );
    for (const o of [qc, ci, mmi, qmm, ...lstm, ...gru, ...rnn]) b.output(o, F);
    expectAllExact(await crossCheck(b.model({ opset: 14 }), { x: [1, 4, 9, 9] }));
  });

  it("onnxruntime's contrib operators (com.microsoft)", async () => {
    const b = new GraphBuilder();
    const ms = { domain: 'com.microsoft' };
    const x = b.input('x', F, [2, 3, 10, 10]);
    const [fc] = b.node(
      'FusedConv',
      [x, weights(b, 'w', [4, 3, 3, 3])],
      { activation: 'Relu', strides: [2, 2] },
      ms,
    );
    const scale = b.initializer('scale', F, [], [0.05]);
    const zp = b.initializer('zp', DataType.UINT8, [], [128]);
    const q = b.op('QuantizeLinear', [fc, scale, zp]);
    const [qa] = b.node(
      'QLinearAdd',
      [q, scale, zp, b.initializer('qb', DataType.UINT8, [4, 1, 1], [1, 2, 3, 4]), scale, zp, scale, zp],
      {},
      ms,
    );
    const [gap] = b.node('QLinearGlobalAveragePool', [qa, scale, zp, scale, zp], { channels_last: 0 }, ms);
    const seq = b.input('seq', F, [2, 5, 8]);
    const [qg] = b.node('QuickGelu', [seq], { alpha: 1.702 }, ms);
    const [sln] = b.node(
      'SkipLayerNormalization',
      [qg, seq, floats(b, 'gamma', new Array(8).fill(1))],
      {},
      ms,
    );
    const [dqm] = b.node(
      'DynamicQuantizeMatMul',
      [sln, weights(b, 'mw', [8, 3], DataType.INT8), floats(b, 'bs', [0.1])],
      {},
      ms,
    );
    b.output(gap, DataType.UINT8);
    b.output(dqm, F);
    expectAllExact(
      await crossCheck(b.model({ opset: 17, opsets: { 'com.microsoft': 1 } }), {
        x: [2, 3, 10, 10],
        seq: [2, 5, 8],
      }),
    );
  });

  it('opset 9 forms: Upsample, Slice and Squeeze attributes, Dropout with mask, Constant-driven Reshape', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [1, 3, 10, 12]);
    const up = b.op('Upsample', [x, floats(b, 'sc', [1, 1, 2, 1.5])]);
    const sl = b.op('Slice', [up], { starts: [1, -4], ends: [3, 1000], axes: [1, 3] });
    const [dr, mask] = b.node('Dropout', [sl], { ratio: 0.3 }, { outputs: 2 });
    const sq = b.op('Squeeze', [b.op('ReduceMean', [dr], { axes: [0, 2], keepdims: 1 })], { axes: [0] });
    const us = b.op('Unsqueeze', [sq], { axes: [-1] });
    const target = b.op('Constant', [], { value: makeTensor('t', I64, [2], [0, -1]) });
    const flat = b.op('Reshape', [us, target]);
    const pad = b.op('Pad', [up], { pads: [0, 0, 2, 0, 0, 0, 1, 3] });
    b.output(flat, F);
    b.output(mask, DataType.BOOL);
    b.output(pad, F);
    expectAllExact(await crossCheck(b.model({ opset: 9, irVersion: 4 }), { x: [1, 3, 10, 12] }, 9));
  });
});

// ---------------------------------------------------------------------------------------------
// Real models

/** Each real model, its concrete input sizes, and the share of values whose shape we must get exact. */
const realModels: { file: string; sizes: Record<string, number[]>; floor: number }[] = [
  { file: 'mnist-8.onnx', sizes: { Input3: [1, 1, 28, 28] }, floor: 1 },
  { file: 'ultraface-RFB-320.onnx', sizes: { input: [1, 3, 240, 320] }, floor: 1 },
  { file: 'ppocr_mobile_v2_cls.onnx', sizes: { x: [1, 3, 48, 192] }, floor: 1 },
  { file: 'ppocr_v4_det.onnx', sizes: { x: [1, 3, 64, 64] }, floor: 1 },
  { file: 'ppocr_v4_rec.onnx', sizes: { x: [1, 3, 48, 320] }, floor: 1 },
  { file: 'oww_melspectrogram.onnx', sizes: { input: [1, 16000] }, floor: 1 },
  { file: 'oww_embedding_model.onnx', sizes: { input_1: [1, 76, 32, 1] }, floor: 1 },
  ...[
    'light_bvlc_alexnet',
    'light_densenet121',
    'light_inception_v1',
    'light_inception_v2',
    'light_resnet50',
    'light_shufflenet',
    'light_squeezenet',
    'light_vgg19',
    'light_zfnet512',
  ].map((name) => ({
    file: `light/${name}.onnx`,
    sizes: { data_0: [1, 3, 224, 224], 'gpu_0/data_0': [1, 3, 224, 224] },
    floor: 1,
  })),
];

describe.skipIf(!hasSharedModels)(
  'cross-check against onnxruntime on the real models in ../shared/models',
  () => {
    const report: string[] = [];
    afterAll(() => {
      if (report.length)
        console.log(`exact shapes per model (value count, shape %, type %):\n${report.join('\n')}`);
    });
    for (const { file, sizes, floor } of realModels) {
      const full = path.join(sharedModelsDir, file);
      it.skipIf(!existsSync(full))(`${file}: inferred shapes match onnxruntime`, async () => {
        const model = Model.decode(readBytes(full));
        const c = await crossCheck(model, sizes);
        const pct = (n: number) => ((100 * n) / c.total).toFixed(1);
        report.push(
          `  ${file}: ${c.total} values, ${pct(c.exactShape)} % shapes, ${pct(c.exactType)} % types`,
        );
        expect(c.total).toBeGreaterThan(0);
        expect(c.exactShape / c.total, c.mismatches.slice(0, 10).join('\n')).toBeGreaterThanOrEqual(floor);
        expect(c.exactType / c.total, c.mismatches.slice(0, 10).join('\n')).toBeGreaterThanOrEqual(floor);
      });
    }

    it('keeps symbolic batch dims through real models whose inputs are symbolic', () => {
      const model = Model.decode(readBytes(path.join(sharedModelsDir, 'ppocr_v4_rec.onnx')));
      const g = model.graph;
      g.inputs = g.inputs.map((v) => valueInfo(v.name, F, ['N', 3, 48, 320]));
      g.outputs = g.outputs.map((o) => create(ValueInfoProtoSchema, { name: o.name }));
      const facts = inferShapes(g, { opset: model.opsetVersion() });
      const out = g.outputs[0].name;
      expect(shapeOf(facts, out)).toEqual(['N', 40, 6625]);
    });
  },
);

// ---------------------------------------------------------------------------------------------
// ONNX's conformance suite: recorded outputs of real operator tests

interface Conformance {
  total: number;
  exact: number;
  /** Shapes we left (partly) unknown: allowed, e.g. when a shape is fed as a graph input. */
  partial: number;
  contradictions: string[];
}

/**
 * For every test case: give the inputs the recorded sizes, forget declared output types, infer,
 * and compare with the recorded outputs. An inferred dim or type that differs is a contradiction.
 */
function conformance(root: string): Conformance {
  const out: Conformance = { total: 0, exact: 0, partial: 0, contradictions: [] };
  const byIndex = (prefix: string) => (a: string, b: string) =>
    Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3));
  for (const dir of readdirSync(root)) {
    const data = path.join(root, dir, 'test_data_set_0');
    if (!existsSync(path.join(root, dir, 'model.onnx')) || !existsSync(data)) continue;
    const model = Model.decode(readBytes(path.join(root, dir, 'model.onnx')));
    const g = model.graph;
    const files = readdirSync(data);
    const tensor = (f: string) => decodeTensorProto(new Uint8Array(readFileSync(path.join(data, f))));
    const inputs = files.filter((f) => f.startsWith('input_')).sort(byIndex('input_'));
    const outputs = files.filter((f) => f.startsWith('output_')).sort(byIndex('output_'));
    const feeds = g.feedInputs();
    if (inputs.length > feeds.length || feeds.some((v) => v.type?.value.case !== 'tensorType')) continue;
    const sizes = new Map(inputs.map((f, i) => [feeds[i].name, tensor(f).dims.map(Number)]));
    g.inputs = g.inputs.map((v) => {
      const dims = sizes.get(v.name);
      return dims ? valueInfo(v.name, g.valueElemType(v.name)!, dims) : v;
    });
    const declaredTypes = g.outputs.map((o) => g.valueElemType(o.name));
    const names = g.outputs.map((o) => o.name);
    g.outputs = names.map((name) => create(ValueInfoProtoSchema, { name }));
    g.valueInfo = [];
    const facts = inferShapes(g, { opset: model.opsetVersion() });
    outputs.forEach((f, i) => {
      if (!names[i]) return;
      const real = tensor(f).dims.map(Number);
      const fact = facts.get(names[i]);
      out.total++;
      const shape = fact?.shape;
      const typeClash =
        fact?.elemType !== undefined && declaredTypes[i] !== undefined && fact.elemType !== declaredTypes[i];
      if (sameDims(shape, real) && !typeClash) out.exact++;
      else if (
        !typeClash &&
        (shape === undefined ||
          (shape.length === real.length && shape.every((d, k) => d === undefined || d === real[k])))
      )
        out.partial++;
      else
        out.contradictions.push(
          `${dir} (${g.producer(names[i])?.opType}): inferred ${fact?.elemType}:${JSON.stringify(shape)}, recorded ${declaredTypes[i]}:${JSON.stringify(real)}`,
        );
    });
  }
  return out;
}

const testdata = '/usr/share/libonnx-testdata/data';
/** Suites and the share of outputs whose shape we must infer exactly (measured, nothing taken off). */
const suites: { root: string; floor: number }[] = [
  { root: path.join(testdata, 'node'), floor: 0.825 },
  { root: path.join(testdata, 'pytorch-converted'), floor: 1 },
  { root: path.join(testdata, 'pytorch-operator'), floor: 1 },
  // Sequence, string and training operators: only checked for contradictions.
  { root: path.join(testdata, 'simple'), floor: 0 },
  { root: path.join(sharedModelsDir, 'onnx_node_tests'), floor: 0.94 },
];

describe('ONNX conformance suites: inferred output shapes against recorded outputs', () => {
  for (const { root, floor } of suites)
    it.skipIf(!existsSync(root))(`${root}: never contradicts a recorded output`, () => {
      const c = conformance(root);
      console.log(
        `${root}: ${c.total} outputs, ${c.exact} exact (${((100 * c.exact) / c.total).toFixed(1)} %), ${c.partial} left unknown`,
      );
      expect(c.contradictions).toEqual([]);
      expect(c.total).toBeGreaterThan(0);
      expect(c.exact / c.total).toBeGreaterThanOrEqual(floor);
    });
});
