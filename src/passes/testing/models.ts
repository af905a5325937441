import { GraphBuilder, attr } from '../../onnx/builder';
import { DataType } from '../../onnx/dtype';
import type { Model } from '../../onnx/ir';
import { seededRandom } from '../../runtime/inputs';

/**
 * Models generated for the pruning, folding and clustering tests. Channels listed in `zero` are
 * made exactly zero (zero filters, zero bias, BatchNorm with β = μ = 0 and a small γ), so removing
 * them must leave every output unchanged: the proof that the rewiring is right.
 */
export interface TestCnnOptions {
  /** Zero the channels a 25 % prune removes in every group. */
  zeroPrunable?: boolean;
  seed?: number;
}

/** Which channels each layer of {@link testCnn} has zeroed when `zeroPrunable` is set (2 of 8, 2 of 6, ...). */
export const ZERO_CHANNELS = {
  stem: [1, 5],
  branchA: [0, 3],
  branchB: [2],
  conv5: [4, 7],
  se1: [2],
  fc1: [0, 5, 9, 12],
};

function rng(seed: number) {
  const r = seededRandom(seed);
  return (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/**
 * A small CNN with every tie the channel pruner must handle:
 * conv1+BN+Relu → depthwise conv+Relu → conv2+BN, residual Add with conv1's output → Relu →
 * two branches (3×3 conv, 1×1 conv) → Concat → conv5+BN+Relu → SE gate (GAP → conv → HardSigmoid → Mul)
 * → Flatten → Gemm+Relu → Gemm → y. Input [2,3,16,16], output [2,5].
 */
export function testCnn(options: TestCnnOptions = {}): Model {
  const rand = rng(options.seed ?? 7);
  const zero = options.zeroPrunable ?? false;
  const b = new GraphBuilder('test_cnn');
  const x = b.input('x', DataType.FLOAT, [2, 3, 16, 16]);
  const conv = (
    name: string,
    input: string,
    cin: number,
    cout: number,
    k: number,
    zeroed: number[],
    extra: Record<string, number | number[]> = {},
    bias = true,
  ) => {
    const group = typeof extra.group === 'number' ? extra.group : 1;
    const per = (cin / group) * k * k;
    const w = rand(cout * per);
    const bv = rand(cout, -0.2, 0.2);
    if (zero)
      for (const c of zeroed) {
        w.fill(0, c * per, (c + 1) * per);
        bv[c] = 0;
      }
    const wn = b.initializer(`${name}.w`, DataType.FLOAT, [cout, cin / group, k, k], w);
    const inputs = [input, wn];
    if (bias) inputs.push(b.initializer(`${name}.b`, DataType.FLOAT, [cout], bv));
    const pad = Math.floor(k / 2);
    return b.op('Conv', inputs, { kernel_shape: [k, k], pads: [pad, pad, pad, pad], ...extra }, name);
  };
  const bn = (name: string, input: string, c: number, zeroed: number[]) => {
    const gamma = rand(c, 0.5, 1.5);
    const beta = rand(c, -0.3, 0.3);
    const mean = rand(c, -0.3, 0.3);
    if (zero)
      for (const k of zeroed) {
        gamma[k] = 0.01;
        beta[k] = 0;
        mean[k] = 0;
      }
    return b.op(
      'BatchNormalization',
      [
        input,
        b.initializer(`${name}.gamma`, DataType.FLOAT, [c], gamma),
        b.initializer(`${name}.beta`, DataType.FLOAT, [c], beta),
        b.initializer(`${name}.mean`, DataType.FLOAT, [c], mean),
        b.initializer(`${name}.var`, DataType.FLOAT, [c], rand(c, 0.5, 1.5)),
      ],
      { epsilon: attr.float(1e-5) },
      name,
    );
  };
  const relu = (input: string, name: string) => b.op('Relu', [input], {}, name);
  const a = relu(
    bn('bn1', conv('conv1', x, 3, 8, 3, ZERO_CHANNELS.stem, {}, false), 8, ZERO_CHANNELS.stem),
    'relu1',
  );
  const d = relu(conv('dw', a, 8, 8, 3, ZERO_CHANNELS.stem, { group: 8 }), 'relu_dw');
  const c2 = bn('bn2', conv('conv2', d, 8, 8, 1, ZERO_CHANNELS.stem, {}, false), 8, ZERO_CHANNELS.stem);
  const res = relu(b.op('Add', [a, c2], {}, 'residual'), 'relu_res');
  const f = relu(conv('conv3', res, 8, 6, 3, ZERO_CHANNELS.branchA, { strides: [2, 2] }), 'relu3');
  const g = relu(conv('conv4', res, 8, 4, 1, ZERO_CHANNELS.branchB, { strides: [2, 2] }), 'relu4');
  const cat = b.op('Concat', [f, g], { axis: 1 }, 'concat');
  const h = relu(
    bn(
      'bn5',
      conv('conv5', cat, 10, 8, 3, ZERO_CHANNELS.conv5, { strides: [2, 2] }, false),
      8,
      ZERO_CHANNELS.conv5,
    ),
    'relu5',
  );
  // Squeeze-and-excitation: the gate's channels are tied to conv5's through the Mul.
  const gap = b.op('GlobalAveragePool', [h], {}, 'gap');
  const se1 = relu(conv('se1', gap, 8, 4, 1, ZERO_CHANNELS.se1), 'se_relu');
  const se2 = b.op('HardSigmoid', [conv('se2', se1, 4, 8, 1, ZERO_CHANNELS.conv5)], {}, 'se_gate');
  const gated = b.op('Mul', [h, se2], {}, 'se_mul');
  const flat = b.op('Flatten', [gated], { axis: 1 }, 'flatten');
  const w1 = rand(16 * 128);
  const b1 = rand(16, -0.2, 0.2);
  if (zero)
    for (const k of ZERO_CHANNELS.fc1) {
      w1.fill(0, k * 128, (k + 1) * 128);
      b1[k] = 0;
    }
  const fc1 = relu(
    b.op(
      'Gemm',
      [
        flat,
        b.initializer('fc1.w', DataType.FLOAT, [16, 128], w1),
        b.initializer('fc1.b', DataType.FLOAT, [16], b1),
      ],
      { transB: 1 },
      'fc1',
    ),
    'relu_fc1',
  );
  b.node(
    'Gemm',
    [
      fc1,
      b.initializer('fc2.w', DataType.FLOAT, [16, 5], rand(80)),
      b.initializer('fc2.b', DataType.FLOAT, [5], rand(5)),
    ],
    {},
    { name: 'fc2', outputs: ['y'] },
  );
  b.output('y', DataType.FLOAT, [2, 5]);
  return b.model({ opset: 13 });
}

/** A MatMul MLP: x [4,32] → MatMul+Add+Relu (64) → MatMul+Add+Relu (48) → MatMul (10) → y. */
export function testMlp(options: { seed?: number; zeroPrunable?: boolean } = {}): Model {
  const rand = rng(options.seed ?? 11);
  const b = new GraphBuilder('test_mlp');
  let h = b.input('x', DataType.FLOAT, [4, 32]);
  const widths = [32, 64, 48, 10];
  for (let l = 0; l < 3; l++) {
    const [i, o] = [widths[l], widths[l + 1]];
    const w = rand(i * o);
    const bias = rand(o, -0.1, 0.1);
    // Zero the last quarter of the hidden neurons (columns of W, entries of the bias).
    if (options.zeroPrunable && l < 2)
      for (let c = o - o / 4; c < o; c++) {
        for (let r = 0; r < i; r++) w[r * o + c] = 0;
        bias[c] = 0;
      }
    const mm = b.op('MatMul', [h, b.initializer(`w${l}`, DataType.FLOAT, [i, o], w)], {}, `mm${l}`);
    if (l === 2) {
      b.node(
        'Add',
        [mm, b.initializer(`b${l}`, DataType.FLOAT, [o], bias)],
        {},
        { name: `add${l}`, outputs: ['y'] },
      );
    } else {
      const add = b.op('Add', [mm, b.initializer(`b${l}`, DataType.FLOAT, [o], bias)], {}, `add${l}`);
      h = b.op('Relu', [add], {}, `relu${l}`);
    }
  }
  b.output('y', DataType.FLOAT, [4, 10]);
  return b.model({ opset: 13 });
}
