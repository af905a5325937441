import { Model } from '../onnx/ir';
import { valueInfo } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import type { RtTensor, Runtime } from '../runtime/types';

/** How an activation's quantization range is chosen from the calibration samples (DOMAIN.md "Quantization"). */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

/** The float range a tensor is quantized to. */
export interface TensorRange {
  min: number;
  max: number;
}

/** Sees one tensor's values sample by sample and proposes a range; never keeps the values themselves. */
export interface Calibrator {
  observe(values: ArrayLike<number>): void;
  range(): TensorRange;
  /** Finite values seen so far. */
  readonly count: number;
}

/** The exact minimum and maximum. */
export class MinMaxCalibrator implements Calibrator {
  private lo = Infinity;
  private hi = -Infinity;
  count = 0;

  observe(values: ArrayLike<number>): void {
    let lo = this.lo;
    let hi = this.hi;
    let n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      n++;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.lo = lo;
    this.hi = hi;
    this.count += n;
  }

  range(): TensorRange {
    return this.count ? { min: this.lo, max: this.hi } : { min: 0, max: 0 };
  }
}

/**
 * A histogram that grows with the data without ever revisiting it: bins of width w (a power of two)
 * anchored at 0, `binsPerSide` on each side of zero. When a value falls outside, w doubles and
 * neighbouring bins merge exactly, so the final histogram is the same whatever the order and
 * batching of the values (streaming equals all-at-once).
 */
export class StreamingHistogram {
  /** Bin k (from −binsPerSide to binsPerSide − 1) counts values in [k·w, (k+1)·w), at index k + binsPerSide. */
  readonly counts: Float64Array;
  /** Bin width; 0 until a non-zero value arrives. */
  width = 0;
  min = Infinity;
  max = -Infinity;
  count = 0;
  private pendingZeros = 0;

  constructor(readonly binsPerSide = 2048) {
    if (!Number.isInteger(Math.log2(binsPerSide))) throw new RangeError('binsPerSide must be a power of two');
    this.counts = new Float64Array(2 * binsPerSide);
  }

  add(values: ArrayLike<number>): void {
    let absMax = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      const a = Math.abs(v);
      if (a > absMax) absMax = a;
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      this.count++;
    }
    if (absMax > 0) this.fit(absMax);
    const B = this.binsPerSide;
    const w = this.width;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      if (w === 0) this.pendingZeros++;
      else this.counts[Math.floor(v / w) + B]++;
    }
  }

  /** Widen the bins until |v| ≤ absMax fits: the smallest power of two w with absMax < binsPerSide · w. */
  private fit(absMax: number): void {
    const B = this.binsPerSide;
    if (this.width === 0) {
      let w = 2 ** Math.ceil(Math.log2(absMax / B));
      while (absMax >= B * w) w *= 2;
      while (w > Number.MIN_VALUE && absMax < (B * w) / 2) w /= 2;
      this.width = w;
      this.counts[B] += this.pendingZeros;
      this.pendingZeros = 0;
      return;
    }
    while (absMax >= B * this.width) {
      const merged = new Float64Array(2 * B);
      for (let k = -B; k < B; k++) merged[Math.floor(k / 2) + B] += this.counts[k + B];
      this.counts.set(merged);
      this.width *= 2;
    }
  }

  /** Lower edge of bin k. */
  edge(k: number): number {
    return k * this.width;
  }
}

/**
 * Clip at a percentile: cuts (100 − p) / 2 percent of the values from each end (onnxruntime's
 * non-symmetric percentile calibration), never beyond the observed min and max.
 */
export class PercentileCalibrator implements Calibrator {
  readonly histogram: StreamingHistogram;

  constructor(
    readonly percentile = 99.999,
    binsPerSide = 2048,
  ) {
    if (!(percentile > 0 && percentile <= 100)) throw new RangeError('percentile must be in (0, 100]');
    this.histogram = new StreamingHistogram(binsPerSide);
  }

  get count(): number {
    return this.histogram.count;
  }

  observe(values: ArrayLike<number>): void {
    this.histogram.add(values);
  }

