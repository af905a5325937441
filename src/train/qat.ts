import * as tf from '@tensorflow/tfjs';
import type { Model, Node } from '../onnx/ir';
import type { TensorRange } from '../passes/calibration';
import {
  computeQuantParams,
  nodeKey,
  quantizeWeight,
  roundHalfEven,
  WEIGHT_GRID,
  type QuantGrid,
} from '../passes/qdq';
import { useTrainingBackend, type TrainingBackend } from './backend';
import { pruningMasks } from './fineTune';
import { TrainableGraph, type ForwardHooks, type WeightUse } from './graph';
import {
  logitsTensor,
  trainGraph,
  type TrainConfig,
  type TrainingCheckpoint,
  type TrainingData,
  type TrainingOptions,
  type TrainingResult,
} from './trainer';

/** An integer grid and the affine map onto it: x ≈ (q − zeroPoint) · scale, q in [qmin, qmax]. */
export interface FakeQuantParams {
  /** A float32 value (as computeQuantParams returns it). */
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/**
 * On the CPU backend a broadcasting tfjs op over a large activation costs as much as a whole
 * quantization done in one JavaScript loop (see batchNorm.ts), so there the fake quantizers run as
 * plain loops with the export's own rounding and weight quantizer (qdq.ts); GPU backends run tfjs
 * ops. Both compute the same values (tested).
 */
const onCpu = () => tf.getBackend() === 'cpu' && !opsOnly;
let opsOnly = false;

/** Run the fake quantizers as tfjs ops on every backend (true), or as loops on the CPU backend (false). */
export function useFakeQuantOps(ops: boolean): void {
  opsOnly = ops;
}

/** 1 where x / scale lies on the grid's span [lo, hi] (in steps from the zero point), else 0. */
function insideMask(steps: tf.Tensor, lo: number, hi: number): tf.Tensor {
  return tf.logicalAnd(tf.greaterEqual(steps, lo), tf.lessEqual(steps, hi)).toFloat();
}

/**
 * Fake quantization: QuantizeLinear then DequantizeLinear in float, ((clamp(round(x / scale) + zp)) −
 * zp) · scale with the division in float32 and ties rounded to even, as onnxruntime computes them.
 * The gradient is the clipped straight-through estimator: dy where x falls inside the grid's range,
 * 0 where it is clipped.
 */
export function fakeQuantize(x: tf.Tensor, p: FakeQuantParams): tf.Tensor {
  const lo = p.qmin - p.zeroPoint;
  const hi = p.qmax - p.zeroPoint;
  const op = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    if (onCpu()) {
      const xs = input.dataSync() as Float32Array;
      const out = new Float32Array(xs.length);
      const inside = new Uint8Array(xs.length);
      for (let i = 0; i < xs.length; i++) {
        const steps = Math.fround(xs[i]! / p.scale);
        const q = roundHalfEven(steps);
        out[i] = (q < lo ? lo : q > hi ? hi : q) * p.scale;
        inside[i] = steps >= lo && steps <= hi ? 1 : 0;
      }
      return {
        value: tf.tensor(out, input.shape, 'float32'),
        gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
          const g = (dy as tf.Tensor).dataSync() as Float32Array;
          return tf.tensor(
            Float32Array.from(g, (v, i) => (inside[i] ? v : 0)),
            (dy as tf.Tensor).shape,
            'float32',
          );
        },
      };
    }
    const steps = tf.div(input, p.scale);
    save([steps]);
    return {
      value: tf.mul(tf.clipByValue(tf.round(steps), lo, hi), p.scale),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.mul(dy as tf.Tensor, insideMask(saved[0]!, lo, hi)),
    };
  });
  return op(x);
}

/**
 * Fake quantization of a weight as quantize-static stores it: symmetric int8 ([−127, 127], zero point
 * 0) with one scale per slice along `axis` (per channel) or one for the whole tensor, the scale being
 * the slice's largest |w| / 127 (1 for an all-zero slice). Nothing is clipped, so the gradient
 * passes straight through; the scale is treated as a constant.
 */
