import { DataType, dtypeInfo } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import type { Graph, Node } from '../onnx/ir';
import { summarizeModel, type ModelSummary } from '../onnx/summary';
import { inferShapes } from '../onnx/shapes';
import { elementCount, tensorDims, tensorToFloat64, type ExternalFiles } from '../onnx/tensor';
import type { TensorProto } from '../onnx/proto/onnx_pb';
import type { StageMetrics } from '../metrics/measure';
import { findStage } from '../passes/registry';
import type { Recipe } from '../pipeline/recipe';
import { sha256Hex, type StageResult } from '../pipeline/runner';
import { formatBytes, formatMs, formatPoints } from './format';
import { computeGraphPicture, type GraphPicture } from './graphPicture';

/** A pipeline result as the report holds it: everything but the model bytes. */
export type ReportStage = Omit<StageResult, 'modelBytes'>;

/** Where the numbers were measured. */
export interface ReportEnvironment {
  /** 'onnxruntime-web' or 'onnxruntime-node'. */
  runtime: string;
  runtimeVersion?: string;
  /** Execution provider: 'wasm', 'webgpu', 'cpu'. */
  backend: string;
  threads: number;
  /** The browser's user agent, or 'Node v20.19.0 (linux x64)'. */
  agent: string;
  /** What the models were evaluated on, e.g. '1,000 samples of mnist.json (evaluation split)'. */
  evaluation?: string;
}

/** A target device's limits; the title page says whether the final model fits. */
export interface ReportBudget {
  /** Largest model file (flash) in bytes. */
  flashBytes?: number;
  /** Largest peak activation memory (RAM) in bytes. */
  ramBytes?: number;
  /** Largest median latency in milliseconds. */
  latencyMs?: number;
  /** Largest accuracy loss against the original, as a fraction (0.01 = one percentage point). */
  accuracyDrop?: number;
}

/** One curve of a sensitivity analysis: how the metric moves when one layer alone is compressed. */
export interface SensitivityCurve {
  layer: string;
  points: { x: number; y: number }[];
}

export interface SensitivityData {
  /** What was varied, e.g. 'sparsity' or 'bits'. */
  parameter: string;
  /** What was measured, e.g. 'accuracy' or 'top-1 agreement'. */
  metric: string;
  /** How the axes print: fractions as percentages, or plain numbers. */
  xFormat: 'percent' | 'number';
  yFormat: 'percent' | 'number';
  curves: SensitivityCurve[];
}

/** One weighted layer of the final model: its weights' size, sparsity and storage type. */
export interface LayerRow {
  /** Node name (or `<op> #<index>` for unnamed nodes). */
  name: string;
  op: string;
  /** Shape of the layer's largest weight. */
  shape: number[];
  /** Elements of all the layer's weights. */
  parameters: number;
  /** Elements that are not zero (after the zero point, for quantized weights); null for decoded weights. */
  nonZeros: number | null;
  /**
   * Storage type of the largest weight ('float', 'int8', 'int4', 'float16'), or the types of the
   * tensors a decoded weight is computed from ('uint8+float').
   */
  dtype: string;
  /** Bits per stored element; null for decoded weights. */
  bits: number | null;
}

export interface ReportData {
  /** The model's file name as opened. */
  modelName: string;
  /** Whittle's version. */
  version: string;
  /** When the report was made (ISO 8601). */
  date: string;
  original: ModelSummary;
  /** The model of the last stage that finished. */
  final: ModelSummary;
  stages: ReportStage[];
  recipe: Recipe;
  environment: ReportEnvironment;
  budget?: ReportBudget;
  inputSha256: string;
  /** SHA-256 of the final stage's model as the pipeline produced it. */
  outputSha256: string;
  /** File name the final model is exported as. */
  exportName?: string;
  /**
   * SHA-256 of the exported file, when it differs from {@link outputSha256} (the export adds the
   * provenance metadata).
   */
  exportSha256?: string;
  sensitivity?: SensitivityData;
  /** Per-layer weights of the final model (shown when stages changed weights). */
  layers?: LayerRow[];
  graph?: GraphPicture;
  /** Why there is no graph picture (too large), when there is none. */
  graphNote?: string;
}

/** Index in `stages` of the last stage that finished with a measured model. */
export function finalStage(stages: readonly ReportStage[]): ReportStage | undefined {
  return [...stages].reverse().find((s) => s.status === 'done' && s.metrics);
}