  range(): TensorRange {
    const h = this.histogram;
    if (h.count === 0) return { min: 0, max: 0 };
    if (h.width === 0 || this.percentile === 100) return { min: h.min, max: h.max };
    const B = h.binsPerSide;
    const tail = ((100 - this.percentile) / 200) * h.count;
    let lowBin = -B;
    let cum = 0;
    for (let k = -B; k < B; k++) {
      cum += h.counts[k + B];
      if (cum > tail) {
        lowBin = k;
        break;
      }
    }
    let highBin = B - 1;
    cum = 0;
    for (let k = B - 1; k >= -B; k--) {
      cum += h.counts[k + B];
      if (cum > tail) {
        highBin = k;
        break;
      }
    }
    return { min: Math.max(h.min, h.edge(lowBin)), max: Math.min(h.max, h.edge(highBin + 1)) };
  }
}

/** KL divergence of P from Q (both unnormalized), with Q floored so that mass Q cannot represent costs a lot. */
function klDivergence(p: Float64Array, q: Float64Array): number {
  let ps = 0;
  let qs = 0;
  for (let i = 0; i < p.length; i++) {
    ps += p[i];
    qs += q[i];
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    const pi = p[i] / ps;
    const qi = Math.max(q[i] / qs, 1e-12);
    kl += pi * Math.log(pi / qi);
  }
  return kl;
}

/**
 * The KL divergence between a slice of the histogram (with the mass beyond it folded into its edge
 * bins) and the same slice quantized to `levels` levels (TensorRT's entropy calibration).
 */
function sliceDivergence(
  hist: Float64Array,
  from: number,
  to: number,
  levels: number,
  maxClipped: number,
): number {
  const n = to - from;
  const p = hist.slice(from, to);
  let left = 0;
  let right = 0;
  let inside = 0;
  for (let i = 0; i < from; i++) left += hist[i];
  for (let i = to; i < hist.length; i++) right += hist[i];
  for (const v of p) inside += v;
  // A window that leaves out the bulk of the values can look "close" once both sides are normalized.
  if (left + right > maxClipped * (left + right + inside)) return Infinity;
  p[0] += left;
  p[n - 1] += right;
  const q = new Float64Array(n);
  for (let j = 0; j < levels; j++) {
    const start = Math.floor((j * n) / levels);
    const end = Math.floor(((j + 1) * n) / levels);
    let sum = 0;
    let nonZero = 0;
    for (let i = start; i < end; i++) {
      sum += hist[from + i];
      if (p[i] !== 0) nonZero++;
    }
    if (nonZero === 0) continue;
    for (let i = start; i < end; i++) if (p[i] !== 0) q[i] = sum / nonZero;
  }
  return klDivergence(p, q);
}

/**
 * Entropy (KL) calibration: the clipping threshold whose quantized histogram loses the least
 * information. One-sided ([0, T]) for non-negative tensors (after ReLU), symmetric ([−T, T]) otherwise.
 */
export class EntropyCalibrator implements Calibrator {
  readonly histogram: StreamingHistogram;

  constructor(
    /** Quantization levels of the target type (256 for 8 bits). */
    readonly levels = 256,
    binsPerSide = 2048,
    /** Thresholds tried at most (evenly spaced bins between the smallest and the max). */
    readonly candidates = 512,
    /** Largest share of the values a threshold may clip. */
    readonly maxClipped = 0.001,
  ) {
    this.histogram = new StreamingHistogram(binsPerSide);
  }

  get count(): number {
    return this.histogram.count;
  }

  observe(values: ArrayLike<number>): void {
    this.histogram.add(values);
  }

