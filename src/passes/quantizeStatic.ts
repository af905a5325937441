import { z } from 'zod';
import { defineStage, type NodeChange, type StageContext } from './types';
import type { Graph, Model, Node } from '../onnx/ir';
import { DataType, dtypeName } from '../onnx/dtype';
import type { ExternalFiles } from '../onnx/tensor';
import { attr, makeAttr } from '../onnx/builder';
import { inferShapes, type ValueFacts } from '../onnx/shapes';
import type { Dataset } from '../data/dataset';
import { calibrateActivations, type SampleSource, type TensorRange } from './calibration';
import { opsetNote, raiseOpset } from './opsetUpgrade';
import {
  activationGrid,
  addConstant,
  addDequantizedConstant,
  addQuantParams,
  assertFloatModel,
  BIAS_GRID,
  biasWeightScaleFloor,
  computeQuantParams,
  floatConstant,
  foldBiasAdds,
  foldScaleMuls,
  insertActivationQdq,
  nodeKey,
  quantizeBias,
  quantizeValue,
  quantizeWeight,
  removeUnusedConstants,
  WEIGHT_GRID,
  type QuantParams,
} from './qdq';

/** Operators quantize-static can quantize (each fuses into an integer kernel in onnxruntime). */
export const STATIC_OPS = [
  'Conv',
  'Gemm',
  'MatMul',
  'Add',
  'Mul',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Concat',
  'Sigmoid',
  'LeakyRelu',
  'Softmax',
] as const;
export type StaticOp = (typeof STATIC_OPS)[number];

/**
 * The default: the layers with weights plus what onnxruntime fuses around them (checked in its
 * optimized graph): Conv → QLinearConv, Gemm → QGemm, MatMul → QLinearMatMul / MatMulIntegerToFloat,
 * Add/Mul → QLinearAdd/QLinearMul, AveragePool/GlobalAveragePool → QLinearAveragePool /
 * QLinearGlobalAveragePool, Concat → QLinearConcat, MaxPool runs on uint8 directly. Sigmoid,
 * LeakyRelu (QLinearSigmoid/QLinearLeakyRelu) and Softmax fuse too but lose more, so they are opt-in.
 */
export const DEFAULT_STATIC_OPS: StaticOp[] = [
  'Conv',
  'Gemm',
  'MatMul',
  'Add',
  'Mul',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Concat',
];

/** Ops that only move or select values: quantized with their input's parameters when a neighbour needs it. */
const DATA_MOVEMENT = new Set(['Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze']);

export const quantizeStaticParams = z.object({
  method: z
    .enum(['minmax', 'percentile', 'entropy'])
    .default('minmax')
    .describe(
      'How each activation range is chosen from the calibration samples: MinMax keeps every value (the safe default), Percentile clips rare outliers (helps with noisy or heavy-tailed activations), Entropy picks the clip that loses the least information (KL; suits ReLU networks calibrated on many samples).',
    ),
  percentile: z
    .number()
    .min(90)
    .max(100)
    .default(99.999)
    .describe('Percentile method: the share of values (in %) kept inside the range; the rest is clipped.'),
  perChannel: z
    .boolean()
    .default(true)
    .describe(
      'One weight scale per output channel (much more accurate) instead of one per tensor. Needs opset 13.',
    ),
  activationType: z
    .enum(['uint8', 'int8'])
    .default('uint8')
    .describe('Integer type of activations (asymmetric). uint8 suits ReLU networks and fuses everywhere.'),
  ops: z
    .array(z.enum(STATIC_OPS))
    .default(DEFAULT_STATIC_OPS)
    .describe(
      'Operator types to quantize. Reshape/Flatten/Transpose/Squeeze/Unsqueeze between quantized layers follow automatically.',
    ),
  exclude: z
    .array(z.string())
    .default([])
    .describe('Nodes kept in float (node names; the first output name for unnamed nodes).'),
  calibrationSamples: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(200)
    .describe('Calibration samples used at most (from the dataset’s calibration split).'),
});
export type QuantizeStaticParams = z.output<typeof quantizeStaticParams>;