export function fakeQuantizeWeight(w: tf.Tensor, axis: number | undefined, grid = WEIGHT_GRID): tf.Tensor {
  const half = (grid.qmax - grid.qmin) / 2;
  const op = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor;
    const rank = input.rank;
    const a = axis === undefined ? undefined : axis < 0 ? axis + rank : axis;
    const gradFunc = (dy: tf.Tensor | tf.Tensor[]) => dy as tf.Tensor;
    if (onCpu()) {
      const q = quantizeWeight(input.dataSync(), input.shape, a, grid);
      const inner = a === undefined ? q.data.length : input.shape.slice(a + 1).reduce((x, y) => x * y, 1);
      const channels = q.scales.length;
      const out = Float32Array.from(q.data, (v, i) => v * q.scales[Math.floor(i / inner) % channels]!);
      return { value: tf.tensor(out, input.shape, 'float32'), gradFunc };
    }
    const others = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== a);
    const absMax = a === undefined ? tf.max(tf.abs(input)) : tf.max(tf.abs(input), others, true);
    const raw = tf.div(absMax, half);
    const scale = tf.where(tf.equal(raw, 0), tf.onesLike(raw), raw);
    return {
      value: tf.mul(tf.clipByValue(tf.round(tf.div(input, scale)), grid.qmin, grid.qmax), scale),
      gradFunc,
    };
  });
  return op(w);
}

/** How one weight operand is fake-quantized. */
export interface QatWeight {
  /** Channel axis (one scale per slice), or undefined for one scale per tensor. */
  axis?: number;
  /** Gemm's alpha: the stored weight is alpha · W (quantize-static folds alpha into the weight). */
  alpha: number;
}

/** What quantization-aware training simulates: the tensors and weights quantize-static will quantize. */
export interface QatSpec {
  /** Activation tensors to fake-quantize, each mapped to the tensor whose range it shares. */
  activations: ReadonlyMap<string, string>;
  /** Starting range of each shared tensor (from calibration). */
  ranges: ReadonlyMap<string, TensorRange>;
  /** Tensors whose range starts at 0 (ReLU outputs the quantizer absorbs). */
  nonNegative: ReadonlySet<string>;
  /** Integer grid of the activations. */
  grid: QuantGrid;
  /** Weight operands to fake-quantize, by {@link weightKey}. */
  weights: ReadonlyMap<string, QatWeight>;
  /**
   * 'calibrated' keeps the starting ranges; 'ema' moves them towards each training batch's min and
   * max (exponential moving average, as TensorFlow's and PyTorch's QAT observers do).
   */
  rangeUpdate: 'calibrated' | 'ema';
  /** EMA momentum: the share of the old range kept at each step. */
  momentum: number;
}

/** Key of a weight operand: the node's key (name, else first output) and the input index. */
export function weightKey(node: Node, input: number): string {
  return `${nodeKey(node)}|${input}`;
}

/** Quantization parameters of a shared range, exactly as quantize-static derives them. */
export function rangeParams(range: TensorRange, nonNegative: boolean, grid: QuantGrid): FakeQuantParams {
  const min = nonNegative ? 0 : range.min;
  const p = computeQuantParams(min, Math.max(range.max, min), grid);
  return { ...p, qmin: grid.qmin, qmax: grid.qmax };
}

/** Checkpoint entries holding a range ([min, max]) next to the weights. */
const RANGE_PREFIX = 'qat-range:';

/** The fake quantizers of one training run, with the ranges they use and (for EMA) update. */
export class QatQuantizer {
  /** Current range of each shared tensor. */
  readonly ranges: Map<string, TensorRange>;
  private readonly params = new Map<string, FakeQuantParams>();
  private pending: { root: string; minMax: tf.Tensor }[] = [];
  /** Ranges at the end of each epoch (1-based), so the kept epoch's ranges go with its weights. */
  private readonly byEpoch = new Map<number, Map<string, TensorRange>>();

