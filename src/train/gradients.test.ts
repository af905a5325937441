import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, attr, type AttrValue } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import type { Model } from '../onnx/ir';
import { seededRandom } from '../runtime/inputs';
import { outputs, relativeError, testContext } from '../passes/testing/harness';
import { TrainableGraph } from './graph';

/**
 * Each translated operator's gradients against central finite differences, and its forward pass
 * against onnxruntime. Inputs avoid kinks (ReLU at 0, pooling ties) where differences are not defined.
 */
interface OpCase {
  name: string;
  input: number[];
  op: string;
  /** Extra inputs: initializers [dims] (trained), or named constant integer lists. */
  weights?: number[][];
  ints?: (number[] | '')[];
  attrs?: Record<string, AttrValue>;
  training?: boolean;
  /** Node outputs (the test looks at the last). */
  outputs?: number;
  opset?: number;
}

const cases: OpCase[] = [
  {
    name: 'Conv 3×3',
    input: [2, 3, 6, 6],
    op: 'Conv',
    weights: [[4, 3, 3, 3], [4]],
    attrs: { pads: [1, 1, 1, 1] },
  },
  {
    name: 'Conv strided, asymmetric pads',
    input: [1, 2, 7, 7],
    op: 'Conv',
    weights: [[3, 2, 3, 3]],
    attrs: { strides: [2, 2], pads: [0, 1, 1, 0] },
  },
  {
    name: 'Conv depthwise',
    input: [1, 4, 5, 5],
    op: 'Conv',
    weights: [[8, 1, 3, 3], [8]],
    attrs: { group: 4, pads: [1, 1, 1, 1] },
  },
  { name: 'Conv grouped', input: [1, 4, 5, 5], op: 'Conv', weights: [[6, 2, 3, 3]], attrs: { group: 2 } },
  { name: 'Conv 1-D', input: [2, 3, 9], op: 'Conv', weights: [[2, 3, 3], [2]], attrs: { pads: [1, 1] } },
  {
    name: 'ConvTranspose',
    input: [1, 3, 4, 4],
    op: 'ConvTranspose',
    weights: [[3, 2, 3, 3], [2]],
    attrs: { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] },
  },
  {
    name: 'Gemm transB',
    input: [3, 5],
    op: 'Gemm',
    weights: [[4, 5], [4]],
    attrs: { transB: 1, alpha: 0.5 },
  },
  { name: 'MatMul 3-D × 2-D', input: [2, 3, 5], op: 'MatMul', weights: [[5, 4]] },
  { name: 'Add bias', input: [2, 3, 4, 4], op: 'Add', weights: [[3, 1, 1]] },
  { name: 'Sub', input: [2, 6], op: 'Sub', weights: [[6]] },
  { name: 'Mul scale', input: [2, 3, 4, 4], op: 'Mul', weights: [[1, 3, 1, 1]] },
  { name: 'Div', input: [2, 6], op: 'Div', weights: [[6]] },
  { name: 'PRelu', input: [2, 3, 4], op: 'PRelu', weights: [[3, 1]] },
  { name: 'Relu', input: [2, 7], op: 'Relu' },
  { name: 'LeakyRelu', input: [2, 7], op: 'LeakyRelu', attrs: { alpha: 0.1 } },
  { name: 'Elu', input: [2, 7], op: 'Elu', attrs: { alpha: 0.7 } },
  { name: 'Selu', input: [2, 7], op: 'Selu' },
  { name: 'Sigmoid', input: [2, 7], op: 'Sigmoid' },
  { name: 'Tanh', input: [2, 7], op: 'Tanh' },
  { name: 'HardSigmoid', input: [2, 7], op: 'HardSigmoid', attrs: { alpha: 0.2, beta: 0.5 } },
  { name: 'HardSwish', input: [2, 7], op: 'HardSwish' },
  { name: 'Clip', input: [2, 7], op: 'Clip', attrs: {} },
  { name: 'Erf', input: [2, 7], op: 'Erf' },
  {
    name: 'BatchNormalization (inference)',
    input: [2, 3, 4, 4],
    op: 'BatchNormalization',
    weights: [[3], [3], [3], [3]],
  },
  {
    name: 'BatchNormalization (training, batch statistics)',
    input: [4, 3, 3, 3],
    op: 'BatchNormalization',
    weights: [[3], [3], [3], [3]],
    training: true,
  },
  { name: 'LayerNormalization', input: [2, 3, 6], op: 'LayerNormalization', weights: [[6], [6]] },
  { name: 'MaxPool', input: [1, 2, 6, 6], op: 'MaxPool', attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
  {
    name: 'MaxPool padded, ceil',
    input: [1, 2, 5, 5],
    op: 'MaxPool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 },
  },
  {
    name: 'AveragePool excluding pads',
    input: [1, 2, 5, 5],
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  },
  { name: 'GlobalAveragePool', input: [2, 3, 4, 4], op: 'GlobalAveragePool' },
  { name: 'Flatten', input: [2, 3, 2, 2], op: 'Flatten' },
  { name: 'Reshape', input: [2, 3, 4], op: 'Reshape', ints: [[0, -1]] },
  { name: 'Transpose', input: [2, 3, 4], op: 'Transpose', attrs: { perm: [2, 0, 1] } },
  { name: 'Softmax', input: [3, 5], op: 'Softmax', attrs: { axis: -1 } },
  { name: 'Softmax over channels', input: [2, 4, 3], op: 'Softmax', attrs: { axis: 1 } },
  {
    name: 'Pad reflect',
    input: [1, 2, 4, 4],
    op: 'Pad',
    ints: [[0, 0, 1, 2, 0, 0, 2, 1]],
    attrs: { mode: 'reflect' },
  },
  {
    name: 'Pad edge',
    input: [1, 2, 4, 4],
    op: 'Pad',
    ints: [[0, 0, 1, 0, 0, 0, 0, 2]],
    attrs: { mode: 'edge' },
  },
  {
    name: 'Resize nearest ×2',
    input: [1, 2, 3, 3],
    op: 'Resize',
    ints: ['', [], [1, 2, 6, 6]],
    attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
  },
  {
    name: 'Resize linear',
    input: [1, 2, 3, 3],
    op: 'Resize',
    ints: ['', [], [1, 2, 6, 5]],
    attrs: { mode: 'linear' },
  },
  {
    name: 'Resize nearest half-pixel ×1.5',
    input: [1, 2, 4, 4],
    op: 'Resize',
    ints: ['', [], [1, 2, 6, 6]],
    attrs: { mode: 'nearest' },
  },
  {
    name: 'Resize linear align-corners',
    input: [1, 2, 3, 4],
    op: 'Resize',
    ints: ['', [], [1, 2, 5, 7]],
    attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners' },
  },
  { name: 'ReduceMean', input: [2, 3, 4], op: 'ReduceMean', ints: [[-1]] },
  { name: 'ReduceSum', input: [2, 3, 4], op: 'ReduceSum', ints: [[1]], attrs: { keepdims: 0 } },
  { name: 'ReduceMax', input: [2, 3, 4], op: 'ReduceMax', ints: [[2]] },
  { name: 'ReduceMin', input: [2, 3, 4], op: 'ReduceMin', ints: [[0, 2]] },
  { name: 'Concat with a weight', input: [2, 3, 4], op: 'Concat', weights: [[2, 2, 4]], attrs: { axis: 1 } },
  { name: 'Split', input: [2, 6], op: 'Split', ints: [[2, 4]], attrs: { axis: 1 }, outputs: 2 },
  { name: 'Slice with steps', input: [3, 8], op: 'Slice', ints: [[1], [7], [1], [2]] },
  { name: 'Slice backwards', input: [3, 8], op: 'Slice', ints: [[-1], [-9], [1], [-3]] },
  { name: 'Gather', input: [4, 5], op: 'Gather', ints: [[3, 0, 3]], attrs: { axis: 0 } },
  { name: 'Squeeze', input: [2, 1, 4], op: 'Squeeze', ints: [[1]] },
  { name: 'Unsqueeze', input: [2, 4], op: 'Unsqueeze', ints: [[0, 3]] },
  { name: 'Expand', input: [3, 1], op: 'Expand', ints: [[2, 3, 4]] },
  { name: 'Tile', input: [2, 3], op: 'Tile', ints: [[2, 2]] },
  { name: 'Max', input: [2, 5], op: 'Max', weights: [[5]] },
  { name: 'Min', input: [2, 5], op: 'Min', weights: [[2, 5]] },
  { name: 'Sum', input: [2, 5], op: 'Sum', weights: [[5]] },
  { name: 'Mean', input: [2, 5], op: 'Mean', weights: [[5]] },
  { name: 'LogSoftmax', input: [3, 5], op: 'LogSoftmax', attrs: { axis: -1 } },
  { name: 'GlobalMaxPool', input: [2, 3, 4, 4], op: 'GlobalMaxPool' },
  { name: 'Exp', input: [2, 5], op: 'Exp' },
  { name: 'Abs', input: [2, 5], op: 'Abs' },
  { name: 'Neg', input: [2, 5], op: 'Neg' },
  { name: 'Softplus', input: [2, 5], op: 'Softplus' },
  { name: 'Gelu', input: [2, 5], op: 'Gelu', opset: 20 },
  { name: 'Gelu tanh', input: [2, 5], op: 'Gelu', attrs: { approximate: 'tanh' }, opset: 20 },
  {
    name: 'LRN',
    input: [1, 5, 3, 3],
    op: 'LRN',
    attrs: { size: 3, alpha: 0.01, beta: 0.75, bias: attr.float(1) },
  },
  { name: 'Identity', input: [2, 5], op: 'Identity' },
  { name: 'Dropout (inference)', input: [2, 5], op: 'Dropout' },
  { name: 'Cast to float', input: [2, 5], op: 'Cast', attrs: { to: 1 } },
];