/** How one node is quantized. */
export interface PlannedNode {
  node: Node;
  key: string;
  /** Input index of the weight (int8 symmetric), and its channel axis when per channel. */
  weight?: { index: number; axis?: number };
  /** Input index of the bias (int32, scale = input scale × weight scale). */
  bias?: number;
  /** Input indices quantized as activations (Q → DQ on the tensor). */
  activations: number[];
  /** Constant inputs of element-wise ops, stored with the activation type (per tensor). */
  constants: number[];
  /** The tensor after the node that gets Q → DQ (its output, or the output of a following Relu). */
  output?: string;
}

/** What quantize-static will do to a model. */
export interface StaticPlan {
  nodes: PlannedNode[];
  /** Every tensor that gets a Q → DQ pair, mapped to the tensor whose range (and parameters) it uses. */
  tensors: Map<string, string>;
  /** Tensors known to be non-negative (ReLU outputs): their range starts at 0. */
  nonNegative: Set<string>;
  /** Nodes of a quantizable type the user excluded. */
  excluded: string[];
  /** Nodes of a quantizable type kept in float, counted by reason. */
  skipped: Map<string, number>;
}

/** A model made ready for QDQ: a float copy with the right opset and bias Adds folded, plus its shape facts. */
export interface PreparedModel {
  model: Model;
  facts: Map<string, ValueFacts>;
  notes: string[];
  changes: NodeChange[];
}

/** Copy, check and prepare a float model for quantize-static (opset, bias folding); throws on what it cannot do. */
export function prepareStatic(model: Model, params: QuantizeStaticParams): PreparedModel {
  assertFloatModel(model, 'quantize-static');
  const copy = model.clone();
  const notes: string[] = [];
  const changes: NodeChange[] = [];
  let facts = inferShapes(copy.graph, { opset: copy.opsetVersion() });
  // Per-channel DequantizeLinear (axis) is opset 13; per-tensor QuantizeLinear exists since opset 10.
  const target = params.perChannel ? 13 : 10;
  const upgrade = raiseOpset(
    copy,
    target,
    `quantize-static${params.perChannel ? ' (per channel)' : ''}`,
    facts,
  );
  notes.push(...opsetNote(upgrade));
  if (upgrade.rewritten.size) facts = inferShapes(copy.graph, { opset: copy.opsetVersion() });
  const exclude = new Set(params.exclude);
  const muls: string[] = [];
  const adds: string[] = [];
  // Conv → Add → Mul → Add chains need both folds in turn.
  for (let round = 0; round < 4; round++) {
    const m = foldScaleMuls(copy.graph, copy.external, facts, exclude);
    const a = foldBiasAdds(copy.graph, copy.external, facts, exclude);
    if (m.length + a.length === 0) break;
    muls.push(...m);
    adds.push(...a);
    facts = inferShapes(copy.graph, { opset: copy.opsetVersion() });
  }
  if (adds.length || muls.length) {
    const parts = [
      ...(adds.length ? [`${adds.length} bias Add${adds.length === 1 ? '' : 's'}`] : []),
      ...(muls.length ? [`${muls.length} scale Mul${muls.length === 1 ? '' : 's'}`] : []),
    ];
    notes.push(`folded ${parts.join(' and ')} into the layer before`);
    for (const f of adds)
      changes.push({ node: f, kind: 'fused', detail: 'bias folded into the layer before' });
    for (const f of muls)
      changes.push({ node: f, kind: 'fused', detail: 'scale folded into the layer before' });
  }
  return { model: copy, facts, notes, changes };
}

function skip(plan: StaticPlan, reason: string): void {
  plan.skipped.set(reason, (plan.skipped.get(reason) ?? 0) + 1);
}

/**
 * Decide which nodes and tensors get quantized. `only` restricts the plan to some nodes (sensitivity
 * analysis quantizes one layer at a time).
 */
