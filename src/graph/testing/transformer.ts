import { GraphBuilder, type AttrValue } from '../../onnx/builder';
import { DataType } from '../../onnx/dtype';
import type { Model } from '../../onnx/ir';
import { makeTensor } from '../../onnx/tensor';

export interface TransformerOptions {
  /** Encoder layers (default 24). */
  layers?: number;
  /** Attention heads, each computed with its own Slice/MatMul/Softmax nodes (default 12). */
  heads?: number;
  /** Width of one head (default 2); the hidden size is heads × headSize. */
  headSize?: number;
  vocab?: number;
}

/**
 * A BERT-like encoder named as PyTorch's ONNX exporter names nodes and tensors
 * (`/encoder/layer.3/attention/self/query/MatMul`, `..._output_0`, Constant nodes for scalars),
 * with attention heads unrolled so that the node count scales: about 24 × (50 + 10 × heads) nodes.
 * It is a valid model that onnxruntime runs (inputs `input_ids` int64 [batch, sequence]).
 */
export function transformerModel(options: TransformerOptions = {}): Model {
  const layers = options.layers ?? 24;
  const heads = options.heads ?? 12;
  const headSize = options.headSize ?? 2;
  const vocab = options.vocab ?? 32;
  const hidden = heads * headSize;
  const b = new GraphBuilder('transformer');
  let seed = 1;
  const random = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return (seed / 2147483648 - 0.5) * scale;
    });
  const weight = (name: string, dims: number[], scale = 0.5) =>
    b.initializer(
      name,
      DataType.FLOAT,
      dims,
      random(
        dims.reduce((a, c) => a * c, 1),
        scale,
      ),
    );
  const op = (name: string, opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}) =>
    b.node(opType, inputs, attrs, { name, outputs: [`${name}_output_0`] })[0];
  const counters = new Map<string, number>();
  const constant = (scope: string, elemType: number, dims: number[], values: number[]) => {
    const k = counters.get(scope) ?? 0;
    counters.set(scope, k + 1);
    const name = `${scope}/Constant${k ? `_${k}` : ''}`;
    return op(name, 'Constant', [], { value: makeTensor('', elemType, dims, values) });
  };
  const layerNorm = (scope: string, x: string, params: string) => {
    const mean = op(`${scope}/ReduceMean`, 'ReduceMean', [x], { axes: [-1] });
    const centred = op(`${scope}/Sub`, 'Sub', [x, mean]);
    const two = constant(scope, DataType.FLOAT, [], [2]);
    const sq = op(`${scope}/Pow`, 'Pow', [centred, two]);
    const variance = op(`${scope}/ReduceMean_1`, 'ReduceMean', [sq], { axes: [-1] });
    const eps = constant(scope, DataType.FLOAT, [], [1e-12]);
    const shifted = op(`${scope}/Add`, 'Add', [variance, eps]);
    const std = op(`${scope}/Sqrt`, 'Sqrt', [shifted]);
    const normed = op(`${scope}/Div`, 'Div', [centred, std]);
    const scaled = op(`${scope}/Mul`, 'Mul', [normed, weight(`${params}.weight`, [hidden])]);
    return op(`${scope}/Add_1`, 'Add', [scaled, weight(`${params}.bias`, [hidden])]);
  };
  const linear = (scope: string, x: string, params: string, inSize: number, outSize: number) => {
    const mm = op(`${scope}/MatMul`, 'MatMul', [x, weight(`onnx::MatMul_${params}`, [inSize, outSize])]);
    return op(`${scope}/Add`, 'Add', [weight(`${params}.bias`, [outSize]), mm]);
  };

  const ids = b.input('input_ids', DataType.INT64, ['batch', 'sequence']);
  const words = op('/embeddings/word_embeddings/Gather', 'Gather', [
    weight('embeddings.word_embeddings.weight', [vocab, hidden]),
    ids,
  ]);
  let x = layerNorm('/embeddings/LayerNorm', words, 'embeddings.LayerNorm');
  for (let l = 0; l < layers; l++) {
    const p = `/encoder/layer.${l}`;
    const w = `encoder.layer.${l}`;
    const self = `${p}/attention/self`;
    const q = linear(`${self}/query`, x, `${w}.attention.self.query`, hidden, hidden);
    const k = linear(`${self}/key`, x, `${w}.attention.self.key`, hidden, hidden);
    const v = linear(`${self}/value`, x, `${w}.attention.self.value`, hidden, hidden);
    const axes = constant(self, DataType.INT64, [1], [2]);
    const scale = constant(self, DataType.FLOAT, [], [Math.sqrt(headSize)]);
    const contexts: string[] = [];
    for (let h = 0; h < heads; h++) {
      const s = h ? `_${h}` : '';
      const start = constant(self, DataType.INT64, [1], [h * headSize]);
      const end = constant(self, DataType.INT64, [1], [(h + 1) * headSize]);
      const qh = op(`${self}/Slice${s}`, 'Slice', [q, start, end, axes]);
      const kh = op(`${self}/Slice_k${s}`, 'Slice', [k, start, end, axes]);
      const vh = op(`${self}/Slice_v${s}`, 'Slice', [v, start, end, axes]);
      const kt = op(`${self}/Transpose${s}`, 'Transpose', [kh], { perm: [0, 2, 1] });
      const scores = op(`${self}/MatMul${s}`, 'MatMul', [qh, kt]);
      const scaled = op(`${self}/Div${s}`, 'Div', [scores, scale]);
      const probs = op(`${self}/Softmax${s}`, 'Softmax', [scaled], { axis: -1 });
      contexts.push(op(`${self}/MatMul_ctx${s}`, 'MatMul', [probs, vh]));
    }
    const context = op(`${self}/Concat`, 'Concat', contexts, { axis: 2 });
    const attnOut = linear(
      `${p}/attention/output/dense`,
      context,
      `${w}.attention.output.dense`,
      hidden,
      hidden,
    );
    const attnRes = op(`${p}/attention/output/Add`, 'Add', [attnOut, x]);
    const attn = layerNorm(`${p}/attention/output/LayerNorm`, attnRes, `${w}.attention.output.LayerNorm`);
    const inter = linear(`${p}/intermediate/dense`, attn, `${w}.intermediate.dense`, hidden, 4 * hidden);
    const act = `${p}/intermediate/intermediate_act_fn`;
    const root2 = constant(act, DataType.FLOAT, [], [Math.SQRT2]);
    const erf = op(`${act}/Erf`, 'Erf', [op(`${act}/Div`, 'Div', [inter, root2])]);
    const one = constant(act, DataType.FLOAT, [], [1]);
    const gate = op(`${act}/Mul`, 'Mul', [inter, op(`${act}/Add`, 'Add', [erf, one])]);
    const half = constant(act, DataType.FLOAT, [], [0.5]);
    const gelu = op(`${act}/Mul_1`, 'Mul', [gate, half]);
    const out = linear(`${p}/output/dense`, gelu, `${w}.output.dense`, 4 * hidden, hidden);
    const res = op(`${p}/output/Add`, 'Add', [out, attn]);
    x = layerNorm(`${p}/output/LayerNorm`, res, `${w}.output.LayerNorm`);
  }
  b.node('Identity', [x], {}, { name: '/Identity', outputs: ['last_hidden_state'] });
  b.output('last_hidden_state', DataType.FLOAT, ['batch', 'sequence', hidden]);
  return b.model({ opset: 17, producer: 'pytorch', producerVersion: '2.4.0' });
}