  constructor(
    private readonly spec: QatSpec,
    /** Tensors fed to the graph through an Identity, mapped to the fed tensor. */
    private readonly aliases: ReadonlyMap<string, string> = new Map(),
  ) {
    this.ranges = new Map(spec.ranges);
  }

  private paramsOf(root: string): FakeQuantParams {
    let p = this.params.get(root);
    if (!p) {
      p = rangeParams(
        this.ranges.get(root) ?? { min: 0, max: 0 },
        this.spec.nonNegative.has(root),
        this.spec.grid,
      );
      this.params.set(root, p);
    }
    return p;
  }

  /** Forward hooks fake-quantizing the planned weights and activations. */
  hooks(): ForwardHooks {
    return {
      weight: (_name: string, t: tf.Tensor, use: WeightUse) => {
        const w = this.spec.weights.get(weightKey(use.node, use.input));
        if (!w) return t;
        if (w.alpha === 1) return fakeQuantizeWeight(t, w.axis);
        return tf.div(fakeQuantizeWeight(tf.mul(t, w.alpha), w.axis), w.alpha);
      },
      activation: (name: string, t: tf.Tensor) => {
        const tensor = this.aliases.get(name) ?? name;
        const root = this.spec.activations.get(tensor);
        // A tensor sharing another's range (MaxPool, Flatten, Reshape of it) holds values already on
        // that grid: quantizing it again would change no value, and float rounding at the top of the
        // range could wrongly stop gradients there.
        if (root !== tensor) return t;
        if (this.spec.rangeUpdate === 'ema')
          this.pending.push({ root, minMax: tf.keep(tf.stack([tf.min(t), tf.max(t)])) });
        return fakeQuantize(t, this.paramsOf(root));
      },
    };
  }

  /** After an optimizer step: fold the batch ranges the step saw into the moving averages. */
  afterStep(): void {
    const m = this.spec.momentum;
    for (const { root, minMax } of this.pending) {
      const [lo, hi] = minMax.dataSync();
      minMax.dispose();
      const r = this.ranges.get(root);
      this.ranges.set(
        root,
        r ? { min: m * r.min + (1 - m) * lo!, max: m * r.max + (1 - m) * hi! } : { min: lo!, max: hi! },
      );
    }
    if (this.pending.length) this.params.clear();
    this.pending = [];
  }

  /** Drop ranges measured by evaluation passes (they must not move the averages). */
  discardPending(): void {
    for (const p of this.pending) p.minMax.dispose();
    this.pending = [];
  }

  /** Record the ranges at the end of an epoch and put them in the checkpoint (current and best). */
  onEpoch(c: TrainingCheckpoint): void {
    this.discardPending();
    this.byEpoch.set(c.epoch, new Map(this.ranges));
    writeRanges(c.weights, this.ranges);
    const best = c.best && this.byEpoch.get(c.best.epoch);
    if (c.best && best) writeRanges(c.best.weights, best);
  }

  /** Continue from a checkpoint: its ranges, and those of its best epoch. */
  resume(c: TrainingCheckpoint): void {
    const current = readRanges(c.weights);
    for (const [k, v] of current) this.ranges.set(k, v);
    this.params.clear();
    this.byEpoch.set(c.epoch, new Map(this.ranges));
    if (c.best) {
      const best = readRanges(c.best.weights);
      if (best.size) this.byEpoch.set(c.best.epoch, best);
    }
  }

  /** Select the ranges of the epoch whose weights training kept. */
  keepEpoch(epoch: number): void {
    const kept = this.byEpoch.get(epoch);
    if (!kept) return;
    for (const [k, v] of kept) this.ranges.set(k, v);
    this.params.clear();
  }
}