export function planStatic(
  prepared: PreparedModel,
  params: Pick<QuantizeStaticParams, 'ops' | 'exclude' | 'perChannel'>,
  only?: ReadonlySet<string>,
): StaticPlan {
  const { model, facts } = prepared;
  const graph = model.graph;
  const ops = new Set<string>(params.ops);
  const exclude = new Set(params.exclude);
  const plan: StaticPlan = {
    nodes: [],
    tensors: new Map(),
    nonNegative: new Set(),
    excluded: [],
    skipped: new Map(),
  };
  const isFloat = (t: string) => facts.get(t)?.elemType === DataType.FLOAT;
  const constant = (t: string) => (t ? floatConstant(graph, t, model.external) : undefined);
  const order = graph.topologicalOrder();
  const root = (t: string) => plan.tensors.get(t) ?? t;

  for (const n of order) {
    if (n.domain !== '' || !ops.has(n.opType)) continue;
    const key = nodeKey(n);
    if (exclude.has(key)) {
      plan.excluded.push(key);
      continue;
    }
    if (only && !only.has(key)) continue;
    const out = n.outputs[0];
    if (!out || !isFloat(out)) {
      skip(plan, `${n.opType} output is not float32`);
      continue;
    }
    const p: PlannedNode = { node: n, key, activations: [], constants: [] };
    let ok = true;
    if (n.opType === 'Conv') {
      const w = constant(n.inputs[1]);
      if (!w) ok = reject(plan, 'Conv weight is computed at run time');
      else if (n.inputs[2] && !constant(n.inputs[2])) ok = reject(plan, 'Conv bias is computed at run time');
      else if (constant(n.inputs[0])) ok = reject(plan, 'Conv input is a constant');
      else {
        p.weight = { index: 1, axis: params.perChannel ? 0 : undefined };
        if (n.inputs[2]) p.bias = 2;
        p.activations.push(0);
      }
    } else if (n.opType === 'Gemm') {
      const w = constant(n.inputs[1]);
      const transB = n.attrInt('transB', 0) === 1;
      const outputs = w ? w.dims[transB ? 0 : 1] : 0;
      const c = n.inputs[2] ? constant(n.inputs[2]) : undefined;
      if (!w || w.dims.length !== 2) ok = reject(plan, 'Gemm weight is not a 2-D constant');
      else if (n.inputs[2] && (!c || c.values.length !== outputs))
        ok = reject(plan, 'Gemm bias is not a constant with one value per output');
      else {
        p.weight = { index: 1, axis: params.perChannel ? (transB ? 0 : 1) : undefined };
        if (n.inputs[2]) p.bias = 2;
        p.activations.push(0);
      }
    } else if (n.opType === 'MatMul') {
      const b = constant(n.inputs[1]);
      if (constant(n.inputs[0])) ok = reject(plan, 'MatMul with a constant first input');
      else if (b) {
        p.weight = { index: 1, axis: params.perChannel && b.dims.length === 2 ? 1 : undefined };
        p.activations.push(0);
      } else if (isFloat(n.inputs[0]) && isFloat(n.inputs[1])) p.activations.push(0, 1);
      else ok = reject(plan, 'MatMul inputs are not float32');
    } else if (n.opType === 'MaxPool') {
      if (n.outputs.length > 1 && n.outputs[1]) ok = reject(plan, 'MaxPool returns indices');
      else p.activations.push(0);
    } else {
      n.inputs.forEach((t, i) => {
        if (!t) return;
        if (constant(t)) p.constants.push(i);
        else if (isFloat(t)) p.activations.push(i);
        else ok = false;
      });
      if (!ok) skip(plan, `${n.opType} has inputs that are not float32`);
      else if (p.activations.length === 0) ok = reject(plan, `${n.opType} has only constant inputs`);
    }
    if (!ok) continue;

    for (const i of p.activations)
      if (!plan.tensors.has(n.inputs[i])) plan.tensors.set(n.inputs[i], n.inputs[i]);
    let output = out;
    const readers = graph.consumers(out);
    if (
      n.opType !== 'MaxPool' &&
      readers.length === 1 &&
      !graph.isGraphOutput(out) &&
      clampsAtZero(readers[0], model.external)
    ) {
      // onnxruntime absorbs a Relu (or Clip from 0) when the Q after it starts at zero: the quantized
      // range [0, max] already does the clamping.
      output = readers[0].outputs[0];
      plan.nonNegative.add(output);
    }
    if (graph.consumers(output).some((c) => !exclude.has(nodeKey(c)) || WEIGHTED_OPS.has(c.opType))) {
      p.output = output;
      plan.tensors.set(output, n.opType === 'MaxPool' ? root(n.inputs[0]) : output);
    }
    plan.nodes.push(p);
  }
  tieDataMovement(graph, order, plan, exclude, isFloat);
  return plan;
}

/** A Relu, or a Clip whose minimum is 0 (ReLU6): activations a Q starting at zero makes redundant. */
function clampsAtZero(n: Node, external: ExternalFiles): boolean {
  if (n.domain !== '') return false;
  if (n.opType === 'Relu') return true;
  if (n.opType !== 'Clip' || !n.inputs[1]) return false;
  const min = floatConstant(n.graph, n.inputs[1], external);
  return min !== undefined && min.values.length === 1 && min.values[0] === 0;
}

