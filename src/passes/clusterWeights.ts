import { z } from 'zod';
import { gzipSync } from 'fflate';
import { defineStage, type NodeChange } from './types';
import type { Graph, Model } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { makeAttr } from '../onnx/builder';
import { makeTensor, tensorArray, tensorBytes, tensorDims } from '../onnx/tensor';
import { findWeights, weightValues, WEIGHT_OPS, type StoredWeight } from './weights';
import { kmeans1d } from './kmeans';
import { toTensorProto } from './evaluate';

export const clusterWeightsParams = z.object({
  clusters: z
    .number()
    .int()
    .min(2)
    .max(256)
    .default(16)
    .describe(
      'Distinct values per weight tensor (k of k-means): 16 or fewer are stored as 4-bit indices, up to 256 as 8-bit.',
    ),
  minSize: z
    .number()
    .int()
    .min(0)
    .default(1024)
    .describe(
      'Leave weight tensors with fewer elements than this as they are (a codebook would not pay off).',
    ),
  exclude: z.array(z.string()).default([]).describe('Names of layers whose weights stay untouched.'),
  ops: z
    .array(z.enum(WEIGHT_OPS))
    .default([...WEIGHT_OPS])
    .describe('Operators whose weight tensors are clustered.'),
  keepZeros: z
    .boolean()
    .default(true)
    .describe(
      'When a tensor has zeros (e.g. after pruning), keep one centroid at exactly 0 so they stay zero.',
    ),
  seed: z
    .number()
    .int()
    .default(0)
    .describe('Seed of the k-means++ initialization (same seed, same result).'),
});
export type ClusterWeightsParams = z.output<typeof clusterWeightsParams>;

/** How the indices of one layer are stored. */
type IndexFormat = 'uint4' | 'nibbles' | 'uint8';

/** Packs 4-bit values two per byte, low nibble first (ONNX's UINT4 layout). */
function packUint4(indices: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(indices.length / 2));
  for (let i = 0; i < indices.length; i++) out[i >> 1] |= (indices[i] & 15) << ((i & 1) * 4);
  return out;
}

/**
 * Packs two 4-bit indices per byte for opsets without UINT4: the first half of the tensor along
 * axis 0 in the low nibbles, the second half in the high nibbles, so that unpacking and
 * concatenating along axis 0 gives back the weight's shape without a Reshape.
 */
function packHalves(indices: ArrayLike<number>): Uint8Array {
  const half = indices.length / 2;
  const out = new Uint8Array(half);
  for (let i = 0; i < half; i++) out[i] = (indices[i] & 15) | ((indices[half + i] & 15) << 4);
  return out;
}

class Decoder {
  private sixteen?: string;
  constructor(
    readonly graph: Graph,
    readonly opset: number,
  ) {}

  private init(
    base: string,
    dataType: number,
    dims: number[],
    data: Uint8Array | BigInt64Array | Int32Array,
  ): string {
    const name = this.graph.uniqueName(base);
    this.graph.addInitializer(makeTensor(name, dataType, dims, data));
    return name;
  }