function buildCase(c: OpCase, random: () => number): Model {
  const b = new GraphBuilder(c.name);
  const x = b.input('x', DataType.FLOAT, c.input);
  const inputs = [x];
  (c.weights ?? []).forEach((dims, i) => {
    const n = dims.reduce((p, d) => p * d, 1);
    // BatchNorm variance must stay positive.
    const isVariance = (c.op === 'BatchNormalization' && i === 3) || c.op === 'Div';
    const data = Array.from({ length: n }, () => (isVariance ? 0.5 + random() : random() * 2 - 1));
    inputs.push(b.initializer(`w${i}`, DataType.FLOAT, dims, data));
  });
  (c.ints ?? []).forEach((v, i) => {
    if (v === '') inputs.push('');
    else if (c.op === 'Resize' && i === 1) inputs.push(b.initializer(`c${i}`, DataType.FLOAT, [0], []));
    else inputs.push(b.initializer(`c${i}`, DataType.INT64, [v.length], v));
  });
  const ys = b.node(c.op, inputs, c.attrs ?? {}, { outputs: c.outputs ?? 1 });
  b.output(ys[ys.length - 1]!, DataType.FLOAT);
  return b.model({ opset: c.opset ?? 18 });
}

function feedValues(c: OpCase, random: () => number): Float32Array {
  const n = c.input.reduce((p, d) => p * d, 1);
  // Magnitudes in [0.1, 1] with random sign: away from ReLU's kink; distinct for pooling.
  return Float32Array.from(
    { length: n },
    (_, i) => (random() < 0.5 ? -1 : 1) * (0.1 + 0.9 * ((i * 0.618034 + random() * 0.1) % 1)),
  );
}