function reject(plan: StaticPlan, reason: string): false {
  skip(plan, reason);
  return false;
}

/**
 * Reshape/Flatten/Transpose/Squeeze/Unsqueeze whose input is quantized carry the same parameters to
 * their output when a quantized node (or another such op) reads it, so onnxruntime runs them on the
 * integers and drops the DQ → op → Q around them.
 */
function tieDataMovement(
  graph: Graph,
  order: Node[],
  plan: StaticPlan,
  exclude: ReadonlySet<string>,
  isFloat: (t: string) => boolean,
): void {
  const needed = new Set(plan.tensors.keys());
  const tied: Node[] = [];
  for (const n of order) {
    if (n.domain !== '' || !DATA_MOVEMENT.has(n.opType) || exclude.has(nodeKey(n))) continue;
    const x = n.inputs[0];
    const y = n.outputs[0];
    if (!plan.tensors.has(x) || !y || !isFloat(y) || graph.isGraphOutput(y)) continue;
    plan.tensors.set(y, plan.tensors.get(x)!);
    tied.push(n);
  }
  const kept = new Set<string>();
  for (const n of tied.reverse()) {
    const y = n.outputs[0];
    const feedsKept = graph.consumers(y).some((c) => DATA_MOVEMENT.has(c.opType) && kept.has(c.outputs[0]));
    if (needed.has(y) || feedsKept) kept.add(y);
    else plan.tensors.delete(y);
  }
}

/** The calibration split of a dataset as a sample source, after checking it fits the model's input. */
export function calibrationSource(model: Model, data: Dataset, limit: number, stage: string): SampleSource {
  const indices = data.splits.calibration.slice(0, limit);
  if (indices.length === 0)
    throw new Error(`${stage} needs calibration samples, but the dataset's calibration split is empty`);
  const feeds = model.graph.feedInputs();
  const input = feeds.find((v) => v.name === data.input.name);
  if (!input)
    throw new Error(
      `${stage}: the dataset feeds input "${data.input.name}", but the model's inputs are ${feeds.map((v) => `"${v.name}"`).join(', ')}`,
    );
  if (feeds.length > 1)
    throw new Error(
      `${stage}: the model has ${feeds.length} inputs (${feeds.map((v) => v.name).join(', ')}); the dataset feeds only "${data.input.name}"`,
    );
  const shape = model.graph.valueShape(input.name);
  const given = data.input.shape;
  if (
    shape &&
    (shape.length !== given.length || shape.some((d, i) => typeof d === 'number' && d !== given[i]))
  )
    throw new Error(
      `${stage}: calibration samples have shape [${given.join(', ')}] but input "${input.name}" expects [${shape.map((d) => d ?? '?').join(', ')}]`,
    );
  const elemType = model.graph.valueElemType(input.name);
  if (elemType !== undefined && elemType !== data.input.elemType)
    throw new Error(
      `${stage}: calibration samples are ${dtypeName(data.input.elemType)} but input "${input.name}" is ${dtypeName(elemType)}`,
    );
  return { count: indices.length, feeds: (i) => data.sample(indices[i]).feeds };
}

/** Calibrate every tensor of the plan on the dataset's calibration split. */
export async function calibratePlan(
  prepared: PreparedModel,
  plan: StaticPlan,
  params: QuantizeStaticParams,
  ctx: StageContext,
): Promise<Map<string, TensorRange>> {
  if (!ctx.data) throw new Error('quantize-static needs calibration data: open a dataset');
  const source = calibrationSource(prepared.model, ctx.data, params.calibrationSamples, 'quantize-static');
  return calibrateActivations(prepared.model, [...plan.tensors.keys()], ctx.runtime, source, {
    method: params.method,
    percentile: params.percentile,
    signal: ctx.signal,
    progress: ctx.progress,
  });
}

/** Bytes of float weights replaced and of the integer weights written, for the notes. */
interface SizeTally {
  floatBytes: number;
  quantBytes: number;
  /** Bias values beyond int32 at scale = input scale × weight scale (clamped). */
  saturatedBias: number;
  /** Weight channels whose scale was raised so that their bias fits int32. */
  raisedScales: number;
}