  range(): TensorRange {
    const h = this.histogram;
    if (h.count === 0) return { min: 0, max: 0 };
    if (h.width === 0) return { min: h.min, max: h.max };
    const B = h.binsPerSide;
    // The spike of exact zeros (ReLU outputs, padding) would dominate the divergence and hide the
    // tail; like NVIDIA's entropy calibrator, the zero bin counts as much as its neighbour.
    const counts = h.counts.slice();
    counts[B] = counts[B + 1];
    if (h.min >= 0) {
      const hist = counts.subarray(B);
      const last = Math.floor(h.max / h.width) + 1;
      const t = this.bestCut(
        last,
        (i) => sliceDivergence(hist, 0, i, this.levels, this.maxClipped),
        this.levels,
      );
      return { min: h.min, max: Math.min(h.max, t * h.width) };
    }
    if (h.max <= 0) {
      // All negative: the mirror image of the one-sided case (bin −1 − k holds [−(k+1)w, −kw)).
      const hist = counts.slice(0, B).reverse();
      const last = Math.floor(-h.min / h.width) + 1;
      const t = this.bestCut(
        Math.min(B, last),
        (i) => sliceDivergence(hist, 0, i, this.levels, this.maxClipped),
        this.levels,
      );
      return { min: Math.max(h.min, -t * h.width), max: h.max };
    }
    const reach = Math.min(B, Math.max(Math.floor(Math.max(-h.min, h.max) / h.width) + 1, 1));
    // The range actually quantized is [−T, T] cut to the data's own extent (activations are
    // asymmetric), so each candidate is judged on that window with all the levels spread over it.
    const lowest = B + Math.floor(h.min / h.width);
    const highest = B + Math.floor(h.max / h.width) + 1;
    const t = this.bestCut(
      reach,
      (i) => {
        const from = Math.max(lowest, B - i);
        const to = Math.min(highest, B + i);
        return to - from < 2 ? Infinity : sliceDivergence(counts, from, to, this.levels, this.maxClipped);
      },
      Math.ceil(this.levels / 2),
    );
    return { min: Math.max(h.min, -t * h.width), max: Math.min(h.max, t * h.width) };
  }

  /** The bin count i in [first, last] with the smallest divergence (ties keep the wider range). */
  private bestCut(last: number, divergence: (i: number) => number, first: number): number {
    if (last <= first) return last;
    const stride = Math.max(1, Math.floor((last - first) / this.candidates));
    let best = last;
    let bestKl = divergence(last);
    for (let i = first; i < last; i += stride) {
      const kl = divergence(i);
      if (kl < bestKl) {
        bestKl = kl;
        best = i;
      }
    }
    return best;
  }
}

export interface CalibratorOptions {
  /** For 'percentile': the percentile kept (default 99.999). */
  percentile?: number;
  /** For 'entropy': quantization levels (default 256). */
  levels?: number;
}

export function createCalibrator(method: CalibrationMethod, options: CalibratorOptions = {}): Calibrator {
  switch (method) {
    case 'minmax':
      return new MinMaxCalibrator();
    case 'percentile':
      return new PercentileCalibrator(options.percentile ?? 99.999);
    case 'entropy':
      return new EntropyCalibrator(options.levels ?? 256);
  }
}

/** Calibration inputs, produced one at a time so that only one sample is in memory. */
export interface SampleSource {
  count: number;
  feeds(i: number): Record<string, RtTensor>;
}

export interface CalibrationRunOptions extends CalibratorOptions {
  method: CalibrationMethod;
  signal?: AbortSignal;
  progress?: (done: number, total: number, note?: string) => void;
}

/** A copy of the model that also returns `tensors` (intermediate activations) as outputs. */
export function withExtraOutputs(model: Model, tensors: readonly string[]): Model {
  const copy = new Model(model.toProto(), model.external);
  const g = copy.graph;
  const outputs = new Set(g.outputs.map((o) => o.name));
  for (const t of tensors) if (!outputs.has(t)) g.outputs.push(valueInfo(t, DataType.FLOAT));
  g.invalidate();
  return copy;
}

/**
 * Range of every tensor in `tensors` over the samples: the float model runs once per sample in ONE
 * session with those tensors exposed as extra outputs; each sample's activations update the
 * calibrators and are dropped before the next sample runs.
 */
export async function calibrateActivations(
  model: Model,
  tensors: readonly string[],
  runtime: Runtime,
  samples: SampleSource,
  options: CalibrationRunOptions,
): Promise<Map<string, TensorRange>> {
  const calibrators = new Map(tensors.map((t) => [t, createCalibrator(options.method, options)]));
  if (tensors.length === 0) return new Map();
  const capture = withExtraOutputs(model, tensors);
  const session = await runtime.createSession(capture.encode(), { externalData: model.external });
  try {
    for (let i = 0; i < samples.count; i++) {
      options.signal?.throwIfAborted();
      const out = await session.run(samples.feeds(i), tensors);
      for (const t of tensors) {
        const v = out[t];
        if (
          v &&
          !Array.isArray(v.data) &&
          !(v.data instanceof BigInt64Array) &&
          !(v.data instanceof BigUint64Array)
        )
          calibrators.get(t)!.observe(v.data);
      }
      options.progress?.(i + 1, samples.count, `calibrating (${options.method})`);
    }
  } finally {
    await session.release();
  }
  return new Map([...calibrators].map(([t, c]) => [t, c.range()]));
}

