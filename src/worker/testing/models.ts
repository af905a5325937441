/**
 * Models built in code for the model-service tests, the end-to-end tests and the first-paint bench:
 * a small CNN, a model whose weights sit in an external-data file, a long chain, and the bad inputs the
 * studio must reject with a clear message.
 */
import { GraphBuilder, externalTensor } from '../../onnx/builder';
import { DataType } from '../../onnx/dtype';
import { seededRandom } from '../../runtime/inputs';

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

function randomFloats(count: number, seed: number, scale = 0.5): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

/**
 * Conv(4×1×3×3) → Relu → Flatten → Gemm(10) with a symbolic batch dim: input `x` float[batch,1,8,8],
 * output `logits` float[batch,10]. Some conv weights are exactly zero so sparsity is visible.
 */
export function smallCnn(): NamedBytes {
  const b = new GraphBuilder('small_cnn');
  const x = b.input('x', DataType.FLOAT, ['batch', 1, 8, 8]);
  const w = randomFloats(4 * 9, 1);
  for (let i = 0; i < w.length; i += 5) w[i] = 0;
  b.initializer('conv.weight', DataType.FLOAT, [4, 1, 3, 3], w);
  b.initializer('conv.bias', DataType.FLOAT, [4], randomFloats(4, 2, 0.1));
  b.initializer('fc.weight', DataType.FLOAT, [10, 144], randomFloats(10 * 144, 3, 0.1));
  b.initializer('fc.bias', DataType.FLOAT, [10], randomFloats(10, 4, 0.1));
  const c = b.op('Conv', [x, 'conv.weight', 'conv.bias'], { kernel_shape: [3, 3] }, 'conv');
  const r = b.op('Relu', [c], {}, 'relu');
  const f = b.op('Flatten', [r], { axis: 1 }, 'flatten');
  b.node('Gemm', [f, 'fc.weight', 'fc.bias'], { transB: 1 }, { name: 'fc', outputs: ['logits'] });
  b.output('logits', DataType.FLOAT, ['batch', 10]);
  return { name: 'small-cnn.onnx', bytes: b.bytes({ producer: 'whittle-tests' }) };
}

/**
 * MatMul(W 4×3) → Add(B 3) whose two weights live in `ext-weights.bin` (W at offset 0, B after it):
 * input `x` float[1,4], output `y` float[1,3].
 */
export function externalDataModel(): { model: NamedBytes; data: NamedBytes; weights: Float32Array } {
  const location = 'ext-weights.bin';
  const weights = randomFloats(12 + 3, 7);
  const data = new Uint8Array(weights.buffer.slice(0));
  const external = (name: string, dims: number[], offset: number, length: number) =>
    externalTensor(name, DataType.FLOAT, dims, location, offset, length);
  const b = new GraphBuilder('external_data');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  b.tensor(external('W', [4, 3], 0, 48));
  b.tensor(external('B', [3], 48, 12));
  const m = b.op('MatMul', [x, 'W'], {}, 'matmul');
  b.node('Add', [m, 'B'], {}, { name: 'add', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 3]);
  return {
    model: { name: 'ext-model.onnx', bytes: b.bytes({ producer: 'whittle-tests' }) },
    data: { name: location, bytes: data },
    weights,
  };
}

/** A chain of `nodes` elementwise nodes (Mul, Add, Relu in turn) on float[1,16], for the first-paint bench. */
export function chainModel(nodes: number): NamedBytes {
  const b = new GraphBuilder('chain');
  let v = b.input('x', DataType.FLOAT, [1, 16]);
  b.initializer('scale', DataType.FLOAT, [16], randomFloats(16, 11));
  b.initializer('shift', DataType.FLOAT, [16], randomFloats(16, 12));
  const ops = ['Mul', 'Add', 'Relu'] as const;
  for (let i = 0; i < nodes; i++) {
    const op = ops[i % 3];
    const inputs = op === 'Mul' ? [v, 'scale'] : op === 'Add' ? [v, 'shift'] : [v];
    v = i === nodes - 1 ? b.node(op, inputs, {}, { outputs: ['y'] })[0] : b.op(op, inputs);
  }
  b.output('y', DataType.FLOAT, [1, 16]);
  return { name: `chain-${nodes}.onnx`, bytes: b.bytes() };
}

/** A bad input and a pattern its error message must match. */
export interface BadInput extends NamedBytes {
  label: string;
  message: RegExp;
}

const pngHeader = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
  0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89,
]);

/** The six bad inputs of issue 2: empty, PNG, truncated, missing tensor, cycle, opset 30. */
export function badInputs(truncateFrom: Uint8Array = smallCnn().bytes): BadInput[] {
  const missing = new GraphBuilder('missing');
  const mx = missing.input('x', DataType.FLOAT, [1, 4]);
  missing.node('Add', [mx, 'ghost'], {}, { name: 'add_ghost', outputs: ['y'] });
  missing.output('y', DataType.FLOAT, [1, 4]);

  const cycle = new GraphBuilder('cycle');
  const cx = cycle.input('x', DataType.FLOAT, [1, 4]);
  cycle.node('Add', [cx, 'b'], {}, { name: 'first', outputs: ['a'] });
  cycle.node('Relu', ['a'], {}, { name: 'second', outputs: ['b'] });
  cycle.output('a', DataType.FLOAT, [1, 4]);

  const future = new GraphBuilder('future');
  const fx = future.input('x', DataType.FLOAT, [1, 4]);
  future.node('Relu', [fx], {}, { name: 'relu', outputs: ['y'] });
  future.output('y', DataType.FLOAT, [1, 4]);

  return [
    { label: 'empty file', name: 'empty.onnx', bytes: new Uint8Array(0), message: /empty/i },
    { label: 'PNG renamed .onnx', name: 'picture.onnx', bytes: pngHeader, message: /PNG/ },
    {
      label: 'truncated model',
      name: 'truncated.onnx',
      bytes: truncateFrom.slice(0, Math.floor(truncateFrom.byteLength * 0.6)),
      message: /truncated|corrupt/i,
    },
    {
      label: 'missing tensor',
      name: 'missing-tensor.onnx',
      bytes: missing.bytes(),
      message: /"ghost".*no node, input or initializer/,
    },
    { label: 'cycle', name: 'cycle.onnx', bytes: cycle.bytes(), message: /cycle/i },
    { label: 'opset 30', name: 'opset-30.onnx', bytes: future.bytes({ opset: 30 }), message: /opset 30/ },
  ];
}