/**
 * Rewrite the prepared model as the plan says with the calibrated ranges: Q → DQ pairs on activations,
 * int8 weights and int32 biases behind DequantizeLinear. Returns what changed.
 */
export function applyStatic(
  prepared: PreparedModel,
  plan: StaticPlan,
  ranges: ReadonlyMap<string, TensorRange>,
  params: Pick<QuantizeStaticParams, 'activationType'>,
): { changes: NodeChange[]; tally: SizeTally } {
  const { model } = prepared;
  const graph = model.graph;
  const grid = activationGrid(params.activationType);
  const tally: SizeTally = { floatBytes: 0, quantBytes: 0, saturatedBias: 0, raisedScales: 0 };
  const paramsOf = new Map<string, QuantParams>();
  const quantParams = (t: string): QuantParams => {
    const r = plan.tensors.get(t) ?? t;
    let p = paramsOf.get(r);
    if (!p) {
      const range = ranges.get(r) ?? ranges.get(t) ?? { min: 0, max: 0 };
      const min = plan.nonNegative.has(r) ? 0 : range.min;
      p = computeQuantParams(min, Math.max(range.max, min), grid);
      paramsOf.set(r, p);
    }
    return p;
  };
  const excluded = new Set(plan.excluded);
  // Inputs as planned: inserting Q/DQ pairs below re-points them to the dequantized copies.
  const plannedInputs = new Map(plan.nodes.map((p) => [p, [...p.node.inputs]]));
  const paramNames = new Map<string, { scale: string; zeroPoint: string }>();
  for (const t of plan.tensors.keys()) {
    const r = plan.tensors.get(t)!;
    let names = paramNames.get(r);
    if (!names) {
      names = addQuantParams(graph, r, quantParams(t), grid);
      paramNames.set(r, names);
    }
    const keptFloat = graph.consumers(t).filter((c) => excluded.has(nodeKey(c)));
    const { q } = insertActivationQdq(graph, t, names, (reader) => !excluded.has(nodeKey(reader)));
    for (const reader of keptFloat) readExcluded(prepared, reader, t, q, quantParams(t), grid);
  }

  const changes: NodeChange[] = [];
  const replaced: string[] = [];
  const weightCache = new Map<string, { dq: string; scales: Float32Array }>();
  for (const p of plan.nodes) {
    const n = p.node;
    const input0 = p.activations.includes(0) ? plannedInputs.get(p)![0] : undefined;
    let weightScales: Float32Array | undefined;
    if (p.weight) {
      const name = n.inputs[p.weight.index];
      const alpha = n.opType === 'Gemm' ? n.attrFloat('alpha', 1) : 1;
      const cacheKey = `${name}|${p.weight.axis}|${alpha}`;
      let w = weightCache.get(cacheKey);
      // A bias needs weight scales large enough for bias / (input scale × weight scale) to fit int32.
      let floor: Float64Array | undefined;
      if (p.bias !== undefined && input0) {
        const b = floatConstant(graph, n.inputs[p.bias], model.external)!.values;
        const beta = n.opType === 'Gemm' ? n.attrFloat('beta', 1) : 1;
        floor = biasWeightScaleFloor(beta === 1 ? b : b.map((v) => v * beta), quantParams(input0).scale);
        if (p.weight.axis === undefined) floor = Float64Array.of(Math.max(0, ...floor));
      }
      const tooSmall = (scales: Float32Array) =>
        floor !== undefined && scales.some((v, k) => v < floor[floor.length === 1 ? 0 : k]);
      if (!w || tooSmall(w.scales)) {
        const c = floatConstant(graph, name, model.external)!;
        const values = alpha === 1 ? c.values : c.values.map((v) => v * alpha);
        let q = quantizeWeight(values, c.dims, p.weight.axis);
        if (tooSmall(q.scales)) {
          const plain = q.scales;
          q = quantizeWeight(values, c.dims, p.weight.axis, WEIGHT_GRID, floor);
          tally.raisedScales += q.scales.filter((v, k) => v !== plain[k]).length;
        }
        const dq = addDequantizedConstant(
          graph,
          name,
          { data: q.data, dataType: DataType.INT8, dims: c.dims },
          { scales: q.scales, zeroPoints: q.zeroPoints, axis: q.axis },
          n,
        );
        tally.floatBytes += c.values.length * 4;
        tally.quantBytes += c.values.length + q.scales.length * 5;
        w = { dq, scales: q.scales };
        if (!weightCache.has(cacheKey)) weightCache.set(cacheKey, w);
      }
      replaced.push(name);
      n.setInput(p.weight.index, w.dq);
      weightScales = w.scales;
      if (alpha !== 1) n.setAttribute(makeAttr('alpha', attr.float(1)));
    }
    if (p.bias !== undefined && weightScales && input0) {
      const name = n.inputs[p.bias];
      const c = floatConstant(graph, name, model.external)!;
      const beta = n.opType === 'Gemm' ? n.attrFloat('beta', 1) : 1;
      const values = beta === 1 ? c.values : c.values.map((v) => v * beta);
      const xs = quantParams(input0).scale;
      const qb = quantizeBias(values, xs, weightScales);
      const perChannel = weightScales.length > 1;
      const dq = addDequantizedConstant(
        graph,
        name,
        { data: qb.data, dataType: BIAS_GRID.dataType, dims: [values.length] },
        {
          scales: perChannel ? qb.scales : qb.scales.subarray(0, 1),
          axis: perChannel ? 0 : undefined,
        },
        n,
      );
      tally.floatBytes += values.length * 4;
      tally.quantBytes += values.length * (perChannel ? 8 : 4);
      tally.saturatedBias += qb.saturated;
      replaced.push(name);
      n.setInput(p.bias, dq);
      if (beta !== 1) n.setAttribute(makeAttr('beta', attr.float(1)));
    }
    for (const i of p.constants) {
      const name = n.inputs[i];
      const c = floatConstant(graph, name, model.external)!;
      let lo = 0;
      let hi = 0;
      for (const v of c.values) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const qp = computeQuantParams(lo, hi, grid);
      const data =
        grid.dataType === DataType.UINT8 ? new Uint8Array(c.values.length) : new Int8Array(c.values.length);
      c.values.forEach((v, k) => (data[k] = quantizeValue(v, qp, grid)));
      const zp = grid.dataType === DataType.UINT8 ? Uint8Array.of(qp.zeroPoint) : Int8Array.of(qp.zeroPoint);
      const dq = addDequantizedConstant(
        graph,
        name,
        { data, dataType: grid.dataType, dims: c.dims },
        { scales: Float32Array.of(qp.scale), zeroPoints: zp },
        n,
      );
      replaced.push(name);
      n.setInput(i, dq);
    }
    changes.push({
      node: p.key,
      kind: 'quantized',
      detail: p.weight ? 'int8' : params.activationType,
    });
  }
  removeUnusedConstants(graph, replaced);
  removeUnreadQdq(graph);
  return { changes, tally };
}

