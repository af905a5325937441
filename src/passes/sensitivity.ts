import type { Model } from '../onnx/ir';
import type { RtTensor } from '../runtime/types';
import { summarizeModel } from '../onnx/summary';
import { generateInputs, type DimDefaults } from '../runtime/inputs';
import { addFidelity, argmax, fidelityResult, newFidelity } from '../metrics/fidelity';
import type { StageContext } from './types';
import {
  applyStatic,
  calibratePlan,
  planStatic,
  prepareStatic,
  quantizeStaticParams,
  type PreparedModel,
} from './quantizeStatic';
import { quantizeDynamic, quantizeDynamicParams } from './quantizeDynamic';
import { quantizeInt4, quantizeInt4Params } from './quantizeInt4';
import { nodeKey } from './qdq';

/** Stages whose layers can be analysed one at a time. */
export type SensitivityStage = 'quantize-static' | 'quantize-dynamic' | 'quantize-int4';

/** What quantizing one layer alone costs. */
export interface LayerSensitivity {
  /** Node name (as in exclude lists). */
  node: string;
  opType: string;
  /**
   * Points lost with only this layer quantized: accuracy points when the data has labels, otherwise
   * disagreement points (100 · (1 − top-1 agreement with the float model)).
   */
  loss: number;
  /** Accuracy (0–1) with only this layer quantized, or null without labels. */
  accuracy: number | null;
  /** Top-1 agreement with the float model (0–1). */
  agreement: number;
  /** Signal-to-quantization-noise ratio of the outputs in dB (higher is better). */
  sqnrDb: number;
}

export interface SensitivityResult {
  stage: SensitivityStage;
  /** What `loss` measures. */
  metric: 'accuracy' | 'agreement';
  /** Accuracy of the float model on the same samples, or null without labels. */
  baselineAccuracy: number | null;
  /** Samples every layer was evaluated on. */
  samples: number;
  /** Most sensitive first: by loss, then by lower SQNR. */
  layers: LayerSensitivity[];
}

export interface SensitivityOptions {
  stage: SensitivityStage;
  /** The stage's parameters (defaults fill the rest); its exclude list is honoured. */
  params?: Record<string, unknown>;
  /** Evaluation samples at most (the dataset's evaluation split, or generated inputs without data). */
  samples?: number;
  /** Sizes for symbolic input dimensions of generated inputs. */
  dims?: DimDefaults;
}

/** Quantizes a model with a chosen set of layers left in float; calibration (if any) happens once. */
interface LayerQuantizer {
  layers: { node: string; opType: string }[];
  build(exclude: readonly string[]): Promise<Model>;
}

async function staticQuantizer(
  model: Model,
  raw: Record<string, unknown>,
  ctx: StageContext,
): Promise<LayerQuantizer> {
  const params = quantizeStaticParams.parse(raw);
  const prepared = prepareStatic(model, params);
  const full = planStatic(prepared, params);
  if (full.nodes.length === 0) throw new Error('quantize-static: the model has no quantizable operator');
  const ranges = await calibratePlan(prepared, full, params, ctx);
  return {
    layers: full.nodes.map((p) => ({ node: p.key, opType: p.node.opType })),
    async build(exclude) {
      const copy: PreparedModel = { ...prepared, model: prepared.model.clone() };
      const plan = planStatic(copy, { ...params, exclude: [...params.exclude, ...exclude] });
      applyStatic(copy, plan, ranges, params);
      return copy.model;
    },
  };
}

async function stageQuantizer(
  model: Model,
  stage: 'quantize-dynamic' | 'quantize-int4',
  raw: Record<string, unknown>,
  ctx: StageContext,
): Promise<LayerQuantizer> {
  const definition = stage === 'quantize-dynamic' ? quantizeDynamic : quantizeInt4;
  const params = (stage === 'quantize-dynamic' ? quantizeDynamicParams : quantizeInt4Params).parse(raw);
  const quiet = { ...ctx, progress: () => {} };
  const all = await definition.run(model, params, quiet);
  const quantized = new Set(all.changes.filter((c) => c.kind === 'quantized').map((c) => c.node));
  const opOf = new Map(model.graph.nodes.map((n) => [nodeKey(n), n.opType]));
  return {
    layers: [...quantized].map((node) => ({ node, opType: opOf.get(node) ?? '' })),
    async build(exclude) {
      const r = await definition.run(model, { ...params, exclude: [...params.exclude, ...exclude] }, quiet);
      return r.model;
    },
  };
}

/** The evaluation samples and the float model's outputs on them. */
interface Reference {
  feeds: Record<string, RtTensor>[];
  labels?: number[];
  outputs: RtTensor[][];
  accuracy: number | null;
}

async function runAll(
  model: Model,
  feeds: Record<string, RtTensor>[],
  ctx: StageContext,
): Promise<RtTensor[][]> {
  const session = await ctx.runtime.createSession(model.encode(), { externalData: model.external });
  try {
    const out: RtTensor[][] = [];
    for (const f of feeds) {
      ctx.signal.throwIfAborted();
      const r = await session.run(f);
      out.push(session.outputNames.map((n) => r[n]));
    }
    return out;
  } finally {
    await session.release();
  }
}

function accuracyOf(outputs: RtTensor[][], labels: number[] | undefined): number | null {
  if (!labels) return null;
  let correct = 0;
  outputs.forEach((o, i) => {
    if (!Array.isArray(o[0].data) && argmax(o[0].data as ArrayLike<number>) === labels[i]) correct++;
  });
  return correct / outputs.length;
}