  private node(opType: string, inputs: string[], output: string, attrs: Record<string, number> = {}) {
    // Unnamed: a few bytes per node matter when the layer itself shrinks to a few hundred.
    return this.graph.addNode(
      {
        opType,
        inputs,
        outputs: [output],
        name: '',
        attributes: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)),
      },
      this.graph.nodes.length ? { before: this.graph.nodes[0] } : undefined,
    );
  }

  /**
   * Nodes that rebuild `w` from a codebook and indices: Gather(codebook, Cast(indices → int32)).
   * onnxruntime folds them into a constant when the session loads, so inference is as fast as before.
   */
  decode(w: StoredWeight, codebook: Float32Array, indices: ArrayLike<number>): IndexFormat {
    const dims = w.tensor.dims.map(Number);
    const base = w.name;
    const cb = this.graph.uniqueName(`${base}/cb`);
    this.graph.addInitializer(
      toTensorProto(cb, {
        dataType: w.tensor.dataType,
        dims: [codebook.length],
        data: Float64Array.from(codebook),
      }),
    );
    const out = (suffix: string) => this.graph.uniqueName(`${base}/${suffix}`);
    // Nodes are inserted at the front one by one, so they are created last-first.
    if (codebook.length <= 16 && this.opset >= 21) {
      const idx = this.init(`${base}/q`, DataType.UINT4, dims, packUint4(indices));
      const cast = out('i');
      this.node('Gather', [cb, cast], base);
      this.node('Cast', [idx], cast, { to: DataType.INT32 });
      return 'uint4';
    }
    if (codebook.length <= 16 && dims.length > 0 && dims[0] % 2 === 0) {
      const half = [dims[0] / 2, ...dims.slice(1)];
      const packed = this.init(`${base}/q`, DataType.UINT8, half, packHalves(indices));
      this.sixteen ??= this.init('cluster/16', DataType.INT32, [], Int32Array.of(16));
      const [p32, hi, lo, idx] = [out('p'), out('h'), out('l'), out('i')];
      this.node('Gather', [cb, idx], base);
      this.node('Concat', [lo, hi], idx, { axis: 0 });
      if (this.opset >= 10) this.node('Mod', [p32, this.sixteen], lo);
      else {
        const hi16 = out('h16');
        this.node('Sub', [p32, hi16], lo);
        this.node('Mul', [hi, this.sixteen], hi16);
      }
      this.node('Div', [p32, this.sixteen], hi);
      this.node('Cast', [packed], p32, { to: DataType.INT32 });
      return 'nibbles';
    }
    const idx = this.init(`${base}/q`, DataType.UINT8, dims, Uint8Array.from(indices));
    const cast = out('i');
    this.node('Gather', [cb, cast], base);
    this.node('Cast', [idx], cast, { to: DataType.INT32 });
    return 'uint8';
  }
}

function sqnrDb(values: Float32Array, codebook: Float32Array, indices: ArrayLike<number>): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i] * values[i];
    e += (values[i] - codebook[indices[i]]) ** 2;
  }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

/**
 * Int8 weights of a quantized (QDQ) model: initializers read by a DequantizeLinear whose output is
 * a Conv / ConvTranspose / Gemm / MatMul weight. Clustering keeps them int8 (snapped to k integer
 * levels) so onnxruntime still fuses the integer kernels; the gain is in the compressed file.
 */
function clusterQuantizedWeights(
  model: Model,
  params: ClusterWeightsParams,
): { name: string; elements: number; levels: number; users: string[] }[] {
  const graph = model.graph;
  const out: { name: string; elements: number; levels: number; users: string[] }[] = [];
  for (const dq of graph.nodes) {
    if (dq.opType !== 'DequantizeLinear') continue;
    const name = dq.inputs[0]!;
    const t = graph.initializers.get(name);
    if (!t || (t.dataType !== DataType.INT8 && t.dataType !== DataType.UINT8)) continue;
    const users = graph
      .consumers(dq.outputs[0]!)
      .filter(
        (u) =>
          (WEIGHT_OPS as readonly string[]).includes(u.opType) &&
          params.ops.includes(u.opType as (typeof WEIGHT_OPS)[number]),
      )
      .filter((u) => u.inputs.indexOf(dq.outputs[0]!) >= (u.opType === 'MatMul' ? 0 : 1))
      .filter((u) => !params.exclude.includes(u.name));
    const bytes = tensorBytes(t, model.external);
    if (!users.length || bytes.length < params.minSize) continue;
    const signed = t.dataType === DataType.INT8;
    const values = Float32Array.from(
      signed ? new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length) : bytes,
    );
    const zeroPoint = dq.inputs[2] ? graph.initializers.get(dq.inputs[2]) : undefined;
    // The integer that dequantizes to 0 must stay a level, so pruned weights stay zero.
    const zp = zeroPoint ? Number(tensorArray(zeroPoint, model.external)[0] ?? 0) : 0;
    const hasZeros = params.keepZeros && values.some((v) => v === zp);
    const km = kmeans1d(
      values.map((v) => v - zp),
      params.clusters,
      { seed: params.seed, fixedZero: hasZeros },
    );
    const lo = signed ? -128 : 0;
    const hi = signed ? 127 : 255;
    const levels = Array.from(km.centroids, (c) => Math.min(hi, Math.max(lo, Math.round(c + zp))));
    const snapped = signed ? new Int8Array(values.length) : new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) snapped[i] = levels[km.assignments[i]!]!;
    graph.addInitializer(makeTensor(name, t.dataType, tensorDims(t), snapped));
    out.push({
      name,
      elements: values.length,
      levels: new Set(levels).size,
      users: users.map((u) => u.name),
    });
  }
  return out;
}