/** Layers onnxruntime quantizes by itself when they sit between a per-tensor DQ and a Q. */
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm']);

/**
 * How a node the user keeps in float reads a quantized tensor. Between a per-tensor DQ and a Q,
 * onnxruntime would quantize a float Conv/Gemm anyway (its WeightBiasQuantization pass); a private DQ
 * whose scale is repeated per channel computes the same values but keeps that pass away, so the
 * layer runs in float while its neighbours stay fused. Other excluded nodes read the float tensor.
 */
function readExcluded(
  prepared: PreparedModel,
  reader: Node,
  tensor: string,
  quantized: string,
  p: QuantParams,
  grid: ReturnType<typeof activationGrid>,
): void {
  const graph = prepared.model.graph;
  const channels = prepared.facts.get(tensor)?.shape?.[1];
  if (
    !WEIGHTED_OPS.has(reader.opType) ||
    typeof channels !== 'number' ||
    (prepared.model.opsetVersion() ?? 0) < 13
  )
    return;
  const scale = addConstant(
    graph,
    `${tensor}_scale_${channels}`,
    DataType.FLOAT,
    [channels],
    new Float32Array(channels).fill(p.scale),
  );
  const zp = addConstant(
    graph,
    `${tensor}_zp_${channels}`,
    grid.dataType,
    [channels],
    grid.dataType === DataType.UINT8
      ? new Uint8Array(channels).fill(p.zeroPoint)
      : new Int8Array(channels).fill(p.zeroPoint),
  );
  const out = graph.uniqueName(`${tensor}_dq_${nodeKey(reader)}`);
  graph.addNode(
    {
      opType: 'DequantizeLinear',
      name: graph.uniqueName(`${tensor}_DQ_${nodeKey(reader)}`),
      inputs: [quantized, scale, zp],
      outputs: [out],
      attributes: [makeAttr('axis', 1)],
    },
    { before: reader },
  );
  reader.proto.input.forEach((x, k) => x === tensor && reader.setInput(k, out));
}