/**
 * A flat-named CNN (`Conv_0`, `BatchNormalization_1`, ...) made of `blocks` Conv-BatchNormalization-Relu
 * blocks after a stem, for repeated-block detection.
 */
export function flatCnnModel(blocks: number, channels = 4): Model {
  const b = new GraphBuilder('flat-cnn');
  let x = b.input('input', DataType.FLOAT, [1, channels, 8, 8]);
  let k = 0;
  const name = (op: string) => `${op}_${k++}`;
  x = b.op('Mul', [x, b.initializer('scale', DataType.FLOAT, [], [0.5])], {}, name('Mul'));
  for (let i = 0; i < blocks; i++) {
    const w = b.initializer(
      `w${i}`,
      DataType.FLOAT,
      [channels, channels, 3, 3],
      Array.from({ length: channels * channels * 9 }, (_, j) => ((j % 7) - 3) / 20),
    );
    x = b.op('Conv', [x, w], { pads: [1, 1, 1, 1] }, name('Conv'));
    const ones = Array.from({ length: channels }, () => 1);
    const zeros = Array.from({ length: channels }, () => 0);
    const bn = ['s', 'b', 'm', 'v'].map((p) =>
      b.initializer(`bn${i}_${p}`, DataType.FLOAT, [channels], p === 's' || p === 'v' ? ones : zeros),
    );
    x = b.op('BatchNormalization', [x, ...bn], {}, name('BatchNormalization'));
    x = b.op('Relu', [x], {}, name('Relu'));
  }
  b.node('GlobalAveragePool', [x], {}, { name: name('GlobalAveragePool'), outputs: ['output'] });
  b.output('output', DataType.FLOAT, [1, channels, 1, 1]);
  return b.model({ opset: 13 });
}
