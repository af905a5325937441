import { z } from 'zod';
import { defineStage, type NodeChange } from './types';
import type { Graph, Model, Node } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { makeAttr } from '../onnx/builder';
import { inferShapes } from '../onnx/shapes';
import {
  addConstant,
  addDequantizedConstant,
  assertFloatModel,
  floatConstant,
  importDomain,
  nodeKey,
  quantizeWeight,
  removeUnusedConstants,
  type ConstantValue,
} from './qdq';
import { formatBytes } from './quantizeStatic';
import { opsetNote, opsetUpgradeBlockers, raiseOpset, type OpsetUpgrade } from './opsetUpgrade';

export const DYNAMIC_OPS = ['MatMul', 'Gemm', 'Conv'] as const;

export const quantizeDynamicParams = z.object({
  perChannel: z
    .boolean()
    .default(true)
    .describe('One weight scale per output column/channel (more accurate) instead of one per tensor.'),
  exclude: z
    .array(z.string())
    .default([])
    .describe('Nodes kept in float (node names; the first output name for unnamed nodes).'),
  ops: z
    .array(z.enum(DYNAMIC_OPS))
    .default(['MatMul', 'Gemm'])
    .describe(
      'Operator types to quantize. MatMul/Gemm run as int8 kernels; Conv only gets int8 weights (smaller, not faster: onnxruntime has no fast per-channel dynamic Conv).',
    ),
});
export type QuantizeDynamicParams = z.output<typeof quantizeDynamicParams>;

/** How a MatMul-like node's weight is laid out for MatMulInteger: [K, N] values with alpha applied. */
interface MatMulWeight {
  values: Float64Array;
  k: number;
  n: number;
  source: string;
}

/** The weight of a MatMul (input 1) or Gemm (B, transposed and scaled by alpha) as [K, N]. */
function matmulWeight(graph: Graph, node: Node, model: Model): MatMulWeight | string {
  const name = node.inputs[1];
  const c: ConstantValue | undefined = floatConstant(graph, name, model.external);
  if (!c || c.dims.length !== 2) return `${node.opType} weight is not a 2-D float constant`;
  if (node.opType === 'MatMul') return { values: c.values, k: c.dims[0], n: c.dims[1], source: name };
  if (node.attrInt('transA', 0) === 1) return 'Gemm with transA is not quantized';
  const alpha = node.attrFloat('alpha', 1);
  const transB = node.attrInt('transB', 0) === 1;
  const [rows, cols] = c.dims;
  const k = transB ? cols : rows;
  const n = transB ? rows : cols;
  const values = new Float64Array(k * n);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) values[transB ? j * n + i : i * n + j] = alpha * c.values[i * cols + j];
  return { values, k, n, source: name };
}

/** The Gemm bias (beta · C) as a float initializer for an Add after the quantized product, or undefined. */
function gemmBias(
  graph: Graph,
  node: Node,
  model: Model,
): { name: string; source: string } | string | undefined {
  const cName = node.inputs[2];
  if (node.opType !== 'Gemm' || !cName) return undefined;
  const beta = node.attrFloat('beta', 1);
  if (beta === 1) return { name: cName, source: cName };
  const c = floatConstant(graph, cName, model.external);
  if (!c) return 'Gemm bias with beta ≠ 1 is not a constant';
  const scaled = Float32Array.from(c.values, (v) => v * beta);
  return { name: addConstant(graph, `${cName}_beta`, DataType.FLOAT, c.dims, scaled), source: cName };
}

/**
 * DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scale) [→ Add(bias)], the ONNX pattern
 * onnxruntime fuses into one DynamicQuantizeMatMul kernel. The last node writes `output`.
 */
function addIntegerMatMul(
  graph: Graph,
  node: Node,
  input: string,
  weight: { q: string; scale: string; zeroPoint: string },
  bias: string | undefined,
  output: string,
): void {
  const base = nodeKey(node);
  const name = (s: string) => graph.uniqueName(`${base}_${s}`);
  const [aq, as, az] = [name('a_quantized'), name('a_scale'), name('a_zero_point')];
  const add = (
    opType: string,
    inputs: string[],
    outputs: string[],
    attributes = [] as ReturnType<typeof makeAttr>[],
  ) => graph.addNode({ opType, name: name(opType), inputs, outputs, attributes }, { before: node });
  add('DynamicQuantizeLinear', [input], [aq, as, az]);
  const product = name('int32');
  add('MatMulInteger', [aq, weight.q, az, weight.zeroPoint], [product]);
  const asFloat = name('float');
  add('Cast', [product], [asFloat], [makeAttr('to', DataType.FLOAT)]);
  const scale = name('scale');
  add('Mul', [as, weight.scale], [scale]);
  if (bias) {
    const scaled = name('scaled');
    add('Mul', [asFloat, scale], [scaled]);
    add('Add', [scaled, bias], [output]);
  } else add('Mul', [asFloat, scale], [output]);
}