export interface BudgetCheck {
  label: string;
  limit: string;
  actual: string;
  /** null when the run has no number to compare (no labels, not measured). */
  ok: boolean | null;
}

export interface BudgetVerdict {
  /** true: fits every limit; false: misses one; null: some limit could not be checked. */
  fits: boolean | null;
  checks: BudgetCheck[];
}

/**
 * The final model against a budget: file size against flash, peak activation memory against RAM,
 * median latency, and accuracy loss (top-1 agreement loss when there are no labels).
 */
export function budgetVerdict(
  budget: ReportBudget,
  original: StageMetrics | undefined,
  final: StageMetrics | undefined,
): BudgetVerdict {
  const format = { bytes: formatBytes, ms: formatMs, points: formatPoints };
  const checks: BudgetCheck[] = [];
  const add = (
    label: string,
    limit: string,
    actual: number | null | undefined,
    ok: boolean,
    text: (n: number) => string,
  ) =>
    checks.push({
      label,
      limit,
      actual: actual === null || actual === undefined ? '—' : text(actual),
      ok: actual === null || actual === undefined ? null : ok,
    });
  if (budget.flashBytes !== undefined) {
    const v = final?.bytes;
    add(
      'Model size (flash)',
      format.bytes(budget.flashBytes),
      v,
      (v ?? Infinity) <= budget.flashBytes,
      format.bytes,
    );
  }
  if (budget.ramBytes !== undefined) {
    const v = final?.peakActivationBytes;
    add(
      'Peak activations (RAM)',
      format.bytes(budget.ramBytes),
      v,
      (v ?? Infinity) <= budget.ramBytes,
      format.bytes,
    );
  }
  if (budget.latencyMs !== undefined) {
    const v = final?.latency.medianMs;
    add('Median latency', format.ms(budget.latencyMs), v, (v ?? Infinity) <= budget.latencyMs, format.ms);
  }
  if (budget.accuracyDrop !== undefined) {
    const labeled =
      original?.accuracy !== null &&
      original?.accuracy !== undefined &&
      final?.accuracy !== null &&
      final?.accuracy !== undefined;
    const drop = labeled ? original!.accuracy! - final!.accuracy! : final ? 1 - final.agreement : undefined;
    const valid = drop !== undefined && Number.isFinite(drop);
    add(
      labeled ? 'Accuracy loss' : 'Top-1 disagreement',
      format.points(budget.accuracyDrop),
      valid ? drop : undefined,
      valid && drop <= budget.accuracyDrop + 1e-12,
      format.points,
    );
  }
  const fits = checks.some((c) => c.ok === false) ? false : checks.some((c) => c.ok === null) ? null : true;
  return { fits, checks };
}

const quantizedWeightOps = new Set([
  'MatMulInteger',
  'ConvInteger',
  'QLinearConv',
  'QLinearMatMul',
  'MatMulNBits',
  'GatherBlockQuantized',
]);
const skippedOps = new Set(['QuantizeLinear', 'DequantizeLinear', 'Constant', 'Cast', 'Identity']);

interface Weight {
  tensor: TensorProto;
  /** Element i is zero when it equals zeroPoint(i). */
  zeroPoint: (i: number) => number;
}

/** A weight computed at run time from stored tensors (a codebook lookup, a decode chain). */
interface ComputedWeight {
  name: string;
  sources: TensorProto[];
}

function zeroPointOf(graph: Graph, dq: Node, x: TensorProto, external: ExternalFiles): (i: number) => number {
  const zpName = dq.inputs[2];
  const zp = zpName ? graph.initializers.get(zpName) : undefined;
  if (!zp) return () => 0;
  const zps = tensorToFloat64(zp, external);
  if (zps.length <= 1) return () => zps[0] ?? 0;
  const dims = tensorDims(x);
  const zdims = tensorDims(zp);
  const axisAttr = dq.proto.attribute.find((a) => a.name === 'axis');
  const axis = ((Number(axisAttr?.i ?? 1n) % dims.length) + dims.length) % dims.length;
  const stride = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (zdims.length <= 1) return (i) => zps[Math.floor(i / stride) % dims[axis]];
  // Blocked quantization: the zero point has the weight's rank with the axis divided into blocks.
  const block = Math.ceil(dims[axis] / zdims[axis]);
  return (i) => {
    const c = Math.floor(i / stride) % dims[axis];
    const outer = Math.floor(i / (stride * dims[axis]));
    return zps[(outer * zdims[axis] + Math.floor(c / block)) * stride + (i % stride)];
  };
}

