import { z } from 'zod';
import { defineStage, type NodeChange } from './types';
import type { Graph, Node } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { makeTensor, tensorDims, tensorToFloat64, type ExternalFiles } from '../onnx/tensor';
import { constantTensor } from './constants';

interface BnParams {
  /** γ / √(σ² + ε) per channel. */
  scale: Float64Array;
  /** β − μ · scale per channel. */
  shift: Float64Array;
}

function bnParams(graph: Graph, bn: Node, external: ExternalFiles): BnParams | undefined {
  const [, s, b, m, v] = bn.inputs.map((n) => (n ? constantTensor(graph, n) : undefined));
  if (!s || !b || !m || !v) return undefined;
  if (![s, b, m, v].every((t) => t.dataType === DataType.FLOAT)) return undefined;
  const eps = bn.attrFloat('epsilon', 1e-5);
  const [gamma, beta, mean, variance] = [s, b, m, v].map((t) => tensorToFloat64(t, external));
  const scale = gamma.map((g, c) => g / Math.sqrt(variance[c] + eps));
  const shift = beta.map((bb, c) => bb - mean[c] * scale[c]);
  return { scale, shift };
}

/** Why a BatchNormalization cannot be folded into its producer, or undefined when it can. */
function foldBlocker(graph: Graph, bn: Node): string | undefined {
  if (bn.outputs.filter((o) => o).length > 1) return 'it has training-mode outputs';
  if (bn.attrInt('training_mode', 0)) return 'it runs in training mode';
  const x = bn.inputs[0];
  const producer = graph.producer(x);
  if (!producer || !['Conv', 'ConvTranspose', 'Gemm'].includes(producer.opType) || producer.domain !== '')
    return `its input comes from ${producer ? producer.opType : 'a graph input'}, not Conv/ConvTranspose/Gemm`;
  if (graph.consumers(x).length !== 1 || graph.isGraphOutput(x))
    return `${producer.opType} output is read elsewhere too`;
  return undefined;
}

/** Fold one BN into its producer; returns a note when it had to be skipped. */
function fold(graph: Graph, bn: Node, external: ExternalFiles): string | undefined {
  const blocker = foldBlocker(graph, bn);
  if (blocker) return blocker;
  const p = graph.producer(bn.inputs[0])!;
  const params = bnParams(graph, bn, external);
  if (!params) return 'its scale, bias, mean or variance is not a float constant';
  const wName = p.inputs[1];
  const w = constantTensor(graph, wName);
  if (!w || w.dataType !== DataType.FLOAT) return `${p.opType} weight is not a float32 constant`;
  const dims = tensorDims(w);
  const weights = tensorToFloat64(w, external);
  const channels = params.scale.length;
  const out = new Float32Array(weights.length);
  let biasIn: Float64Array;
  if (p.opType === 'Gemm') {
    const transB = p.attrInt('transB', 0) === 1;
    const [rows, cols] = dims;
    const n = transB ? rows : cols;
    if (n !== channels) return `Gemm has ${n} outputs but BatchNormalization ${channels} channels`;
    const beta = p.attrFloat('beta', 1);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) out[i * cols + j] = weights[i * cols + j] * params.scale[transB ? i : j];
    const c = p.inputs[2] ? constantTensor(graph, p.inputs[2]) : undefined;
    if (p.inputs[2] && !c) return 'Gemm bias is not a constant';
    const cv = c ? tensorToFloat64(c, external) : new Float64Array(1);
    if (cv.length !== 1 && cv.length !== channels) return 'Gemm bias does not broadcast per output';
    biasIn = Float64Array.from({ length: channels }, (_, k) => beta * cv[cv.length === 1 ? 0 : k]);
    // alpha scales A·B, so scaling B's columns by the BN scale leaves alpha as it is.
  } else {
    const group = p.attrInt('group', 1);
    const isTranspose = p.opType === 'ConvTranspose';
    if (isTranspose && group !== 1) return 'grouped ConvTranspose is not folded';
    const perOut = isTranspose ? dims.slice(2).reduce((a, b) => a * b, 1) : weights.length / dims[0];
    const outChannels = isTranspose ? dims[1] : dims[0];
    if (outChannels !== channels) return `${p.opType} has ${outChannels} output channels, BN ${channels}`;
    if (isTranspose) {
      const inC = dims[0];
      for (let c = 0; c < inC; c++)
        for (let m = 0; m < outChannels; m++)
          for (let k = 0; k < perOut; k++) {
            const i = (c * outChannels + m) * perOut + k;
            out[i] = weights[i] * params.scale[m];
          }
    } else
      for (let i = 0; i < weights.length; i++) out[i] = weights[i] * params.scale[Math.floor(i / perOut)];
    const b = p.inputs[2] ? constantTensor(graph, p.inputs[2]) : undefined;
    if (p.inputs[2] && (!b || b.dataType !== DataType.FLOAT))
      return `${p.opType} bias is not a float constant`;
    biasIn = b ? tensorToFloat64(b, external) : new Float64Array(channels);
  }
  const bias = Float32Array.from(
    { length: channels },
    (_, k) => biasIn[k] * params.scale[k] + params.shift[k],
  );
  const base = p.name || bn.name || 'folded';
  const newW = graph.uniqueName(`${base}.weight_folded`);
  const newB = graph.uniqueName(`${base}.bias_folded`);
  graph.addInitializer(makeTensor(newW, DataType.FLOAT, dims, out));
  graph.addInitializer(makeTensor(newB, DataType.FLOAT, [channels], bias));
  p.setInput(1, newW);
  if (p.inputs.length > 2) p.setInput(2, newB);
  else {
    p.proto.input.push(newB);
    graph.invalidate();
  }
  if (p.opType === 'Gemm') {
    const betaAttr = p.attribute('beta');
    if (betaAttr) betaAttr.f = 1;
  }
  // The BN's output name survives (graph outputs and downstream readers keep their names).
  const output = bn.outputs[0];
  graph.removeNode(bn);
  p.setOutput(0, output);
  return undefined;
}

export const foldBatchNorm = defineStage({
  id: 'fold-batchnorm',
  title: 'Fold BatchNorm',
  description:
    'Fold inference-mode BatchNormalization into the preceding Conv, ConvTranspose or Gemm weights.',
  category: 'simplify',
  params: z.object({}),
  tolerance: { maxAbsError: 1e-3, top1Agreement: 0.999 },
  async run(model, _params, ctx) {
    const changes: NodeChange[] = [];
    const notes: string[] = [];
    let folded = 0;
    const skipped = new Map<string, number>();
    const graphs = [...model.graph.allGraphs()];
    let done = 0;
    for (const g of graphs) {
      const before = folded;
      for (const bn of g.nodes.filter((n) => n.opType === 'BatchNormalization' && n.domain === '')) {
        ctx.signal.throwIfAborted();
        const producer = g.producer(bn.inputs[0]);
        const why = fold(g, bn, model.external);
        if (why) skipped.set(why, (skipped.get(why) ?? 0) + 1);
        else {
          folded++;
          changes.push({ node: bn.name, kind: 'removed', detail: `folded into ${producer?.name}` });
          if (producer) changes.push({ node: producer.name, kind: 'fused', detail: `absorbed ${bn.name}` });
        }
      }
      // The original weights (initializers or Constant nodes) are now unread.
      if (folded > before) g.removeDeadCode();
      ctx.progress(++done, graphs.length);
    }
    notes.push(`folded ${folded} BatchNormalization node${folded === 1 ? '' : 's'}`);
    for (const [why, n] of skipped) notes.push(`kept ${n}: ${why}`);
    return { model, notes, changes };
  },
});
