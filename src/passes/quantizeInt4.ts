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
  roundHalfEven,
  removeUnusedConstants,
} from './qdq';
import { formatBytes } from './quantizeStatic';

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
  exclude: z
    .array(z.string())
    .default([])
    .describe('Nodes kept in float (node names; the first output name for unnamed nodes).'),
});
export type QuantizeInt4Params = z.output<typeof quantizeInt4Params>;

/** A [K, N] weight packed the way com.microsoft MatMulNBits reads it (bits = 4). */
export interface PackedInt4 {
  /** [N, blocks, blockSize / 2] bytes: column-major blocks, low nibble first. */
  data: Uint8Array;
  /** [N · blocks] float scales. */
  scales: Float32Array;
  /** [N · ceil(blocks / 2)] packed 4-bit zero points, or undefined for symmetric blocks (zero point 8). */
  zeroPoints?: Uint8Array;
  blocks: number;
}

/**
 * Block-wise 4-bit quantization of a row-major [K, N] weight: each column is cut into blocks of
 * `blockSize` along K (the last block zero-padded). Symmetric blocks put the largest-magnitude value
 * at −8 (as onnxruntime's MatMulNBits quantizer does, using the whole grid) with zero point 8;
 * asymmetric blocks span [min, max] with a zero point. Each block's range may be clipped slightly
 * when that lowers its squared error.
 */
export function packInt4(
  values: ArrayLike<number>,
  k: number,
  n: number,
  blockSize: number,
  symmetric: boolean,
): PackedInt4 {
  const blocks = Math.ceil(k / blockSize);
  const blob = blockSize / 2;
  const data = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * Math.ceil(blocks / 2));
  const q = new Uint8Array(blockSize);
  const block = new Float64Array(blockSize);
  for (let col = 0; col < n; col++)
    for (let b = 0; b < blocks; b++) {
      const start = b * blockSize;
      const count = Math.min(k, start + blockSize) - start;
      for (let r = 0; r < count; r++) block[r] = values[(start + r) * n + col];
      const { scale, zp } = bestBlockParams(block.subarray(0, count), symmetric);
      q.fill(zp);
      if (scale !== 0) for (let r = 0; r < count; r++) q[r] = quantize4(block[r], scale, zp);
      const at = (col * blocks + b) * blob;
      for (let i = 0; i < blob; i++) data[at + i] = q[2 * i] | (q[2 * i + 1] << 4);
      scales[col * blocks + b] = scale;
      if (zeroPoints) {
        const zi = col * Math.ceil(blocks / 2) + (b >> 1);
        zeroPoints[zi] |= b % 2 === 0 ? zp : zp << 4;
      }
    }
  return { data, scales, zeroPoints, blocks };
}

function quantize4(v: number, scale: number, zp: number): number {
  return Math.min(15, Math.max(0, roundHalfEven(v / scale) + zp));
}

/** Shrink factors of the block range tried when choosing a block's scale (1 = the full range). */
const CLIP_RATIOS = [1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7];

/**
 * Scale and zero point of one block. The full range maps its extreme onto the grid; clipping the range
 * a little often lowers the total squared error (most values get a finer grid), so a few shrink
 * factors are tried and the one with the smallest error wins.
 */
function bestBlockParams(block: Float64Array, symmetric: boolean): { scale: number; zp: number } {
  let lo = 0;
  let hi = 0;
  let extreme = 0;
  for (const v of block) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (Math.abs(v) > Math.abs(extreme)) extreme = v;
  }
  if (extreme === 0) return { scale: 0, zp: 8 };
  let best = { scale: 0, zp: 8 };
  let bestError = Infinity;
  for (const ratio of CLIP_RATIOS) {
    let scale: number;
    let zp: number;
    if (symmetric) {
      scale = Math.fround((extreme * ratio) / -8);
      zp = 8;
    } else {
      scale = Math.fround(((hi - lo) * ratio) / 15);
      zp = Math.min(15, Math.max(0, roundHalfEven((-lo * ratio) / scale)));
    }
    let error = 0;
    for (const v of block) {
      const d = (quantize4(v, scale, zp) - zp) * scale - v;
      error += d * d;
    }
    if (error < bestError) {
      bestError = error;
      best = { scale, zp };
    }
  }
  return best;
}

/** The float values MatMulNBits computes with for a packed weight, as a row-major [K, N] array (for tests). */
export function unpackInt4(p: PackedInt4, k: number, n: number, blockSize: number): Float32Array {
  const out = new Float32Array(k * n);
  const blob = blockSize / 2;
  for (let col = 0; col < n; col++)
    for (let b = 0; b < p.blocks; b++) {
      const zByte = p.zeroPoints?.[col * Math.ceil(p.blocks / 2) + (b >> 1)];
      const zp = zByte === undefined ? 8 : b % 2 === 0 ? zByte & 15 : zByte >> 4;
      const scale = p.scales[col * p.blocks + b];
      for (let i = 0; i < blockSize; i++) {
        const r = b * blockSize + i;
        if (r >= k) break;
        const byte = p.data[(col * p.blocks + b) * blob + (i >> 1)];
        const q = i % 2 === 0 ? byte & 15 : byte >> 4;
        out[r * n + col] = (q - zp) * scale;
      }
    }
  return out;
}

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
    const candidates = graph
      .topologicalOrder()
      .filter((n) => n.domain === '' && (n.opType === 'MatMul' || n.opType === 'Gemm'));
    let done = 0;
    for (const n of candidates) {
      ctx.signal.throwIfAborted();
      ctx.progress(++done, candidates.length);
      const key = nodeKey(n);
      if (exclude.has(key)) {
        excluded.push(key);
        continue;
      }
      const skip = (why: string) => skipped.set(why, (skipped.get(why) ?? 0) + 1);
      if (facts.get(n.inputs[0])?.elemType !== DataType.FLOAT) {
        skip(`${n.opType} input is not float32`);
        continue;
      }
      const w = weightKN(graph, n, model);
      if (typeof w === 'string') {
        skip(w);
        continue;
      }
      const p = packInt4(w.values, w.k, w.n, params.blockSize, params.symmetric);
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
    if (counts.size === 0)
      throw new Error(
        `quantize-int4: the model has no MatMul or Gemm with a constant 2-D weight to quantize${
          excluded.length || skipped.size
            ? ` (${[...(excluded.length ? [`${excluded.length} excluded`] : []), ...[...skipped].map(([why, k]) => `${k}: ${why}`)].join('; ')})`
            : ''
        }`,
      );
    importDomain(model, 'com.microsoft', 1);
    removeUnusedConstants(graph, replaced);
    const notes = [
      `quantized ${[...counts].map(([op, k]) => `${k} ${op}`).join(', ')} to 4-bit MatMulNBits (blocks of ${params.blockSize}, ${params.symmetric ? 'symmetric' : 'asymmetric'})`,
      `weights ${formatBytes(floatBytes)} → ${formatBytes(packedBytes)} (${(floatBytes / packedBytes).toFixed(1)}× smaller)`,
    ];
    if (excluded.length) notes.push(`excluded ${excluded.length}: ${excluded.join(', ')}`);
    for (const [why, k] of skipped) notes.push(`kept ${k} in float: ${why}`);
    return { model, notes, changes };
  },
});
