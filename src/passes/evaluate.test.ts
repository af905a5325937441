import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { GraphBuilder, attr, buildModelProto, type AttrValue } from '../onnx/builder';
import { encodeModelProto } from '../onnx/codec';
import { DataType, dtypeInfo } from '../onnx/dtype';
import { ValueInfoProtoSchema } from '../onnx/proto/onnx_pb';
import { createNodeRuntime } from '../runtime/node';
import { ConstantEvaluator, evaluateNode, fromTensorProto, halfBits, toRtTensor } from './evaluate';

const runtime = createNodeRuntime({ threads: 1 });

interface Case {
  op: string;
  inputs: { type: number; dims: number[]; data: number[] }[];
  attrs?: Record<string, AttrValue>;
  opset?: number;
  outputs?: number;
}

const F = DataType.FLOAT;
const I64 = DataType.INT64;
const I32 = DataType.INT32;
const f = (dims: number[], data: number[]) => ({ type: F, dims, data });
const i64 = (dims: number[], data: number[]) => ({ type: I64, dims, data });
const seq = (n: number, scale = 1, offset = 0) => Array.from({ length: n }, (_, i) => (i + offset) * scale);

const cases: Case[] = [
  { op: 'Add', inputs: [f([2, 3], seq(6, 0.5)), f([3], [1, -2, 3])] },
  { op: 'Sub', inputs: [i64([3], [5, 6, 7]), i64([1], [10])] },
  { op: 'Mul', inputs: [f([2, 1, 3], seq(6, 0.25, -3)), f([4, 1], [1, 2, 3, 4])] },
  {
    op: 'Div',
    inputs: [
      { type: I32, dims: [4], data: [-7, 7, -9, 9] },
      { type: I32, dims: [4], data: [2, -2, 4, 4] },
    ],
  },
  { op: 'Div', inputs: [f([3], [1, -2, 3]), f([3], [3, 7, -0.5])] },
  { op: 'Pow', inputs: [f([3], [2, 3, 0.5]), f([1], [2])] },
  { op: 'Mod', inputs: [i64([4], [-7, 7, -9, 9]), i64([4], [3, -3, 4, 4])] },
  { op: 'Mod', inputs: [f([3], [-7.5, 7, 5.25]), f([3], [2, -3, 1])], attrs: { fmod: 1 } },
  { op: 'Less', inputs: [f([3], [1, 2, 3]), f([3], [2, 2, 2])] },
  { op: 'Equal', inputs: [i64([3], [1, 2, 3]), i64([1], [2])] },
  {
    op: 'Where',
    inputs: [{ type: DataType.BOOL, dims: [3], data: [1, 0, 1] }, f([3], [1, 2, 3]), f([1], [-1])],
  },
  { op: 'Max', inputs: [f([2, 2], [1, 5, 3, 2]), f([2], [2, 2]), f([1], [0])] },
  { op: 'Mean', inputs: [f([2], [1, 5]), f([2], [2, 2])] },
  ...[
    'Neg',
    'Abs',
    'Sqrt',
    'Exp',
    'Log',
    'Reciprocal',
    'Floor',
    'Ceil',
    'Round',
    'Relu',
    'Sigmoid',
    'Tanh',
    'Sign',
  ].map((op): Case => ({ op, inputs: [f([6], [0.5, 1.5, 2.5, 3.7, 0.1, 9])] })),
  { op: 'Round', inputs: [f([5], [-2.5, -1.5, -0.5, 0.5, 1.5])] },
  { op: 'Clip', inputs: [f([4], [-3, -1, 1, 3]), f([], [-2]), f([], [2])] },
  {
    op: 'Clip',
    inputs: [f([4], [-3, -1, 1, 3])],
    attrs: { min: attr.float(-2), max: attr.float(0.5) },
    opset: 9,
  },
  { op: 'Cast', inputs: [f([4], [-2.7, -0.5, 0.5, 2.7])], attrs: { to: DataType.INT32 } },
  { op: 'Cast', inputs: [f([3], [0, 0.5, -1])], attrs: { to: DataType.BOOL } },
  { op: 'Cast', inputs: [i64([3], [1, 2, 3])], attrs: { to: DataType.FLOAT } },
  { op: 'Cast', inputs: [f([3], [1.00001, 2.5, 65519])], attrs: { to: DataType.FLOAT16 } },
  { op: 'Reshape', inputs: [f([2, 3, 4], seq(24)), i64([3], [0, -1, 2])] },
  { op: 'Flatten', inputs: [f([2, 3, 2, 2], seq(24))], attrs: { axis: 2 } },
  { op: 'Squeeze', inputs: [f([1, 3, 1], seq(3)), i64([1], [-1])] },
  { op: 'Unsqueeze', inputs: [f([3, 2], seq(6)), i64([2], [0, 3])] },
  { op: 'Unsqueeze', inputs: [f([3], seq(3))], attrs: { axes: [1] }, opset: 11 },
  { op: 'Transpose', inputs: [f([2, 3, 4], seq(24))], attrs: { perm: [2, 0, 1] } },
  { op: 'Transpose', inputs: [f([2, 3], seq(6))] },
  { op: 'Concat', inputs: [f([2, 1], [1, 2]), f([2, 3], seq(6))], attrs: { axis: 1 } },
  { op: 'Concat', inputs: [i64([1], [-1]), i64([2], [4, 5])], attrs: { axis: 0 } },
  {
    op: 'Slice',
    inputs: [f([4, 5], seq(20)), i64([2], [3, 1]), i64([2], [0, 100]), i64([2], [0, 1]), i64([2], [-1, 2])],
  },
  { op: 'Slice', inputs: [f([6], seq(6)), i64([1], [-4]), i64([1], [-1])] },
  { op: 'Slice', inputs: [f([3, 4], seq(12))], attrs: { starts: [1], ends: [3], axes: [1] }, opset: 9 },
  { op: 'Gather', inputs: [f([2, 3], seq(6)), i64([2], [-1, 0])], attrs: { axis: 1 } },
  { op: 'Gather', inputs: [i64([4], [1, 3, 224, 224]), i64([], [0])] },
  { op: 'Split', inputs: [f([5, 2], seq(10)), i64([2], [2, 3])], outputs: 2 },
  { op: 'Split', inputs: [f([6], seq(6))], attrs: { axis: 0 }, outputs: 3 },
  { op: 'Expand', inputs: [f([3, 1], [1, 2, 3]), i64([3], [2, 1, 4])] },
  { op: 'Tile', inputs: [f([2, 2], seq(4)), i64([2], [2, 3])] },
  { op: 'Range', inputs: [i64([], [2]), i64([], [11]), i64([], [3])] },
  { op: 'Range', inputs: [f([], [1]), f([], [2]), f([], [0.25])] },
  { op: 'ConstantOfShape', inputs: [i64([2], [2, 3])] },
  { op: 'ReduceSum', inputs: [f([2, 3, 2], seq(12)), i64([1], [1])], attrs: { keepdims: 0 } },
  { op: 'ReduceMean', inputs: [f([2, 3], seq(6))], attrs: { axes: [0] }, opset: 11 },
  { op: 'ReduceMax', inputs: [f([2, 3], [1, 9, 3, 4, 2, 8])], attrs: { axes: [1] }, opset: 13 },
  { op: 'ReduceProd', inputs: [i64([3], [2, 3, 4])], opset: 13 },
  { op: 'MatMul', inputs: [f([2, 3], seq(6, 0.5)), f([3, 2], seq(6, -0.25))] },
  { op: 'MatMul', inputs: [f([2, 1, 2, 3], seq(12)), f([3, 3, 2], seq(18, 0.1))] },
  { op: 'MatMul', inputs: [f([3], [1, 2, 3]), f([3, 2], seq(6))] },
  { op: 'Shape', inputs: [f([2, 3, 4], seq(24))], attrs: { start: 1, end: -1 }, opset: 15 },
  { op: 'Size', inputs: [f([2, 3, 4], seq(24))] },
  { op: 'Identity', inputs: [i64([2], [7, 8])] },
];