/** Q → DQ pairs nothing reads any more (every reader was kept in float). */
function removeUnreadQdq(graph: Graph): void {
  const freed: string[] = [];
  for (const opType of ['DequantizeLinear', 'QuantizeLinear'])
    for (const n of [...graph.nodes])
      if (
        n.opType === opType &&
        graph.consumers(n.outputs[0]).length === 0 &&
        !graph.isGraphOutput(n.outputs[0])
      ) {
        graph.removeNode(n);
        freed.push(...n.inputs.slice(1));
      }
  removeUnusedConstants(graph, freed);
}

/** "quantized 2 Conv, 1 Gemm" and the other notes of a static (or single-layer) quantization. */
export function staticNotes(
  plan: StaticPlan,
  tally: SizeTally,
  params: QuantizeStaticParams,
  samples: number,
): string[] {
  const byOp = new Map<string, number>();
  for (const p of plan.nodes) byOp.set(p.node.opType, (byOp.get(p.node.opType) ?? 0) + 1);
  const notes = [
    `quantized ${[...byOp].map(([op, k]) => `${k} ${op}`).join(', ')} (int8 weights ${params.perChannel ? 'per channel' : 'per tensor'}, ${params.activationType} activations, ${params.method} on ${samples} sample${samples === 1 ? '' : 's'})`,
  ];
  if (plan.excluded.length) notes.push(`excluded ${plan.excluded.length}: ${plan.excluded.join(', ')}`);
  for (const [why, k] of plan.skipped) notes.push(`kept ${k} in float: ${why}`);
  if (tally.raisedScales)
    notes.push(
      `raised the weight scale of ${tally.raisedScales} channel${tally.raisedScales === 1 ? '' : 's'} so that ${tally.raisedScales === 1 ? 'its bias fits' : 'their biases fit'} int32`,
    );
  if (tally.saturatedBias)
    notes.push(
      `clamped ${tally.saturatedBias} bias value${tally.saturatedBias === 1 ? '' : 's'} to the int32 range`,
    );
  if (tally.floatBytes)
    notes.push(
      `weights ${formatBytes(tally.floatBytes)} → ${formatBytes(tally.quantBytes)} (${(tally.floatBytes / tally.quantBytes).toFixed(1)}× smaller)`,
    );
  return notes;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

/** The message when nothing can be quantized, naming what was looked for and why it was left. */
export function nothingToQuantize(stage: string, ops: readonly string[], plan: StaticPlan): string {
  const reasons = [
    ...(plan.excluded.length ? [`${plan.excluded.length} excluded`] : []),
    ...[...plan.skipped].map(([why, k]) => `${k}: ${why}`),
  ];
  return `${stage}: the model has no quantizable operator (looked for ${ops.join(', ')})${reasons.length ? `; ${reasons.join('; ')}` : ''}`;
}

export const quantizeStatic = defineStage({
  id: 'quantize-static',
  title: 'Quantize (static int8)',
  description:
    'Calibrated post-training int8 quantization in QDQ form: onnxruntime runs it with integer kernels (QLinearConv, QGemm, QLinearMatMul).',
  category: 'quantize',
  params: quantizeStaticParams,
  needs: { calibration: true },
  tolerance: { top1Agreement: 0.95, sqnrDb: 20 },
  async run(model, params, ctx) {
    if (!ctx.data) throw new Error('quantize-static needs calibration data: open a dataset');
    const prepared = prepareStatic(model, params);
    const plan = planStatic(prepared, params);
    if (plan.nodes.length === 0) throw new Error(nothingToQuantize('quantize-static', params.ops, plan));
    const ranges = await calibratePlan(prepared, plan, params, ctx);
    const { changes, tally } = applyStatic(prepared, plan, ranges, params);
    const samples = Math.min(params.calibrationSamples, ctx.data.splits.calibration.length);
    return {
      model: prepared.model,
      notes: [...staticNotes(plan, tally, params, samples), ...prepared.notes],
      changes: [...prepared.changes, ...changes],
    };
  },
});