/** The stored tensors a value is computed from when it depends on nothing else (null otherwise). */
function constantSources(
  graph: Graph,
  name: string,
  memo: Map<string, TensorProto[] | null>,
  depth = 0,
): TensorProto[] | null {
  const known = memo.get(name);
  if (known !== undefined) return known;
  const init = graph.initializers.get(name);
  let result: TensorProto[] | null = null;
  if (init) result = [init];
  else {
    const p = graph.producer(name);
    if (p && depth < 64) {
      if (p.opType === 'Constant') {
        const t = p.proto.attribute.find((a) => a.name === 'value')?.t;
        result = t ? [t] : [];
      } else if (p.inputs.some((x) => x)) {
        const parts = p.inputs.filter((x) => x).map((x) => constantSources(graph, x, memo, depth + 1));
        result = parts.every((x) => x !== null) ? [...new Set(parts.flat() as TensorProto[])] : null;
      }
    }
  }
  memo.set(name, result);
  return result;
}

/** The stored weights a node reads: float initializers, quantized ones behind DequantizeLinear, decoded ones. */
function nodeWeights(
  graph: Graph,
  node: Node,
  external: ExternalFiles,
  memo: Map<string, TensorProto[] | null>,
): { direct: Weight[]; computed: ComputedWeight[] } {
  const direct: Weight[] = [];
  const computed: ComputedWeight[] = [];
  for (const name of node.inputs) {
    if (!name) continue;
    const t = graph.initializers.get(name);
    if (t) {
      const info = dtypeInfo(t.dataType);
      if (info.float || quantizedWeightOps.has(node.opType)) direct.push({ tensor: t, zeroPoint: () => 0 });
      continue;
    }
    let p = graph.producer(name);
    if (p && p.opType === 'Cast' && graph.initializers.has(p.inputs[0])) {
      direct.push({ tensor: graph.initializers.get(p.inputs[0])!, zeroPoint: () => 0 });
      continue;
    }
    if (p && p.opType === 'Transpose') p = graph.producer(p.inputs[0]) ?? p;
    if (p && p.opType === 'DequantizeLinear' && graph.initializers.has(p.inputs[0])) {
      const x = graph.initializers.get(p.inputs[0])!;
      direct.push({ tensor: x, zeroPoint: zeroPointOf(graph, p, x, external) });
      continue;
    }
    const sources = constantSources(graph, name, memo);
    if (sources && sources.some((s) => dtypeInfo(s.dataType).float)) computed.push({ name, sources });
  }
  return { direct, computed };
}

/**
 * Per-layer weights of a model's main graph: every node (other than quantize/dequantize plumbing
 * and the nodes of constant decode chains) that reads stored weights, with their element count,
 * non-zeros and storage type. Weights decoded at run time (a k-means codebook lookup) are listed
 * with the types they are stored as, and no sparsity.
 */
export function layerRows(model: Model): LayerRow[] {
  const g = model.graph;
  const memo = new Map<string, TensorProto[] | null>();
  const facts = inferShapes(g);
  const rows: LayerRow[] = [];
  g.nodes.forEach((node, index) => {
    if (skippedOps.has(node.opType)) return;
    const inputs = node.inputs.filter((x) => x);
    if (inputs.length && inputs.every((x) => constantSources(g, x, memo) !== null)) return;
    const { direct, computed } = nodeWeights(g, node, model.external, memo);
    if (direct.length === 0 && computed.length === 0) return;
    const name = node.name || `${node.opType} #${index}`;
    if (computed.length) {
      const sources = [...new Set([...direct.map((w) => w.tensor), ...computed.flatMap((c) => c.sources)])];
      const shape = facts.get(computed[0].name)?.shape;
      rows.push({
        name,
        op: node.opType,
        shape:
          shape && shape.every((d) => typeof d === 'number') ? (shape as number[]) : tensorDims(sources[0]),
        parameters: sources.reduce((n, t) => n + elementCount(t.dims), 0),
        nonZeros: null,
        dtype: [...new Set(sources.map((t) => dtypeInfo(t.dataType).name))].join('+'),
        bits: null,
      });
      return;
    }
    let parameters = 0;
    let nonZeros = 0;
    let largest = direct[0].tensor;
    for (const w of direct) {
      const n = elementCount(w.tensor.dims);
      parameters += n;
      if (n > elementCount(largest.dims)) largest = w.tensor;
      try {
        const values = tensorToFloat64(w.tensor, model.external);
        for (let i = 0; i < values.length; i++) if (values[i] !== w.zeroPoint(i)) nonZeros++;
      } catch {
        nonZeros += n; // unreadable (external data missing): count as dense
      }
    }
    const info = dtypeInfo(largest.dataType);
    rows.push({
      name,
      op: node.opType,
      shape: tensorDims(largest),
      parameters,
      nonZeros,
      dtype: info.name,
      bits: info.bits,
    });
  });
  return rows;
}