/**
 * onnxruntime's fused kernel written directly (com.microsoft DynamicQuantizeMatMul), for models whose
 * opset is too old for DynamicQuantizeLinear. Its bias input takes one value per output column; any
 * other bias stays a separate Add.
 */
function addContribMatMul(
  graph: Graph,
  node: Node,
  weight: { q: string; scale: string; zeroPoint: string },
  bias: string | undefined,
  columns: number,
  model: Model,
): void {
  const output = node.outputs[0];
  const c = bias ? floatConstant(graph, bias, model.external) : undefined;
  const fused = c && c.values.length === columns;
  const biasInput = !fused
    ? []
    : c.dims.length === 1
      ? [bias!]
      : [addConstant(graph, `${bias}_1d`, DataType.FLOAT, [columns], Float32Array.from(c.values))];
  const product = bias && !fused ? graph.uniqueName(`${nodeKey(node)}_product`) : output;
  graph.addNode(
    {
      opType: 'DynamicQuantizeMatMul',
      domain: 'com.microsoft',
      name: node.name || undefined,
      inputs: [node.inputs[0], weight.q, weight.scale, weight.zeroPoint, ...biasInput],
      outputs: [product],
    },
    { before: node },
  );
  if (bias && !fused)
    graph.addNode(
      {
        opType: 'Add',
        name: graph.uniqueName(`${nodeKey(node)}_bias`),
        inputs: [product, bias],
        outputs: [output],
      },
      { before: node },
    );
}

/**
 * Dynamic int8 quantization. MatMul/Gemm become DynamicQuantizeLinear → MatMulInteger (int8
 * per-column weights) → Cast → Mul(scales) [→ Add(bias)], which onnxruntime fuses into one
 * DynamicQuantizeMatMul kernel (checked in its optimized graph; on a 6-layer 512-wide MLP it ran ~8×
 * faster than float here, while weight-only DequantizeLinear → MatMul ran ~3× slower, dequantizing
 * the weights on every run). Conv keeps float arithmetic with int8 per-channel weights behind a
 * DequantizeLinear: onnxruntime's ConvInteger takes only per-tensor weight zero points and its int8
 * path was ~4× slower than float, so a "dynamic Conv" would be both slower and less accurate.
 */
