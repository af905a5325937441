import { z } from 'zod';
import { defineStage, type NodeChange } from './types';
import type { Graph, Node } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { makeTensor, tensorDims, tensorToFloat64, type ExternalFiles } from '../onnx/tensor';
import { constantTensor } from './constants';
import { inferShapes, type ValueFacts } from '../onnx/shapes';

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
  if (
    !producer ||
    !['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Add'].includes(producer.opType) ||
    producer.domain !== ''
  )
    return `its input comes from ${producer ? producer.opType : 'a graph input'}, not Conv/ConvTranspose/Gemm/MatMul`;
  if (graph.consumers(x).length !== 1 || graph.isGraphOutput(x))
    return `${producer.opType} output is read elsewhere too`;
  return undefined;
}

/** The MatMul (and bias Add) a BN reads, when the BN's channel axis is the MatMul's output columns. */
function matmulPattern(
  graph: Graph,
  bn: Node,
  facts: ReadonlyMap<string, ValueFacts>,
): { mm: Node; add?: Node; bias?: string } | string {
  const p = graph.producer(bn.inputs[0])!;
  let mm = p;
  let add: Node | undefined;
  let bias: string | undefined;
  if (p.opType === 'Add') {
    const k = [0, 1].find((i) => {
      const q = graph.producer(p.inputs[i]);
      return (
        q?.opType === 'MatMul' &&
        q.domain === '' &&
        graph.consumers(p.inputs[i]).length === 1 &&
        !graph.isGraphOutput(p.inputs[i])
      );
    });
    if (k === undefined) return 'its input comes from an Add that does not add a bias to a MatMul';
    add = p;
    mm = graph.producer(p.inputs[k])!;
    bias = p.inputs[1 - k];
  }
  // BatchNormalization normalizes axis 1: that is the MatMul's columns only for 2-D outputs.
  if (facts.get(mm.inputs[0])?.shape?.length !== 2)
    return 'the MatMul output is not 2-D (BN would normalize another axis)';
  return { mm, add, bias };
}

/** Fold a BN into the MatMul (+ bias Add) before it, which becomes one Gemm. */
function foldIntoMatMul(
  graph: Graph,
  bn: Node,
  params: BnParams,
  external: ExternalFiles,
  facts: ReadonlyMap<string, ValueFacts>,
): string | undefined {
  const pattern = matmulPattern(graph, bn, facts);
  if (typeof pattern === 'string') return pattern;
  const { mm, add, bias } = pattern;
  const w = constantTensor(graph, mm.inputs[1]);
  if (!w || w.dataType !== DataType.FLOAT || w.dims.length !== 2)
    return 'the MatMul weight is not a 2-D float32 constant';
  const [rows, cols] = tensorDims(w);
  const channels = params.scale.length;
  if (cols !== channels) return `MatMul has ${cols} outputs but BatchNormalization ${channels} channels`;
  let b: Float64Array = new Float64Array(channels);
  if (bias) {
    const t = constantTensor(graph, bias);
    if (!t || t.dataType !== DataType.FLOAT) return 'the bias added to the MatMul is not a float constant';
    const dims = tensorDims(t);
    const v = tensorToFloat64(t, external);
    if (v.length === 1) b.fill(v[0]);
    else if (v.length === channels && dims[dims.length - 1] === channels && dims.length <= 2) b = v;
    else return 'the bias added to the MatMul does not broadcast per column';
  }
  const weights = tensorToFloat64(w, external);
  const out = new Float32Array(weights.length);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) out[i * cols + j] = weights[i * cols + j] * params.scale[j];
  const folded = Float32Array.from({ length: channels }, (_, k) => b[k] * params.scale[k] + params.shift[k]);
  const base = mm.name || bn.name || 'folded';
  const newW = graph.uniqueName(`${base}.weight_folded`);
  const newB = graph.uniqueName(`${base}.bias_folded`);
  graph.addInitializer(makeTensor(newW, DataType.FLOAT, [rows, cols], out));
  graph.addInitializer(makeTensor(newB, DataType.FLOAT, [channels], folded));
  graph.addNode(
    {
      opType: 'Gemm',
      name: graph.uniqueName(`${base}_gemm`),
      inputs: [mm.inputs[0], newW, newB],
      outputs: [bn.outputs[0]],
    },
    { before: mm },
  );
  for (const n of [bn, add, mm]) if (n) graph.removeNode(n);
  return undefined;
}

/**
 * Fuse MatMul + constant bias Add into one Gemm where the MatMul is 2-D (A [M,K] · B [K,N], bias [N]
 * or [1,N]). Returns how many were fused.
 */