function name(c: Case, k: number) {
  return `${c.op}#${k}`;
}

async function viaOnnxruntime(c: Case): Promise<{ type: string; dims: number[]; data: number[] }[]> {
  // Inputs are fed (not initializers) so that onnxruntime computes the op instead of folding it away.
  const b = new GraphBuilder();
  const ins = c.inputs.map((t, i) => b.input(`in${i}`, t.type, t.dims));
  const outs = Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`);
  b.node(c.op, ins, c.attrs ?? {}, { outputs: outs });
  const g = b.graph();
  g.output = outs.map((n) => create(ValueInfoProtoSchema, { name: n }));
  const feeds = Object.fromEntries(
    c.inputs.map((t, i) => [
      `in${i}`,
      toRtTensor({ dataType: t.type, dims: t.dims, data: Float64Array.from(t.data) }),
    ]),
  );
  const session = await runtime.createSession(encodeModelProto(buildModelProto(g, { opset: c.opset ?? 13 })));
  try {
    const r = await session.run(feeds);
    return outs.map((o) => ({
      type: r[o].type,
      dims: [...r[o].dims],
      data: Array.from(r[o].data as ArrayLike<number>, Number),
    }));
  } finally {
    await session.release();
  }
}

function viaEvaluator(c: Case) {
  const b = new GraphBuilder();
  const ins = c.inputs.map((t, i) => b.initializer(`in${i}`, t.type, t.dims, t.data));
  b.node(c.op, ins, c.attrs ?? {}, { outputs: Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`) });
  const m = b.model({ opset: c.opset ?? 13 });
  const node = m.graph.nodes[0];
  const inputs = [...m.graph.initializers.values()].map((t) => fromTensorProto(t));
  return evaluateNode(node, inputs, { opset: c.opset ?? 13, maxElements: 1e6 });
}