describe('translated operators: forward matches onnxruntime, gradients match finite differences', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const random = seededRandom(11);
      const model = buildCase(c, random);
      const x = feedValues(c, random);
      const ctx = testContext();
      const graph = TrainableGraph.build(model);
      try {
        const run = (xs: tf.Tensor) => {
          const out = graph.forward({ x: xs }, { training: c.training ?? false });
          graph.discardBatchStats();
          return out[graph.outputNames[0]];
        };
        if (!c.training) {
          const expected = await outputs(ctx, model, { x: { type: 'float32', dims: c.input, data: x } });
          const got = tf.tidy(() => Array.from(run(tf.tensor(x, c.input)).dataSync()));
          expect(relativeError(expected, [{ data: got }])).toBeLessThan(1e-5);
        }
        const outShape = tf.tidy(() => run(tf.tensor(x, c.input)).shape);
        const projection = tf.tensor(
          Array.from({ length: outShape.reduce((p, d) => p * d, 1) }, () => random() * 2 - 1),
          outShape,
        );
        const loss = (xs: tf.Tensor) => tf.sum(tf.mul(run(xs), projection)) as tf.Scalar;
        const lossAt = (xv: Float32Array) => tf.tidy(() => loss(tf.tensor(xv, c.input)).dataSync()[0]);

        const variables = [...graph.variables.entries()];
        const { grads } = variables.length
          ? tf.variableGrads(
              () => loss(tf.tensor(x, c.input)),
              variables.map(([, v]) => v),
            )
          : { grads: {} as Record<string, tf.Tensor> };
        const dx = tf
          .grad((xs: tf.Tensor) => loss(xs))(tf.tensor(x, c.input))
          .dataSync();
        const eps = 1e-2;
        const check = (analytic: number, plus: number, minus: number) => {
          const numeric = (plus - minus) / (2 * eps);
          expect(Math.abs(numeric - analytic)).toBeLessThan(2e-2 * Math.max(1, Math.abs(analytic)));
        };
        for (let k = 0; k < Math.min(6, x.length); k++) {
          const i = Math.floor(random() * x.length);
          const xp = x.slice();
          const xm = x.slice();
          xp[i] += eps;
          xm[i] -= eps;
          check(dx[i], lossAt(xp), lossAt(xm));
        }
        for (const [name, v] of variables) {
          const g = grads[v.name].dataSync();
          const base = v.dataSync().slice();
          for (let k = 0; k < Math.min(4, base.length); k++) {
            const i = Math.floor(random() * base.length);
            const at = (delta: number) => {
              const w = base.slice();
              w[i] += delta;
              v.assign(tf.tensor(w, v.shape));
              return lossAt(x);
            };
            check(g[i], at(eps), at(-eps));
            v.assign(tf.tensor(base, v.shape));
          }
          expect(g.length, name).toBe(v.size);
        }
        tf.dispose([projection, ...Object.values(grads)]);
      } finally {
        graph.dispose();
      }
    });
  }
});