export function fuseMatMulAdd(
  graph: Graph,
  facts: ReadonlyMap<string, ValueFacts>,
  changes: NodeChange[],
): number {
  let fused = 0;
  for (const add of graph.nodes.filter((n) => n.opType === 'Add' && n.domain === '')) {
    for (const k of [0, 1]) {
      const mmOut = add.inputs[k];
      const mm = graph.producer(mmOut);
      if (mm?.opType !== 'MatMul' || mm.domain !== '') continue;
      if (graph.consumers(mmOut).length !== 1 || graph.isGraphOutput(mmOut)) continue;
      const [a, b] = mm.inputs.map((i) => facts.get(i)?.shape);
      if (a?.length !== 2 || b?.length !== 2) continue;
      const bias = constantTensor(graph, add.inputs[1 - k]);
      const n = b[1];
      const dims = bias ? tensorDims(bias) : undefined;
      const fits =
        !!dims &&
        (dims.length === 1 || (dims.length === 2 && dims[0] === 1)) &&
        (dims[dims.length - 1] === n || dims[dims.length - 1] === 1);
      if (
        !bias ||
        !fits ||
        (bias.dataType !== graph.valueElemType(mmOut) && graph.valueElemType(mmOut) !== undefined)
      )
        continue;
      graph.addNode(
        {
          opType: 'Gemm',
          name: graph.uniqueName(`${mm.name || 'matmul'}_gemm`),
          inputs: [mm.inputs[0], mm.inputs[1], add.inputs[1 - k]],
          outputs: [add.outputs[0]],
        },
        { before: mm },
      );
      graph.removeNode(add);
      graph.removeNode(mm);
      changes.push({ node: mm.name, kind: 'fused', detail: `MatMul + Add ${add.name} → Gemm` });
      fused++;
      break;
    }
  }
  return fused;
}

/** Fold one BN into its producer; returns a note when it had to be skipped. */
function fold(
  graph: Graph,
  bn: Node,
  external: ExternalFiles,
  facts: ReadonlyMap<string, ValueFacts>,
): string | undefined {
  const blocker = foldBlocker(graph, bn);
  if (blocker) return blocker;
  const p = graph.producer(bn.inputs[0])!;
  const params = bnParams(graph, bn, external);
  if (!params) return 'its scale, bias, mean or variance is not a float constant';
  if (p.opType === 'MatMul' || p.opType === 'Add') return foldIntoMatMul(graph, bn, params, external, facts);
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
    'Fold inference-mode BatchNormalization into the preceding Conv, ConvTranspose, Gemm or MatMul weights, and fuse MatMul + bias Add into Gemm.',
  category: 'simplify',
  params: z.object({}),
  tolerance: { maxAbsError: 1e-3, top1Agreement: 0.999 },
  async run(model, _params, ctx) {
    const changes: NodeChange[] = [];
    const notes: string[] = [];
    let folded = 0;
    let fused = 0;
    const opset = model.opsetVersion('') ?? 13;
    const skipped = new Map<string, number>();
    const graphs = [...model.graph.allGraphs()];
    let done = 0;
    for (const g of graphs) {
      const before = folded;
      const facts = inferShapes(g, { opset });
      for (const bn of g.nodes.filter((n) => n.opType === 'BatchNormalization' && n.domain === '')) {
        ctx.signal.throwIfAborted();
        const producer = g.producer(bn.inputs[0]);
        const why = fold(g, bn, model.external, facts);
        if (why) skipped.set(why, (skipped.get(why) ?? 0) + 1);
        else {
          folded++;
          changes.push({ node: bn.name, kind: 'removed', detail: `folded into ${producer?.name}` });
          if (producer) changes.push({ node: producer.name, kind: 'fused', detail: `absorbed ${bn.name}` });
        }
      }
      // Gemm's bias broadcasting needs opset 7.
      const f = opset >= 7 ? fuseMatMulAdd(g, facts, changes) : 0;
      fused += f;
      // The original weights (initializers or Constant nodes) are now unread.
      if (folded > before || f) g.removeDeadCode();
      ctx.progress(++done, graphs.length);
    }
    notes.push(`folded ${folded} BatchNormalization node${folded === 1 ? '' : 's'}`);
    if (fused) notes.push(`fused ${fused} MatMul + Add pair${fused === 1 ? '' : 's'} into Gemm`);
    for (const [why, n] of skipped) notes.push(`kept ${n}: ${why}`);
    return { model, notes, changes };
  },
});
