import { z } from 'zod';
import { deflateSync, gzipSync } from 'fflate';
import { defineStage, type NodeChange, type StageContext } from './types';
import type { Model } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { floatToHalf } from '../onnx/tensor';
import { countParameters } from '../onnx/summary';
import { findWeights, replaceWeight, weightValues, WEIGHT_OPS, type StoredWeight } from './weights';
import { compareProbe, describeProbe, probeSet, runProbe, type ProbeResult, type ProbeSet } from './probe';
import type { RtTensor } from '../runtime/types';
import type { DimDefaults } from '../runtime/inputs';
import { describeTraining, hostedTraining, labelledTrainingData } from './trainParams';

export const pruneMagnitudeParams = z.object({
  sparsity: z
    .number()
    .min(0)
    .max(0.99)
    .default(0.5)
    .describe('Fraction of the weights to set to zero, smallest magnitudes first (0–0.99).'),
  scope: z
    .enum(['layer', 'global'])
    .default('layer')
    .describe(
      'layer: every layer reaches the target sparsity; global: one magnitude threshold for all layers, so layers with small weights lose more.',
    ),
  minSize: z
    .number()
    .int()
    .min(0)
    .default(1024)
    .describe(
      'Leave weight tensors with fewer elements than this dense (small layers are the most sensitive).',
    ),
  exclude: z.array(z.string()).default([]).describe('Names of layers (nodes) whose weights stay untouched.'),
  steps: z
    .number()
    .int()
    .min(1)
    .max(20)
    .default(1)
    .describe(
      'Prune gradually in this many steps (cubic schedule) and measure after each; without fine-tuning in between the result equals one step.',
    ),
  ops: z
    .array(z.enum(WEIGHT_OPS))
    .default([...WEIGHT_OPS])
    .describe('Operators whose weight tensors are pruned.'),
  samples: z
    .number()
    .int()
    .min(0)
    .max(64)
    .default(4)
    .describe('Samples to measure fidelity on after each step when steps > 1 (0: do not measure).'),
  fineTuneEpochs: z
    .number()
    .int()
    .min(0)
    .max(20)
    .default(0)
    .describe(
      'Fine-tune this many epochs on the labelled training split after each step, pruned weights held at zero (0: no training). Gradual pruning wants 10–20 % per step, e.g. 5 steps to 80 %.',
    ),
  fineTuneLearningRate: z
    .number()
    .min(1e-6)
    .max(1)
    .default(1e-3)
    .describe('Adam learning rate of the fine-tuning between steps (cosine decay within each step).'),
});
export type PruneMagnitudeParams = z.output<typeof pruneMagnitudeParams>;

/** Magnitude of a float32 as its IEEE bits without the sign: ordered like |x| (NaN after +Inf). */
function magnitudeBits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}
const ABS = 0x7fffffff;

/** Where to cut: zero every magnitude below `bits`, plus the first `ties` elements equal to it. */
export interface Cut {
  bits: number;
  ties: number;
}

/**
 * The cut that zeroes exactly `k` elements of the given arrays taken together (radix selection of
 * the k-th smallest magnitude: two histogram passes, no sorting).
 */
export function cutForCount(arrays: readonly Float32Array[], k: number): Cut {
  if (k <= 0) return { bits: 0, ties: 0 };
  const high = new Float64Array(65536);
  for (const a of arrays) {
    const u = magnitudeBits(a);
    for (let i = 0; i < u.length; i++) high[(u[i] & ABS) >>> 16]++;
  }
  let before = 0;
  let h = 0;
  for (; h < 65536; h++) {
    if (before + high[h] >= k) break;
    before += high[h];
  }
  if (h === 65536) return { bits: 0x7fffffff, ties: 0 };
  const low = new Float64Array(65536);
  for (const a of arrays) {
    const u = magnitudeBits(a);
    for (let i = 0; i < u.length; i++) {
      const b = u[i] & ABS;
      if (b >>> 16 === h) low[b & 0xffff]++;
    }
  }
  let l = 0;
  for (; l < 65536; l++) {
    if (before + low[l] >= k) break;
    before += low[l];
  }
  return { bits: ((h << 16) | l) >>> 0, ties: k - before };
}