export const clusterWeights = defineStage({
  id: 'cluster-weights',
  title: 'Cluster weights (k-means)',
  description:
    'Replace each weight tensor by at most k shared values: 4- or 8-bit indices plus a small codebook, decoded by a Gather that onnxruntime folds at load time.',
  category: 'compress',
  params: clusterWeightsParams,
  async run(input, params, ctx) {
    const before = input.encode();
    const model: Model = input.clone();
    const opset = model.opsetVersion('') ?? 13;
    const { weights, skipped } = findWeights(model, {
      ops: params.ops,
      exclude: params.exclude,
      minSize: params.minSize,
    });
    const decoders = new Map<Graph, Decoder>();
    const changes: NodeChange[] = [];
    const formats = new Map<IndexFormat, number>();
    let worst = Infinity;
    let clustered = 0;
    for (const [i, w] of weights.entries()) {
      ctx.signal.throwIfAborted();
      ctx.progress(i, weights.length, w.name);
      const values = weightValues(w, model);
      const hasZeros = params.keepZeros && values.some((v) => v === 0);
      const km = kmeans1d(values, params.clusters, { seed: params.seed, fixedZero: hasZeros });
      let decoder = decoders.get(w.graph);
      if (!decoder) {
        decoder = new Decoder(w.graph, opset);
        decoders.set(w.graph, decoder);
      }
      if (w.constantNode) w.graph.removeNode(w.constantNode);
      else w.graph.removeInitializer(w.name);
      const format = decoder.decode(w, km.centroids, km.assignments);
      formats.set(format, (formats.get(format) ?? 0) + 1);
      const sqnr = sqnrDb(values, km.centroids, km.assignments);
      worst = Math.min(worst, sqnr);
      clustered += values.length;
      for (const u of w.users)
        changes.push({
          node: u.name,
          kind: 'quantized',
          detail: `${km.centroids.length} shared values (${format === 'uint8' ? '8' : '4'}-bit indices), weight SQNR ${Number.isFinite(sqnr) ? sqnr.toFixed(1) : '∞'} dB`,
        });
    }
    const quantized = clusterQuantizedWeights(model, params);
    for (const q of quantized) {
      clustered += q.elements;
      for (const u of q.users)
        changes.push({ node: u, kind: 'quantized', detail: `int8 weights on ${q.levels} shared levels` });
    }
    const after = model.encode();
    const gzBefore = gzipSync(before, { level: 6 }).byteLength;
    const gzAfter = gzipSync(after, { level: 6 }).byteLength;
    const formatNames: Record<IndexFormat, string> = {
      uint4: 'UINT4 tensors (opset 21)',
      nibbles: 'two 4-bit indices per uint8, unpacked with Div and Mod (opset < 21)',
      uint8: 'uint8',
    };
    const notes = [
      `clustered ${weights.length} weight tensor${weights.length === 1 ? '' : 's'} (${clustered.toLocaleString('en-US')} weights) to at most ${params.clusters} values each${weights.length ? `; worst weight SQNR ${Number.isFinite(worst) ? worst.toFixed(1) : '∞'} dB` : ''}`,
      `file ${kb(before.byteLength)} → ${kb(after.byteLength)} (${((after.byteLength / before.byteLength) * 100).toFixed(1)}%), gzip ${kb(gzBefore)} → ${kb(gzAfter)} (${((gzAfter / gzBefore) * 100).toFixed(1)}%)`,
      ...[...formats].map(
        ([f, n]) =>
          `${n} tensor${n === 1 ? '' : 's'} with indices stored as ${formatNames[f]}; decoded by Gather(codebook, indices)`,
      ),
      ...(quantized.length
        ? [
            `clustered ${quantized.length} int8 weight tensor${quantized.length === 1 ? '' : 's'} of the quantized model in place (at most ${params.clusters} levels each, zero kept): same integer kernels, fewer distinct bytes for compression`,
          ]
        : []),
      ...[...skipped].map(([why, n]) => `left ${n} weight tensor${n === 1 ? '' : 's'} as they were: ${why}`),
    ];
    ctx.progress(weights.length, weights.length);
    return { model, notes, changes };
  },
});