describe('constant evaluator', () => {
  it('matches onnxruntime on every operator it implements', async () => {
    for (const [k, c] of cases.entries()) {
      const expected = await viaOnnxruntime(c).catch((e: Error) => {
        throw new Error(`${name(c, k)}: ${e.message.slice(0, 200)}`);
      });
      const got = viaEvaluator(c);
      expect(got, name(c, k)).toBeDefined();
      expect(got!.length, name(c, k)).toBe(expected.length);
      got!.forEach((t, o) => {
        const e = expected[o];
        expect(t, name(c, k)).toBeDefined();
        expect(dtypeInfo(t!.dataType).ort, `${name(c, k)} type`).toBe(e.type);
        expect(t!.dims, `${name(c, k)} dims`).toEqual(e.dims);
        // float16 comes back from onnxruntime as its bits.
        const data = e.type === 'float16' ? halfBits(t!.data) : Array.from(t!.data);
        const want = e.data;
        data.forEach((v, i) => {
          const w = want[i];
          expect(Math.abs(v - w), `${name(c, k)}[${i}]: ${v} vs ${w}`).toBeLessThanOrEqual(
            1e-6 * Math.max(1, Math.abs(w)),
          );
        });
      });
    }
  });

  it('says no rather than guessing: unknown ops, too large results, missing inputs', () => {
    const b = new GraphBuilder();
    const x = b.initializer('x', F, [3], [1, 2, 3]);
    b.node('CumSum', [x, b.initializer('axis', I64, [], [0])], {}, { outputs: ['y'] });
    b.node('ConstantOfShape', [b.initializer('shape', I64, [1], [1e7])], {}, { outputs: ['z'] });
    const m = b.model();
    const ev = new ConstantEvaluator(m.graph, { opset: 13, irVersion: 8, maxElements: 1e6 });
    expect(ev.isConstant('y')).toBe(true);
    expect(ev.value('y')).toBeUndefined();
    expect(ev.value('z')).toBeUndefined();
    expect(ev.value('x')?.data).toEqual(Float64Array.from([1, 2, 3]));
  });

  it('treats overridable initializers (graph inputs, IR ≥ 4) as run-time values', () => {
    const b = new GraphBuilder();
    b.input('w', F, [2]);
    b.initializer('w', F, [2], [1, 2]);
    b.node('Neg', ['w'], {}, { outputs: ['y'] });
    const m = b.model();
    expect(new ConstantEvaluator(m.graph, { opset: 13, irVersion: 8 }).isConstant('y')).toBe(false);
    expect(new ConstantEvaluator(m.graph, { opset: 13, irVersion: 3 }).isConstant('y')).toBe(true);
  });
});
