import { z } from 'zod';
import { defineStage, type NodeChange } from './types';
import type { Graph, Model, Node } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { makeAttr } from '../onnx/builder';
import { inferShapes } from '../onnx/shapes';
import {
  addConstant,
  assertFloatModel,
  floatConstant,
  importDomain,
  nodeKey,
  removeUnusedConstants,
} from './qdq';
import { packInt4, packInt4Gptq, type PackedInt4 } from './quantizeInt4Blocks';
import { calibrationSource, formatBytes } from './quantizeStatic';
import { featureMoments, type FeatureMoments } from './calibration';

export { packInt4, unpackInt4, type PackedInt4 } from './quantizeInt4Blocks';

export const quantizeInt4Params = z.object({
  blockSize: z
    .number()
    .int()
    .min(16)
    .max(4096)
    .refine((v) => Number.isInteger(Math.log2(v)), 'must be a power of two')
    .default(32)
    .describe(
      'Weights per scale along the input dimension (a power of two ≥ 16). Smaller blocks: more accurate, bigger file.',
    ),
  symmetric: z
    .boolean()
    .default(true)
    .describe(
      'Symmetric blocks (no zero points, value 8 is zero) or asymmetric (a 4-bit zero point per block).',
    ),
  compute: z
    .enum(['int8', 'float'])
    .default('int8')
    .describe(
      'Arithmetic inside the MatMulNBits kernel (its accuracy_level): int8 (4) quantizes each block of activations to int8 at run time, about 2× faster than float on a single token in onnxruntime-node and no slower in onnxruntime-web; float (0) multiplies with the dequantized weights in float32.',
    ),
  method: z
    .enum(['gptq', 'rtn'])
    .default('gptq')
    .describe(
      'GPTQ (needs a dataset): rounds the weights row by row and lets the rows not yet rounded compensate each rounding error, judged on the calibration inputs. RTN: every weight to its nearest level (no data needed).',
    ),
  calibrated: z
    .boolean()
    .default(true)
    .describe(
      'Use the calibration samples when a dataset is open: for GPTQ, and to weigh each weight’s rounding error by how large the input feature it multiplies is.',
    ),
  calibrationSamples: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(64)
    .describe('Calibration samples used at most to measure the input features.'),
  exclude: z
    .array(z.string())
    .default([])
    .describe('Nodes kept in float (node names; the first output name for unnamed nodes).'),
});
export type QuantizeInt4Params = z.output<typeof quantizeInt4Params>;

/** Layers with more inputs than this are rounded without GPTQ (its cost grows with K³ and K²·N). */
export const GPTQ_MAX_K = 1024;

/** The weight of a MatMul or Gemm as row-major [K, N] (Gemm's transB undone, alpha applied), or why not. */
function weightKN(
  graph: Graph,
  node: Node,
  model: Model,
): { values: Float64Array; k: number; n: number } | string {
  const w = floatConstant(graph, node.inputs[1], model.external);
  if (!w || w.dims.length !== 2) return `${node.opType} weight is not a 2-D float constant`;
  if (node.opType === 'MatMul') return { values: w.values, k: w.dims[0], n: w.dims[1] };
  if (node.attrInt('transA', 0) === 1) return 'Gemm with transA is not quantized';
  const alpha = node.attrFloat('alpha', 1);
  const transB = node.attrInt('transB', 0) === 1;
  const [rows, cols] = w.dims;
  const k = transB ? cols : rows;
  const n = transB ? rows : cols;
  const values = new Float64Array(k * n);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) values[transB ? j * n + i : i * n + j] = alpha * w.values[i * cols + j];
  return { values, k, n };
}