async function reference(model: Model, options: SensitivityOptions, ctx: StageContext): Promise<Reference> {
  const limit = options.samples ?? 200;
  const data = ctx.data;
  let feeds: Record<string, RtTensor>[];
  let labels: number[] | undefined;
  if (data && data.splits.evaluation.length) {
    const samples = data.splits.evaluation.slice(0, limit).map((i) => data.sample(i));
    feeds = samples.map((s) => s.feeds);
    if (data.hasLabels) labels = samples.map((s) => s.label ?? -1);
  } else {
    const inputs = summarizeModel(model, 0).inputs;
    feeds = Array.from({ length: Math.min(limit, 32) }, (_, k) =>
      generateInputs(inputs, options.dims, k + 1),
    );
  }
  const outputs = await runAll(model, feeds, ctx);
  return { feeds, labels, outputs, accuracy: accuracyOf(outputs, labels) };
}

async function evaluate(model: Model, ref: Reference, ctx: StageContext) {
  const outputs = await runAll(model, ref.feeds, ctx);
  const acc = newFidelity();
  outputs.forEach((o, i) => addFidelity(acc, ref.outputs[i], o));
  const fidelity = fidelityResult(acc);
  const accuracy = accuracyOf(outputs, ref.labels);
  const loss =
    accuracy !== null && ref.accuracy !== null
      ? (ref.accuracy - accuracy) * 100
      : (1 - fidelity.agreement) * 100;
  return { accuracy, agreement: fidelity.agreement, sqnrDb: fidelity.sqnrDb, loss };
}

/** Sort most sensitive first: larger loss, then lower SQNR. */
export function sortBySensitivity(layers: LayerSensitivity[]): LayerSensitivity[] {
  return [...layers].sort((a, b) => b.loss - a.loss || a.sqnrDb - b.sqnrDb);
}

/**
 * Per-layer sensitivity: quantize one layer at a time (with the stage's own rules, calibrating once
 * for static quantization), measure its accuracy (or agreement) loss and SQNR against the float
 * model, and return the layers most sensitive first.
 */
export async function analyzeSensitivity(
  model: Model,
  options: SensitivityOptions,
  ctx: StageContext,
): Promise<SensitivityResult> {
  const raw = options.params ?? {};
  const quantizer =
    options.stage === 'quantize-static'
      ? await staticQuantizer(model, raw, ctx)
      : await stageQuantizer(model, options.stage, raw, ctx);
  const ref = await reference(model, options, ctx);
  const names = quantizer.layers.map((l) => l.node);
  const layers: LayerSensitivity[] = [];
  for (const [i, layer] of quantizer.layers.entries()) {
    ctx.signal.throwIfAborted();
    const only = await quantizer.build(names.filter((n) => n !== layer.node));
    layers.push({ ...layer, ...(await evaluate(only, ref, ctx)) });
    ctx.progress(i + 1, quantizer.layers.length, `layer ${layer.node}`);
  }
  return {
    stage: options.stage,
    metric: ref.accuracy !== null ? 'accuracy' : 'agreement',
    baselineAccuracy: ref.accuracy,
    samples: ref.feeds.length,
    layers: sortBySensitivity(layers),
  };
}

/** "Keep the N most sensitive layers in float": the exclude list. */
export function excludeMostSensitive(layers: readonly LayerSensitivity[], n: number): string[] {
  return sortBySensitivity([...layers])
    .slice(0, Math.max(0, Math.floor(n)))
    .map((l) => l.node);
}

/**
 * "Keep as many layers quantized as the budget allows": exclude the most sensitive layers until the
 * summed per-layer losses of the layers still quantized are at most `maxLossPoints`. An estimate
 * (losses are assumed to add up); {@link verifyExcludeWithinBudget} measures it.
 */
export function excludeWithinBudget(layers: readonly LayerSensitivity[], maxLossPoints: number): string[] {
  const sorted = sortBySensitivity([...layers]);
  let remaining = sorted.reduce((s, l) => s + Math.max(0, l.loss), 0);
  const exclude: string[] = [];
  for (const l of sorted) {
    if (remaining <= maxLossPoints + 1e-9) break;
    exclude.push(l.node);
    remaining -= Math.max(0, l.loss);
  }
  return exclude;
}

/**
 * The budget check measured instead of estimated: starting from {@link excludeWithinBudget}, quantize
 * everything else, measure the loss, and keep excluding the next most sensitive layer until the
 * whole model is within `maxLossPoints` of the float model (or every layer is excluded).
 */
export async function verifyExcludeWithinBudget(
  model: Model,
  result: SensitivityResult,
  maxLossPoints: number,
  options: SensitivityOptions,
  ctx: StageContext,
): Promise<{ exclude: string[]; loss: number; accuracy: number | null; agreement: number; sqnrDb: number }> {
  const raw = options.params ?? {};
  const quantizer =
    options.stage === 'quantize-static'
      ? await staticQuantizer(model, raw, ctx)
      : await stageQuantizer(model, options.stage, raw, ctx);
  const ref = await reference(model, options, ctx);
  const order = result.layers.map((l) => l.node);
  let k = excludeWithinBudget(result.layers, maxLossPoints).length;
  for (; ; k++) {
    ctx.signal.throwIfAborted();
    const exclude = order.slice(0, k);
    const candidate = k >= order.length ? model : await quantizer.build(exclude);
    const m = await evaluate(candidate, ref, ctx);
    ctx.progress(k + 1, order.length + 1, `${k} layer${k === 1 ? '' : 's'} in float`);
    if (m.loss <= maxLossPoints + 1e-9 || k >= order.length) return { exclude, ...m };
  }
}