/** Ranges go into the checkpoint's float32 map as the bytes of two float64s, so a resumed run continues exactly. */
function writeRanges(weights: Map<string, Float32Array>, ranges: ReadonlyMap<string, TensorRange>): void {
  for (const [k, r] of ranges)
    weights.set(RANGE_PREFIX + k, new Float32Array(Float64Array.of(r.min, r.max).buffer));
}

function readRanges(weights: ReadonlyMap<string, Float32Array>): Map<string, TensorRange> {
  const out = new Map<string, TensorRange>();
  for (const [k, v] of weights)
    if (k.startsWith(RANGE_PREFIX) && v.length === 4) {
      const [min, max] = new Float64Array(v.slice().buffer);
      out.set(k.slice(RANGE_PREFIX.length), { min: min!, max: max! });
    }
  return out;
}

/**
 * A copy of the model where each graph input that gets quantized passes through an Identity, so the
 * activation hook (called for tensors nodes produce) sees it. Returns the Identity outputs → inputs.
 */
export function tapQuantizedInputs(model: Model, tensors: ReadonlyMap<string, string>) {
  const copy = model.clone();
  const graph = copy.graph;
  const aliases = new Map<string, string>();
  for (const input of graph.feedInputs()) {
    if (!tensors.has(input.name) || graph.isGraphOutput(input.name)) continue;
    const tap = graph.uniqueName(`${input.name}_qat`);
    graph.insertAfter(input.name, {
      opType: 'Identity',
      name: graph.uniqueName(`${input.name}_qat_tap`),
      outputs: [tap],
    });
    aliases.set(tap, input.name);
  }
  return { model: copy, aliases };
}

export interface QatOptions extends Omit<TrainingOptions, 'logits' | 'afterStep' | 'hooks'> {
  backend?: TrainingBackend;
}

export interface QatResult {
  /** The float model with the trained weights (the QDQ export is the stage's job). */
  model: Model;
  /** The ranges the kept weights trained with, by shared tensor: export exactly these. */
  ranges: Map<string, TensorRange>;
  training: TrainingResult;
  /** Weight tensors whose pruning zeros were held fixed. */
  maskedTensors: number;
  parameters: number;
}

/**
 * Quantization-aware training: fine-tune the model's weights with the planned weights and
 * activations fake-quantized in the forward pass (straight-through gradients), pruning zeros kept.
 * Validation, keep-best and early stopping see the quantized model, and the ranges returned are
 * those of the kept epoch.
 */
export async function quantizationAwareTraining(
  model: Model,
  data: TrainingData,
  config: TrainConfig,
  spec: QatSpec,
  options: QatOptions = {},
): Promise<QatResult> {
  await useTrainingBackend(options.backend);
  const tapped = tapQuantizedInputs(model, spec.activations);
  const graph = TrainableGraph.build(tapped.model);
  const masks = pruningMasks(graph);
  const quantizer = new QatQuantizer(spec, tapped.aliases);
  if (options.resumeFrom) quantizer.resume(options.resumeFrom);
  try {
    const training = await trainGraph(graph, data, config, {
      ...options,
      logits: logitsTensor(graph, tapped.model),
      hooks: quantizer.hooks(),
      afterStep: () => {
        quantizer.afterStep();
        tf.tidy(() => masks.forEach((m, v) => v.assign(tf.mul(v, m))));
      },
      onEpoch: async (c) => {
        quantizer.onEpoch(c);
        await options.onEpoch?.(c);
      },
    });
    quantizer.keepEpoch(training.keptEpoch);
    const trained = graph.writeBack();
    for (const tap of tapped.aliases.keys()) {
      const node = trained.graph.producer(tap);
      if (node) trained.graph.bypassNode(node);
    }
    return {
      model: trained,
      ranges: new Map(quantizer.ranges),
      training,
      maskedTensors: masks.size,
      parameters: graph.parameterCount,
    };
  } finally {
    quantizer.discardPending();
    tf.dispose([...masks.values()]);
    graph.dispose();
  }
}