export const quantizeDynamic = defineStage({
  id: 'quantize-dynamic',
  title: 'Quantize (dynamic int8)',
  description:
    'int8 weights ahead of time, activations quantized at run time; no data needed. Best for MatMul-heavy models (transformers, RNNs, MLPs).',
  category: 'quantize',
  params: quantizeDynamicParams,
  tolerance: { top1Agreement: 0.98, sqnrDb: 25 },
  async run(input, params, ctx) {
    assertFloatModel(input, 'quantize-dynamic');
    const model = input.clone();
    const graph = model.graph;
    const ops = new Set<string>(params.ops);
    const exclude = new Set(params.exclude);
    const facts = inferShapes(graph, { opset: model.opsetVersion() });
    const notes: string[] = [];
    const changes: NodeChange[] = [];
    const skipped = new Map<string, number>();
    const skip = (why: string) => skipped.set(why, (skipped.get(why) ?? 0) + 1);
    const excluded: string[] = [];

    const candidates = graph.topologicalOrder().filter((n) => {
      if (n.domain !== '' || !ops.has(n.opType)) return false;
      if (exclude.has(nodeKey(n))) {
        excluded.push(nodeKey(n));
        return false;
      }
      if (facts.get(n.inputs[0])?.elemType !== DataType.FLOAT) {
        skip(`${n.opType} input is not float32`);
        return false;
      }
      return true;
    });
    const hasConv = candidates.some((n) => n.opType === 'Conv');
    const hasMatMul = candidates.some((n) => n.opType !== 'Conv');

    // DynamicQuantizeLinear is opset 11, per-channel DequantizeLinear (Conv weights) opset 13. Models
    // that cannot move there get onnxruntime's fused contrib kernel directly.
    const from = model.opsetVersion('') ?? 0;
    const convTarget = params.perChannel ? 13 : 10;
    let upgrade: OpsetUpgrade | undefined;
    const tryRaise = (target: number) => {
      try {
        upgrade = raiseOpset(model, target, 'quantize-dynamic', facts);
        return true;
      } catch {
        return false;
      }
    };
    const convOk = hasConv && tryRaise(Math.max(convTarget, hasMatMul ? 11 : 0));
    const standard = hasMatMul && (convOk || tryRaise(11));
    if (upgrade) notes.push(...opsetNote(upgrade));
    if (hasMatMul && !standard) {
      importDomain(model, 'com.microsoft', 1);
      notes.push(
        `opset ${from} cannot be raised to 11 (${opsetUpgradeBlockers(model, 11, facts).join('; ')}): wrote onnxruntime's DynamicQuantizeMatMul (com.microsoft) directly`,
      );
    }

    let floatBytes = 0;
    let quantBytes = 0;
    const replaced: string[] = [];
    const counts = new Map<string, number>();
    let done = 0;
    for (const n of candidates) {
      ctx.signal.throwIfAborted();
      ctx.progress(++done, candidates.length);
      const key = nodeKey(n);
      if (n.opType === 'Conv') {
        if (!convOk) {
          skip(
            `Conv needs opset ${convTarget} (${opsetUpgradeBlockers(model, convTarget, facts).join('; ')})`,
          );
          continue;
        }
        const w = floatConstant(graph, n.inputs[1], model.external);
        if (!w) {
          skip('Conv weight is computed at run time');
          continue;
        }
        const q = quantizeWeight(w.values, w.dims, params.perChannel ? 0 : undefined);
        const dq = addDequantizedConstant(
          graph,
          n.inputs[1],
          { data: q.data, dataType: DataType.INT8, dims: w.dims },
          { scales: q.scales, zeroPoints: q.zeroPoints, axis: q.axis },
          n,
        );
        replaced.push(n.inputs[1]);
        n.setInput(1, dq);
        floatBytes += w.values.length * 4;
        quantBytes += w.values.length + q.scales.length * 5;
        counts.set('Conv', (counts.get('Conv') ?? 0) + 1);
        changes.push({ node: key, kind: 'quantized', detail: 'int8 weights' });
        continue;
      }
      const w = matmulWeight(graph, n, model);
      if (typeof w === 'string') {
        skip(w);
        continue;
      }
      const bias = gemmBias(graph, n, model);
      if (typeof bias === 'string') {
        skip(bias);
        continue;
      }
      const q = quantizeWeight(w.values, [w.k, w.n], params.perChannel ? 1 : undefined);
      const shape = params.perChannel ? [w.n] : [];
      const weight = {
        q: addConstant(graph, `${w.source}_int8`, DataType.INT8, [w.k, w.n], q.data),
        scale: addConstant(graph, `${w.source}_scale`, DataType.FLOAT, shape, q.scales),
        zeroPoint: addConstant(graph, `${w.source}_zp`, DataType.INT8, shape, q.zeroPoints),
      };
      const output = n.outputs[0];
      if (standard) addIntegerMatMul(graph, n, n.inputs[0], weight, bias?.name, output);
      else addContribMatMul(graph, n, weight, bias?.name, w.n, model);
      graph.removeNode(n);
      replaced.push(w.source, ...(bias && bias.name !== bias.source ? [bias.source] : []));
      floatBytes += w.values.length * 4;
      quantBytes += w.values.length + q.scales.length * 5;
      counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
      changes.push({ node: key, kind: 'quantized', detail: 'int8' });
    }
    if (counts.size === 0)
      throw new Error(
        `quantize-dynamic: the model has no quantizable operator (looked for ${params.ops.join(', ')})${
          excluded.length || skipped.size
            ? `; ${[...(excluded.length ? [`${excluded.length} excluded`] : []), ...[...skipped].map(([why, k]) => `${k}: ${why}`)].join('; ')}`
            : ''
        }`,
      );
    removeUnusedConstants(graph, replaced);
    notes.unshift(
      `quantized ${[...counts].map(([op, k]) => `${k} ${op}`).join(', ')} (int8 weights ${params.perChannel ? 'per channel' : 'per tensor'}, activations at run time)`,
      `weights ${formatBytes(floatBytes)} → ${formatBytes(quantBytes)} (${(floatBytes / quantBytes).toFixed(1)}× smaller)`,
    );
    if (excluded.length) notes.push(`excluded ${excluded.length}: ${excluded.join(', ')}`);
    for (const [why, k] of skipped) notes.push(`kept ${k} in float: ${why}`);
    return { model, notes, changes };
  },
});