/** Whether the per-layer table says something: some weights are sparse or not stored as float32. */
function layersWorthShowing(rows: readonly LayerRow[], stages: readonly ReportStage[]): boolean {
  const weightStages = stages.some(
    (s) =>
      s.status === 'done' &&
      s.stage &&
      ['prune', 'quantize', 'compress'].includes(findStage(s.stage)?.category ?? ''),
  );
  const changedWeights = rows.some(
    (r) => r.nonZeros === null || r.nonZeros < r.parameters || r.dtype !== dtypeInfo(DataType.FLOAT).name,
  );
  return rows.length > 0 && (weightStages || changedWeights);
}

/** What {@link buildReportData} needs: a finished run as the worker (or the CLI) holds it. */
export interface ReportRunInput {
  /** The model's file name as opened. */
  modelName: string;
  /** The pipeline's results; index 0 and the final stage must carry their model bytes. */
  results: readonly StageResult[];
  recipe: Recipe;
  environment: ReportEnvironment;
  version: string;
  /** ISO 8601; now when left out. */
  date?: string;
  external?: ExternalFiles;
  budget?: ReportBudget;
  sensitivity?: SensitivityData;
  /** The final model as exported (`exportStageModel`): its file name and bytes (for the hash). */
  exported?: { fileName: string; bytes: Uint8Array };
  /** Draw the final graph (default true; graphs above {@link GraphPictureLimit} nodes are skipped). */
  graph?: boolean;
}

/**
 * Everything the report shows, from a finished pipeline run: summaries of the original and final
 * models, their hashes, per-layer weights, the graph picture (laid out with ELK), the stage
 * results without their model bytes. Plain data: it crosses worker boundaries.
 */
export async function buildReportData(input: ReportRunInput): Promise<ReportData> {
  const originalResult = input.results.find((r) => r.index === 0);
  if (!originalResult?.modelBytes)
    throw new Error('the report needs the original model (stage 0) with its bytes');
  const stages: ReportStage[] = input.results.map(({ modelBytes: _bytes, ...rest }) => rest);
  const last =
    [...input.results].reverse().find((r) => r.status === 'done' && r.metrics && r.modelBytes) ??
    originalResult;
  const originalModel = Model.decode(originalResult.modelBytes, input.external);
  const finalModel = last === originalResult ? originalModel : Model.decode(last.modelBytes!, input.external);
  const inputSha256 = originalResult.modelHash ?? (await sha256Hex(originalResult.modelBytes));
  const outputSha256 = last.modelHash ?? (await sha256Hex(last.modelBytes!));
  const exportSha256 = input.exported ? await sha256Hex(input.exported.bytes) : undefined;
  const rows = layerRows(finalModel);
  const data: ReportData = {
    modelName: input.modelName,
    version: input.version,
    date: input.date ?? new Date().toISOString(),
    original: summarizeModel(originalModel, originalResult.modelBytes.byteLength),
    final: summarizeModel(finalModel, last.modelBytes!.byteLength),
    stages,
    recipe: input.recipe,
    environment: input.environment,
    budget: input.budget,
    inputSha256,
    outputSha256,
    exportSha256: exportSha256 !== outputSha256 ? exportSha256 : undefined,
    exportName: input.exported?.fileName,
    sensitivity: input.sensitivity,
    layers: layersWorthShowing(rows, stages) ? rows : undefined,
  };
  if (input.graph !== false) {
    const picture = await computeGraphPicture(originalModel, finalModel, stages);
    if ('note' in picture) data.graphNote = picture.note;
    else data.graph = picture;
  }
  return data;
}