/** Zero the elements a cut selects, in place; `ties` is how many equal-to-threshold elements may still go. Returns the ties used. */
function applyCut(values: Float32Array, cut: Cut, ties: number): number {
  const u = magnitudeBits(values);
  let used = 0;
  for (let i = 0; i < u.length; i++) {
    const b = u[i] & ABS;
    if (b < cut.bits) values[i] = 0;
    else if (b === cut.bits && used < ties) {
      values[i] = 0;
      used++;
    }
  }
  return used;
}

function zeros(values: Float32Array): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) n++;
  return n;
}

interface Layer {
  weight: StoredWeight;
  values: Float32Array;
}

/** Prune layers in place to `sparsity` (per layer or with one global threshold). */
function pruneLayers(layers: readonly Layer[], sparsity: number, scope: 'layer' | 'global'): void {
  if (scope === 'layer') {
    for (const l of layers) {
      const cut = cutForCount([l.values], Math.round(sparsity * l.values.length));
      applyCut(l.values, cut, cut.ties);
    }
    return;
  }
  const total = layers.reduce((s, l) => s + l.values.length, 0);
  const cut = cutForCount(
    layers.map((l) => l.values),
    Math.round(sparsity * total),
  );
  let ties = cut.ties;
  for (const l of layers) ties -= applyCut(l.values, cut, ties);
}