/**
 * 4-bit weight-only quantization as com.microsoft MatMulNBits (bits 4, block-wise scales along K).
 * Why MatMulNBits rather than ONNX INT4 + DequantizeLinear(block_size): the latter needs opset 21 for
 * the whole model (many operators changed since 13), while MatMulNBits only adds the com.microsoft
 * domain; onnxruntime-web 1.30's WASM build and onnxruntime-node both run it (checked in tests), and
 * onnxruntime turns DQ(int4) → MatMul into this same kernel anyway. Activations stay float.
 */
export const quantizeInt4 = defineStage({
  id: 'quantize-int4',
  title: 'Quantize weights (int4)',
  description:
    '4-bit block-wise weights for MatMul/Gemm (onnxruntime MatMulNBits): about 6–7× smaller layers, activations stay float.',
  category: 'quantize',
  params: quantizeInt4Params,
  // Reads the calibration split when a dataset is open (GPTQ) but runs without one, so the dataset
  // is part of its cache key without being required.
  needs: { calibration: false },
  tolerance: { top1Agreement: 0.9, sqnrDb: 12 },
  async run(input, params, ctx) {
    assertFloatModel(input, 'quantize-int4');
    const model = input.clone();
    const graph = model.graph;
    const facts = inferShapes(graph, { opset: model.opsetVersion() });
    const exclude = new Set(params.exclude);
    const excluded: string[] = [];
    const skipped = new Map<string, number>();
    const changes: NodeChange[] = [];
    const counts = new Map<string, number>();
    const replaced: string[] = [];
    let floatBytes = 0;
    let packedBytes = 0;
    const skip = (why: string) => skipped.set(why, (skipped.get(why) ?? 0) + 1);
    const layers: Node[] = [];
    for (const n of graph.topologicalOrder()) {
      if (n.domain !== '' || (n.opType !== 'MatMul' && n.opType !== 'Gemm')) continue;
      const key = nodeKey(n);
      if (exclude.has(key)) {
        excluded.push(key);
        continue;
      }
      if (facts.get(n.inputs[0])?.elemType !== DataType.FLOAT) {
        skip(`${n.opType} input is not float32`);
        continue;
      }
      const w = weightKN(graph, n, model);
      if (typeof w === 'string') skip(w);
      else layers.push(n);
    }
    if (layers.length === 0)
      throw new Error(
        `quantize-int4: the model has no MatMul or Gemm with a constant 2-D weight to quantize${
          excluded.length || skipped.size
            ? ` (${[...(excluded.length ? [`${excluded.length} excluded`] : []), ...[...skipped].map(([why, k]) => `${k}: ${why}`)].join('; ')})`
            : ''
        }`,
      );
    const notes: string[] = [];
    let moments = new Map<string, FeatureMoments>();
    const calibrated = params.calibrated && ctx.data !== undefined;
    if (calibrated) {
      const source = calibrationSource(model, ctx.data!, params.calibrationSamples, 'quantize-int4');
      moments = await featureMoments(
        model,
        [...new Set(layers.map((n) => n.inputs[0]))],
        ctx.runtime,
        source,
        {
          fullUpTo: params.method === 'gptq' ? GPTQ_MAX_K : 0,
          signal: ctx.signal,
          progress: ctx.progress,
        },
      );
      notes.push(
        `input features measured on ${source.count} calibration sample${source.count === 1 ? '' : 's'}`,
      );
    }
    const methods = new Map<string, number>();
    let done = 0;
    for (const n of layers) {
      ctx.signal.throwIfAborted();
      ctx.progress(++done, layers.length, 'packing 4-bit blocks');
      const key = nodeKey(n);
      // Read again rather than kept from the check above: only one layer's float weights at a time.
      const w = weightKN(graph, n, model) as { values: Float64Array; k: number; n: number };
      const m = moments.get(n.inputs[0]);
      const fits = m?.features === w.k;
      let p: PackedInt4 | undefined;
      let how = calibrated ? 'RTN weighted by input feature size' : 'RTN';
      if (params.method === 'gptq' && fits && m.gram) {
        p = packInt4Gptq(w.values, w.k, w.n, params.blockSize, params.symmetric, m.gram);
        how = p ? 'GPTQ' : 'RTN weighted by input feature size (GPTQ: degenerate input statistics)';
      } else if (params.method === 'gptq' && calibrated && w.k > GPTQ_MAX_K)
        how = `RTN weighted by input feature size (GPTQ only up to ${GPTQ_MAX_K} inputs)`;
      p ??= packInt4(
        w.values,
        w.k,
        w.n,
        params.blockSize,
        params.symmetric,
        fits ? m.meanSquares : undefined,
      );
      methods.set(how, (methods.get(how) ?? 0) + 1);
      const base = n.inputs[1];
      const b = addConstant(
        graph,
        `${base}_int4`,
        DataType.UINT8,
        [w.n, p.blocks, params.blockSize / 2],
        p.data,
      );
      const s = addConstant(graph, `${base}_scale`, DataType.FLOAT, [w.n * p.blocks], p.scales);
      const zp = p.zeroPoints
        ? [addConstant(graph, `${base}_zp`, DataType.UINT8, [p.zeroPoints.length], p.zeroPoints)]
        : [];
      const bias = n.opType === 'Gemm' ? n.inputs[2] : undefined;
      const beta = n.attrFloat('beta', 1);
      const output = n.outputs[0];
      const product = bias ? graph.uniqueName(`${key}_product`) : output;
      graph.addNode(
        {
          opType: 'MatMulNBits',
          domain: 'com.microsoft',
          name: n.name || undefined,
          inputs: [n.inputs[0], b, s, ...zp],
          outputs: [product],
          attributes: [
            makeAttr('K', w.k),
            makeAttr('N', w.n),
            makeAttr('bits', 4),
            makeAttr('block_size', params.blockSize),
            ...(params.compute === 'int8' ? [makeAttr('accuracy_level', 4)] : []),
          ],
        },
        { before: n },
      );
      if (bias) {
        let c = bias;
        if (beta !== 1) {
          const cv = floatConstant(graph, bias, model.external);
          if (cv)
            c = addConstant(
              graph,
              `${bias}_beta`,
              DataType.FLOAT,
              cv.dims,
              Float32Array.from(cv.values, (v) => v * beta),
            );
          else {
            const betaName = addConstant(graph, `${key}_beta`, DataType.FLOAT, [], Float32Array.of(beta));
            c = graph.uniqueName(`${key}_scaled_bias`);
            graph.addNode({ opType: 'Mul', inputs: [bias, betaName], outputs: [c] }, { before: n });
          }
          replaced.push(bias);
        }
        graph.addNode(
          { opType: 'Add', name: graph.uniqueName(`${key}_bias`), inputs: [product, c], outputs: [output] },
          { before: n },
        );
      }
      graph.removeNode(n);
      replaced.push(base);
      floatBytes += w.k * w.n * 4;
      packedBytes += p.data.length + p.scales.length * 4 + (p.zeroPoints?.length ?? 0);
      counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
      changes.push({ node: key, kind: 'quantized', detail: 'int4' });
    }
    importDomain(model, 'com.microsoft', 1);
    removeUnusedConstants(graph, replaced);
    notes.unshift(
      `quantized ${[...counts].map(([op, k]) => `${k} ${op}`).join(', ')} to 4-bit MatMulNBits (blocks of ${params.blockSize}, ${params.symmetric ? 'symmetric' : 'asymmetric'})`,
      `weights ${formatBytes(floatBytes)} → ${formatBytes(packedBytes)} (${(floatBytes / packedBytes).toFixed(1)}× smaller)`,
    );
    notes.push(`rounding: ${[...methods].map(([how, k]) => `${how} ×${k}`).join(', ')}`);
    if (excluded.length) notes.push(`excluded ${excluded.length}: ${excluded.join(', ')}`);
    for (const [why, k] of skipped) notes.push(`kept ${k} in float: ${why}`);
    return { model, notes, changes };
  },
});