/** Options of {@link featureMoments}. */
export interface MomentRunOptions {
  /** Tensors with at most this many features also get the full matrix E[x·xᵀ] (default 1024). */
  fullUpTo?: number;
  /** Rows (vectors along the last axis) the full matrix is accumulated over at most (default 8192). */
  maxRows?: number;
  signal?: AbortSignal;
  progress?: (done: number, total: number, note?: string) => void;
}

/** Second moments of a tensor's features (its last axis). */
export interface FeatureMoments {
  features: number;
  /** E[x_k²] over every row of every sample. */
  meanSquares: Float64Array;
  /** E[x·xᵀ] (features × features, row-major) over the rows sampled, when the tensor is narrow enough. */
  gram?: Float64Array;
}

/**
 * Second moments of the features (last axis) of each tensor in `tensors`: E[x_k²] over every row of
 * every sample, and, for tensors with at most `fullUpTo` features, the matrix E[x·xᵀ] over an even
 * share of at most `maxRows` rows (what GPTQ needs; its cost grows with features² per row). Streams
 * like {@link calibrateActivations}: one session, one sample's activations in memory at a time.
 */
export async function featureMoments(
  model: Model,
  tensors: readonly string[],
  runtime: Runtime,
  samples: SampleSource,
  options: MomentRunOptions = {},
): Promise<Map<string, FeatureMoments>> {
  const fullUpTo = options.fullUpTo ?? 1024;
  const maxRows = options.maxRows ?? 8192;
  const acc = new Map<
    string,
    { squares: Float64Array; rows: number; gram?: Float64Array; gramRows: number }
  >();
  if (tensors.length === 0) return new Map();
  const capture = withExtraOutputs(model, tensors);
  const session = await runtime.createSession(capture.encode(), { externalData: model.external });
  const rowsPerSample = Math.max(1, Math.floor(maxRows / samples.count));
  try {
    for (let i = 0; i < samples.count; i++) {
      options.signal?.throwIfAborted();
      const out = await session.run(samples.feeds(i), tensors);
      for (const t of tensors) {
        const v = out[t];
        if (!v || !(v.data instanceof Float32Array) || v.dims.length === 0) continue;
        const features = v.dims[v.dims.length - 1];
        let a = acc.get(t);
        if (!a) {
          a = {
            squares: new Float64Array(features),
            rows: 0,
            gram: features <= fullUpTo ? new Float64Array(features * features) : undefined,
            gramRows: 0,
          };
          acc.set(t, a);
        }
        if (a.squares.length !== features) continue;
        const data = v.data;
        const rows = data.length / features;
        for (let at = 0; at < data.length; at += features)
          for (let f = 0; f < features; f++) a.squares[f] += data[at + f] * data[at + f];
        a.rows += rows;
        if (a.gram) {
          const stride = Math.max(1, Math.floor(rows / rowsPerSample));
          for (let r = 0; r < rows; r += stride) {
            const at = r * features;
            for (let p = 0; p < features; p++) {
              const xp = data[at + p];
              if (xp === 0) continue;
              const row = p * features;
              for (let q = p; q < features; q++) a.gram[row + q] += xp * data[at + q];
            }
            a.gramRows++;
          }
        }
      }
      options.progress?.(i + 1, samples.count, 'measuring input features');
    }
  } finally {
    await session.release();
  }
  const result = new Map<string, FeatureMoments>();
  for (const [t, a] of acc) {
    const features = a.squares.length;
    let gram: Float64Array | undefined;
    if (a.gram && a.gramRows > 0) {
      gram = a.gram;
      for (let p = 0; p < features; p++)
        for (let q = p; q < features; q++) {
          const m = gram[p * features + q] / a.gramRows;
          gram[p * features + q] = m;
          gram[q * features + p] = m;
        }
    }
    result.set(t, { features, meanSquares: a.squares.map((v) => v / Math.max(1, a.rows)), gram });
  }
  return result;
}