/** Target sparsity after step `i` of `n` (Zhu & Gupta's cubic schedule: large steps first, small last). */
export function scheduleSparsity(target: number, i: number, n: number): number {
  return target * (1 - (1 - i / n) ** 3);
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export interface PrunedLayer {
  /** Stored tensor name. */
  name: string;
  nodes: string[];
  elements: number;
  /** Fraction of zeros after pruning (0–1). */
  sparsity: number;
}

export interface MagnitudePruneResult {
  model: Model;
  layers: PrunedLayer[];
  notes: string[];
  changes: NodeChange[];
}

function parse(params: Partial<PruneMagnitudeParams>): PruneMagnitudeParams {
  return pruneMagnitudeParams.parse(params);
}

function skippedNotes(skipped: Map<string, number>): string[] {
  return [...skipped].map(([why, n]) => `left ${n} weight tensor${n === 1 ? '' : 's'} dense: ${why}`);
}

/**
 * Prune a copy of the model (no measuring): the core of the stage, also used by the sparsity sweep
 * and the studio's slider. `onStep` runs after each step with the current model.
 */
export async function pruneMagnitudeModel(
  model: Model,
  params: Partial<PruneMagnitudeParams>,
  onStep?: (step: number, target: number, model: Model) => Promise<string | undefined>,
): Promise<MagnitudePruneResult> {
  const p = parse(params);
  const out = model.clone();
  const { weights, skipped } = findWeights(out, { ops: p.ops, exclude: p.exclude, minSize: p.minSize });
  const layers: Layer[] = weights.map((weight) => ({ weight, values: weightValues(weight, out) }));
  const before = layers.map((l) => zeros(l.values));
  const notes: string[] = [];
  const changed = new Set<Layer>();
  const write = () => {
    layers.forEach((l, i) => {
      if (changed.has(l) || zeros(l.values) !== before[i]) {
        replaceWeight(l.weight, l.values);
        changed.add(l);
      }
    });
  };
  for (let step = 1; step <= p.steps; step++) {
    const target = p.steps === 1 ? p.sparsity : scheduleSparsity(p.sparsity, step, p.steps);
    pruneLayers(layers, target, p.scope);
    if (onStep) {
      write();
      const z = layers.reduce((s, l) => s + zeros(l.values), 0);
      const n = layers.reduce((s, l) => s + l.values.length, 0);
      const extra = await onStep(step, target, out);
      notes.push(
        `step ${step}/${p.steps}: target ${pct(target)}, reached ${pct(n ? z / n : 0)}${extra ? `; ${extra}` : ''}`,
      );
    }
  }
  write();
  const result: PrunedLayer[] = layers.map((l) => ({
    name: l.weight.name,
    nodes: l.weight.users.map((u) => u.name),
    elements: l.values.length,
    sparsity: zeros(l.values) / l.values.length,
  }));
  const changes: NodeChange[] = [];
  for (const l of result)
    for (const n of l.nodes) changes.push({ node: n, kind: 'pruned', detail: pct(l.sparsity) });
  const total = result.reduce((s, l) => s + l.elements, 0);
  const zeroed = result.reduce((s, l) => s + Math.round(l.sparsity * l.elements), 0);
  notes.unshift(
    `pruned ${result.length} weight tensor${result.length === 1 ? '' : 's'} (${p.scope === 'global' ? 'one global threshold' : 'per layer'}): ${zeroed.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} weights are zero (${pct(total ? zeroed / total : 0)})`,
  );
  const parameters = countParameters(out.graph);
  if (parameters)
    notes.push(
      `the pruned layers' zeros are ${pct(zeroed / parameters)} of all ${parameters.toLocaleString('en-US')} parameters`,
    );
  notes.push(...skippedNotes(skipped));
  return { model: out, layers: result, notes, changes };
}

export const pruneMagnitude = defineStage({
  id: 'prune-magnitude',
  title: 'Prune weights (magnitude)',
  description:
    'Set the smallest weights of Conv, Gemm and MatMul layers to zero: same shapes, but the file compresses better and sparse kernels skip the zeros.',
  category: 'prune',
  params: pruneMagnitudeParams,
  trains: true,
  async run(model, params, ctx) {
    let probe: { set: ProbeSet; reference: RtTensor[][] } | undefined;
    let failed = false;
    const measure = async (step: number, _target: number, current: Model): Promise<string | undefined> => {
      ctx.signal.throwIfAborted();
      ctx.progress(step, params.steps, `step ${step} of ${params.steps}`);
      if (params.samples === 0 || failed) return undefined;
      try {
        if (!probe) {
          const set = probeSet(model, params.samples, ctx.data);
          probe = { set, reference: await runProbe(ctx.runtime, model, set, ctx.signal) };
        }
        const outputs = await runProbe(ctx.runtime, current, probe.set, ctx.signal);
        return describeProbe(compareProbe(probe.reference, outputs, probe.set.labels));
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        failed = true;
        return `not measured (${e instanceof Error ? e.message : String(e)})`;
      }
    };
    if (params.fineTuneEpochs > 0) return pruneWithFineTuning(model, params, ctx);
    const r = await pruneMagnitudeModel(model, params, params.steps > 1 ? measure : undefined);
    return { model: r.model, notes: r.notes, changes: r.changes };
  },
});

/**
 * Gradual pruning with fine-tuning between steps: prune to the step's target (cubic schedule; the
 * zeros already there count), then train with the zeros held fixed, and so on. Needs labels.
 */
async function pruneWithFineTuning(model: Model, params: PruneMagnitudeParams, ctx: StageContext) {
  const dataset = labelledTrainingData(ctx, 'Pruning with fine-tuning');
  const [{ fineTuneModel }, { trainingData }, { DEFAULT_TRAIN_CONFIG }] = await Promise.all([
    import('../train/fineTune'),
    import('../train/data'),
    import('../train/trainer'),
  ]);
  const data = trainingData(dataset);
  let current = model;
  let last: MagnitudePruneResult | undefined;
  const notes: string[] = [];
  for (let step = 1; step <= params.steps; step++) {
    ctx.signal.throwIfAborted();
    const target =
      params.steps === 1 ? params.sparsity : scheduleSparsity(params.sparsity, step, params.steps);
    last = await pruneMagnitudeModel(current, { ...params, sparsity: target, steps: 1 });
    const phase = `step ${step}/${params.steps} (${pct(target)})`;
    const hosted = await hostedTraining(ctx, phase);
    const r = await fineTuneModel(
      last.model,
      data,
      {
        ...DEFAULT_TRAIN_CONFIG,
        epochs: params.fineTuneEpochs,
        learningRate: params.fineTuneLearningRate,
        batchNorm: 'frozen',
        seed: step,
      },
      { ...hosted, backend: ctx.training?.backend },
    );
    notes.push(describeTraining(`${phase} fine-tune`, r.training, hosted.resumedAt));
    current = r.model;
  }
  await ctx.training?.checkpoints?.clear();
  // Report sparsity of the final model the same way one-shot pruning does.
  const final = await pruneMagnitudeModel(current, { ...params, steps: 1 });
  return { model: current, notes: [...final.notes, ...notes], changes: final.changes };
}

// ---------------------------------------------------------------------------------------------
// Live estimate for the studio's slider

export interface PruneEstimate {
  /** Serialized size: unchanged by unstructured pruning (the tensors stay dense). */
  bytes: number;
  /** Estimated gzip size of the pruned model. */
  gzipBytes: number;
  /** gzip size of the unpruned model the estimate starts from. */
  originalGzipBytes: number;
  /** Zeros over the pruned layers' weights (0–1). */
  sparsity: number;
  /** Zeros over all parameters of the model (0–1). */
  overallSparsity: number;
  layers: PrunedLayer[];
  /** Time the estimate took. */
  ms: number;
}

interface EstimatorLayer {
  weight: StoredWeight;
  values: Float32Array;
  zeros: number;
  /** Evenly spaced chunks of the weight used to estimate its compressed size. */
  sample: Float32Array;
  sampledCompressed: number;
}

const CHUNK = 1024;

function sampleOf(values: Float32Array, chunks: number): Float32Array {
  if (values.length <= chunks * CHUNK) return values.slice();
  const out = new Float32Array(chunks * CHUNK);
  for (let c = 0; c < chunks; c++) {
    const start = Math.floor((c * (values.length - CHUNK)) / Math.max(1, chunks - 1));
    out.set(values.subarray(start, start + CHUNK), c * CHUNK);
  }
  return out;
}

function storedBytes(values: Float32Array, dataType: number): Uint8Array {
  if (dataType === DataType.FLOAT16) {
    const h = Uint16Array.from(values, (v) => floatToHalf(v));
    return new Uint8Array(h.buffer);
  }
  if (dataType === DataType.DOUBLE) return new Uint8Array(Float64Array.from(values).buffer);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function compressedSize(values: Float32Array, dataType: number): number {
  return deflateSync(storedBytes(values, dataType), { level: 6 }).byteLength;
}

/**
 * Estimates the effect of magnitude pruning without building a model: thresholds are found by
 * radix selection over the weights, and the compressed size by deflating evenly spaced samples of
 * each pruned tensor (about `sampleBytes` in all) and scaling by the tensor's size. Build it once
 * per model (it copies the weights), then call {@link estimate} as the slider moves.
 */
export class PruneEstimator {
  private readonly layers: EstimatorLayer[];
  private readonly baseline: number;
  private readonly parameters: number;
  private readonly bytes: number;

  constructor(model: Model, options: { baselineGzipBytes?: number; sampleBytes?: number } = {}) {
    const encoded = model.encode();
    this.bytes = encoded.byteLength;
    this.parameters = countParameters(model.graph);
    const { weights } = findWeights(model, {});
    const all = weights.map((weight) => ({ weight, values: weightValues(weight, model) }));
    const totalElements = all.reduce((s, l) => s + l.values.length, 0);
    const budget = (options.sampleBytes ?? 512 * 1024) / 4;
    this.layers = all.map(({ weight, values }) => {
      const chunks = Math.max(1, Math.round((budget * values.length) / Math.max(1, totalElements) / CHUNK));
      const sample = sampleOf(values, chunks);
      return {
        weight,
        values,
        zeros: zeros(values),
        sample,
        sampledCompressed: compressedSize(sample, weight.tensor.dataType),
      };
    });
    this.baseline = options.baselineGzipBytes ?? gzipSync(encoded, { level: 6 }).byteLength;
  }

  estimate(params: Partial<PruneMagnitudeParams>): PruneEstimate {
    const t0 = performance.now();
    const p = parse(params);
    const ops = new Set<string>(p.ops);
    const exclude = new Set(p.exclude);
    const eligible = this.layers.filter(
      (l) =>
        l.values.length >= p.minSize &&
        l.weight.users.every((u) => ops.has(u.opType)) &&
        !l.weight.users.some((u) => exclude.has(u.name)),
    );
    const cuts: { layer: EstimatorLayer; cut: Cut; zeros: number }[] = [];
    if (p.scope === 'layer')
      for (const l of eligible) {
        const k = Math.round(p.sparsity * l.values.length);
        cuts.push({ layer: l, cut: cutForCount([l.values], k), zeros: Math.max(k, l.zeros) });
      }
    else {
      const total = eligible.reduce((s, l) => s + l.values.length, 0);
      const k = Math.round(p.sparsity * total);
      const cut = cutForCount(
        eligible.map((l) => l.values),
        k,
      );
      let ties = cut.ties;
      for (const l of eligible) {
        const u = magnitudeBits(l.values);
        let below = 0;
        let equal = 0;
        for (let i = 0; i < u.length; i++) {
          const b = u[i] & ABS;
          if (b < cut.bits) below++;
          else if (b === cut.bits) equal++;
        }
        const t = Math.min(ties, equal);
        ties -= t;
        cuts.push({ layer: l, cut, zeros: below + t });
      }
    }
    let gzip = this.baseline;
    let zeroed = 0;
    let total = 0;
    const layers: PrunedLayer[] = [];
    for (const { layer, cut, zeros: z } of cuts) {
      const n = layer.values.length;
      const pruned = layer.sample.slice();
      applyCut(pruned, cut, 0);
      const scale = n / layer.sample.length;
      gzip += (compressedSize(pruned, layer.weight.tensor.dataType) - layer.sampledCompressed) * scale;
      const zs = Math.max(z, layer.zeros);
      zeroed += zs;
      total += n;
      layers.push({
        name: layer.weight.name,
        nodes: layer.weight.users.map((u) => u.name),
        elements: n,
        sparsity: zs / n,
      });
    }
    const otherZeros = this.layers.filter((l) => !eligible.includes(l)).reduce((s, l) => s + l.zeros, 0);
    return {
      bytes: this.bytes,
      gzipBytes: Math.round(gzip),
      originalGzipBytes: this.baseline,
      sparsity: total ? zeroed / total : 0,
      overallSparsity: this.parameters ? (zeroed + otherZeros) / this.parameters : 0,
      layers,
      ms: performance.now() - t0,
    };
  }
}

const estimators = new WeakMap<Model, PruneEstimator>();

/**
 * Estimated gzip size and per-layer sparsity of `model` pruned with `params`, without building the
 * pruned model. The first call on a model prepares an estimator (kept while the model lives).
 */
export function estimatePrune(
  model: Model,
  params: Partial<PruneMagnitudeParams>,
  options?: { baselineGzipBytes?: number },
): PruneEstimate {
  let e = estimators.get(model);
  if (!e) {
    e = new PruneEstimator(model, options);
    estimators.set(model, e);
  }
  return e.estimate(params);
}

// ---------------------------------------------------------------------------------------------
// Sparsity sweep

export interface SweepPoint {
  sparsity: number;
  /** Zeros over the pruned layers actually reached. */
  achieved: number;
  bytes: number;
  gzipBytes: number;
  fidelity: ProbeResult;
  /** The pruned model, when asked for. */
  model?: Uint8Array;
}

export interface SweepOptions {
  /** Other pruning parameters (scope, minSize, exclude, ops). */
  params?: Partial<PruneMagnitudeParams>;
  /** Samples to measure on (dataset evaluation split or generated inputs). */
  samples?: number;
  dims?: DimDefaults;
  keepModels?: boolean;
}

/**
 * Prune at each sparsity and measure fidelity to the unpruned model (and accuracy with labels) on a
 * few samples: the accuracy-vs-sparsity curve the user picks the knee from.
 */
export async function sparsitySweep(
  model: Model,
  sparsities: readonly number[],
  ctx: Pick<StageContext, 'runtime' | 'data'> & Partial<Pick<StageContext, 'signal' | 'progress'>>,
  options: SweepOptions = {},
): Promise<SweepPoint[]> {
  const set = probeSet(model, options.samples ?? 16, ctx.data, options.dims);
  const reference = await runProbe(ctx.runtime, model, set, ctx.signal);
  const points: SweepPoint[] = [];
  for (const [i, sparsity] of sparsities.entries()) {
    ctx.signal?.throwIfAborted();
    ctx.progress?.(i, sparsities.length, `sparsity ${pct(sparsity)}`);
    const r = await pruneMagnitudeModel(model, { ...options.params, sparsity, steps: 1 });
    const bytes = r.model.encode();
    const outputs = await runProbe(ctx.runtime, bytes, set, ctx.signal);
    const total = r.layers.reduce((s, l) => s + l.elements, 0);
    const zeroed = r.layers.reduce((s, l) => s + l.sparsity * l.elements, 0);
    points.push({
      sparsity,
      achieved: total ? zeroed / total : 0,
      bytes: bytes.byteLength,
      gzipBytes: gzipSync(bytes, { level: 6 }).byteLength,
      fidelity: compareProbe(reference, outputs, set.labels),
      model: options.keepModels ? bytes : undefined,
    });
  }
  ctx.progress?.(sparsities.length, sparsities.length);
  return points;
}
