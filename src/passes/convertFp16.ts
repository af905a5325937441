import { z } from 'zod';
import { clone } from '@bufbuild/protobuf';
import { defineStage, type NodeChange, type StageContext } from './types';
import type { Graph, Model, Node } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { makeAttr } from '../onnx/builder';
import { inferShapes } from '../onnx/shapes';
import { summarizeModel } from '../onnx/summary';
import { elementCount, floatToHalf, makeTensor, tensorToFloat64 } from '../onnx/tensor';
import { ValueInfoProtoSchema, type TensorProto, type ValueInfoProto } from '../onnx/proto/onnx_pb';
import { generateInputs } from '../runtime/inputs';
import { withExtraOutputs } from './calibration';
import { assertFloatModel, nodeKey } from './qdq';
import { formatBytes } from './quantizeStatic';

/** The largest finite float16. */
export const FLOAT16_MAX = 65504;

/**
 * Kept in float32 by default: ops whose ONNX schema has no float16 (Range), whose float inputs must stay
 * float32 or that compute indices/boxes where half precision changes results (Resize, Upsample,
 * TopK, NonMaxSuppression, RoiAlign, CumSum), and random generators whose dtype attribute names
 * float32. Everything else loads and runs in float16 in onnxruntime-node and onnxruntime-web (checked
 * op by op; onnxruntime casts around ops that lack a float16 CPU kernel).
 */
export const DEFAULT_FP16_BLOCK_LIST = [
  'Range',
  'Resize',
  'Upsample',
  'CumSum',
  'TopK',
  'NonMaxSuppression',
  'RoiAlign',
  'RandomNormal',
  'RandomNormalLike',
  'RandomUniform',
  'RandomUniformLike',
  'Multinomial',
  'Bernoulli',
  'EyeLike',
  'MelWeightMatrix',
  'HannWindow',
  'HammingWindow',
  'BlackmanWindow',
];

/** Float inputs that keep their float32 type even when their node runs in float16. */
const FLOAT32_INPUTS: Record<string, number[]> = { Resize: [1, 2], Upsample: [1], Dropout: [1] };

export const convertFp16Params = z.object({
  keepIO: z
    .boolean()
    .default(true)
    .describe(
      'Keep the model’s inputs and outputs float32 (Casts at the boundary), so callers feed and read the same types as before.',
    ),
  blockList: z
    .array(z.string())
    .default(DEFAULT_FP16_BLOCK_LIST)
    .describe('Operator types kept in float32 (numerically sensitive ops, ops without float16 support).'),
  rangeCheck: z
    .boolean()
    .default(true)
    .describe(
      'Run the float model on a few samples (the dataset, or generated inputs) and keep in float32 every value beyond ±8192, which float16 (max 65504) could overflow on other inputs.',
    ),
  fp16Storage: z
    .boolean()
    .default(true)
    .describe(
      'Also store the weights of nodes kept in float32 as float16 (cast back when the model loads): half the file size, float32 arithmetic.',
    ),
  rangeSamples: z.number().int().min(1).max(1000).default(8).describe('Samples the range check runs.'),
});
export type ConvertFp16Params = z.output<typeof convertFp16Params>;

/** Values measured beyond this stay float32 (an 8× margin below float16's maximum). */
const RANGE_LIMIT = FLOAT16_MAX / 8;

/** Largest |x| of every float32 value of the main graph over a few samples. */
async function measureRanges(
  model: Model,
  floatValues: string[],
  params: ConvertFp16Params,
  ctx: StageContext,
): Promise<Map<string, number>> {
  const data = ctx.data;
  const split = data ? [...data.splits.calibration, ...data.splits.evaluation, ...data.splits.train] : [];
  const inputs = summarizeModel(model, 0).inputs;
  const count = data && split.length ? Math.min(params.rangeSamples, split.length) : params.rangeSamples;
  const feeds = (i: number) =>
    data && split.length ? data.sample(split[i]).feeds : generateInputs(inputs, {}, i + 1);
  const capture = withExtraOutputs(model, floatValues);
  const session = await ctx.runtime.createSession(capture.encode(), { externalData: model.external });
  const maxAbs = new Map<string, number>();
  try {
    for (let i = 0; i < count; i++) {
      ctx.signal.throwIfAborted();
      const out = await session.run(feeds(i), floatValues);
      for (const name of floatValues) {
        const t = out[name];
        if (!t || !(t.data instanceof Float32Array)) continue;
        let m = maxAbs.get(name) ?? 0;
        for (const v of t.data) {
          const a = Math.abs(v);
          if (a > m) m = a;
        }
        maxAbs.set(name, m);
      }
      ctx.progress(i + 1, count, 'checking value ranges');
    }
  } finally {
    await session.release();
  }
  return maxAbs;
}

/** A float32 tensor as float16 (same name unless given); counts values clamped to ±65504. */
function toHalf(t: TensorProto, model: Model, name = t.name): { tensor: TensorProto; clamped: number } {
  const values = tensorToFloat64(t, model.external);
  const bits = new Uint16Array(values.length);
  let clamped = 0;
  values.forEach((v, i) => {
    let x = v;
    if (Math.abs(x) > FLOAT16_MAX && Number.isFinite(x)) {
      x = Math.sign(x) * FLOAT16_MAX;
      clamped++;
    }
    bits[i] = floatToHalf(x);
  });
  return { tensor: makeTensor(name, DataType.FLOAT16, t.dims.map(Number), bits), clamped };
}

function retype(v: ValueInfoProto, elemType: number): ValueInfoProto {
  const copy = clone(ValueInfoProtoSchema, v);
  if (copy.type?.value.case === 'tensorType') copy.type.value.value.elemType = elemType;
  return copy;
}

/** Nodes that must stay float32 because a subgraph reads their outputs from the enclosing scope. */
function outerScopeProducers(graph: Graph): Set<Node> {
  const out = new Set<Node>();
  for (const n of graph.nodes)
    for (const s of n.subgraphs)
      for (const g of s.graphs)
        for (const r of g.outerReferences()) {
          const p = graph.producer(r);
          if (p) out.add(p);
        }
  return out;
}

interface Fp16Result {
  converted: number;
  blocked: Map<string, number>;
  casts: number;
  clamped: number;
  floatBytes: number;
  halfBytes: number;
  changes: NodeChange[];
}

/** Convert the main graph to float16 outside the blocked nodes, with Casts at every float32/float16 boundary. */
function convertGraph(model: Model, params: ConvertFp16Params, overflow: ReadonlySet<string>): Fp16Result {
  const graph = model.graph;
  const facts = inferShapes(graph, { opset: model.opsetVersion() });
  const isFloat = (v: string) => !!v && facts.get(v)?.elemType === DataType.FLOAT;
  const blockList = new Set(params.blockList);
  const result: Fp16Result = {
    converted: 0,
    blocked: new Map(),
    casts: 0,
    clamped: 0,
    floatBytes: 0,
    halfBytes: 0,
    changes: [],
  };
  const block = (why: string) => result.blocked.set(why, (result.blocked.get(why) ?? 0) + 1);
  const pinned = outerScopeProducers(graph);
  const order = graph.topologicalOrder();
  const constantNode = (n: Node) => n.opType === 'Constant' && n.domain === '';
  const touchesFloat = (n: Node) => n.inputs.some(isFloat) || n.outputs.some(isFloat);
  const untyped = (n: Node) =>
    [...n.inputs, ...n.outputs].some((v) => v && facts.get(v)?.elemType === undefined);

  const half = new Set<Node>();
  for (const n of order) {
    if (constantNode(n) || (!touchesFloat(n) && !untyped(n))) continue;
    if (n.domain !== '') block(`${n.domain} operators`);
    else if (untyped(n)) block('the type of one of its values is unknown');
    else if (blockList.has(n.opType)) block(`${n.opType} is on the block list`);
    else if (n.subgraphs.length) block(`${n.opType} has subgraphs`);
    else if (pinned.has(n)) block('a subgraph reads its output');
    else if ([...n.inputs, ...n.outputs].some((v) => overflow.has(v)))
      block('its values exceed the float16 range');
    else {
      half.add(n);
      result.changes.push({ node: nodeKey(n), kind: 'quantized', detail: 'fp16' });
    }
  }

  const isConstant = (v: string) =>
    graph.initializers.has(v) || (graph.producer(v) !== undefined && constantNode(graph.producer(v)!));
  const wantsHalf = (n: Node, i: number) => half.has(n) && !FLOAT32_INPUTS[n.opType]?.includes(i);
  const isHalf = (v: string) => {
    const p = graph.producer(v);
    if (p) return half.has(p);
    return graph.isGraphInput(v) && !params.keepIO;
  };

  // Constants: converted in place when every reader runs in float16 (or with fp16Storage, where
  // float32 readers get a Cast that onnxruntime folds at load time), copied when readers are mixed.
  const readersWant = new Map<string, { half: number; float: number }>();
  for (const n of order)
    n.inputs.forEach((v, i) => {
      if (!isFloat(v) || !isConstant(v)) return;
      const r = readersWant.get(v) ?? { half: 0, float: 0 };
      if (wantsHalf(n, i)) r.half++;
      else r.float++;
      readersWant.set(v, r);
    });
  const halfConstant = new Map<string, string>();
  for (const [v, r] of readersWant) {
    if (overflow.has(v) || graph.isGraphOutput(v)) continue;
    const p = graph.producer(v);
    const source = graph.initializers.get(v) ?? p?.attribute('value')?.t;
    if (!source) continue;
    const storeOnly = r.half === 0 && params.fp16Storage && elementCount(source.dims) >= 16;
    if (r.half === 0 && !storeOnly) continue;
    const inPlace = r.float === 0 || params.fp16Storage;
    const name = inPlace ? v : graph.uniqueName(`${v}_fp16`);
    const { tensor, clamped } = toHalf(source, model, p ? '' : name);
    result.clamped += clamped;
    const elements = tensor.dims.reduce((a, b) => a * Number(b), 1);
    result.floatBytes += elements * 4;
    result.halfBytes += elements * 2;
    if (p && inPlace) p.setAttribute(makeAttr('value', tensor));
    else if (inPlace) {
      graph.addInitializer(tensor);
      // IR < 4 models declare their weights as graph inputs too.
      graph.inputs = graph.inputs.map((x) => (x.name === v ? retype(x, DataType.FLOAT16) : x));
    } else if (p)
      graph.addNode(
        { opType: 'Constant', name, inputs: [], outputs: [name], attributes: [makeAttr('value', tensor)] },
        { after: p },
      );
    else graph.addInitializer(tensor);
    halfConstant.set(v, name);
  }
  const isHalfConstant = (v: string) => halfConstant.get(v) === v;

  const casts = new Map<string, string>();
  const castTo = (v: string, toHalf16: boolean): string => {
    const key = `${v}|${toHalf16}`;
    const known = casts.get(key);
    if (known) return known;
    const out = graph.uniqueName(`${v}_${toHalf16 ? 'fp16' : 'fp32'}`);
    const p = graph.producer(v);
    graph.addNode(
      {
        opType: 'Cast',
        name: graph.uniqueName(`${v}_Cast`),
        inputs: [v],
        outputs: [out],
        attributes: [makeAttr('to', toHalf16 ? DataType.FLOAT16 : DataType.FLOAT)],
      },
      p ? { after: p } : graph.nodes.length ? { before: graph.nodes[0] } : undefined,
    );
    casts.set(key, out);
    result.casts++;
    return out;
  };

  for (const n of order) {
    if (constantNode(n)) continue;
    n.inputs.forEach((v, i) => {
      if (!isFloat(v)) return;
      const want = wantsHalf(n, i);
      if (isConstant(v) && !isHalfConstant(v)) {
        const copy = halfConstant.get(v);
        if (want && copy) n.setInput(i, copy);
        else if (want) n.setInput(i, castTo(v, true));
        return;
      }
      const have = isHalf(v) || isHalfConstant(v);
      if (have !== want) n.setInput(i, castTo(v, want));
    });
    if (!half.has(n)) continue;
    result.converted++;
    if (n.opType === 'Cast' && n.attrInt('to', 0) === DataType.FLOAT)
      n.setAttribute(makeAttr('to', DataType.FLOAT16));
    if (n.opType === 'ConstantOfShape') {
      // Without a value attribute ConstantOfShape makes float32 zeros.
      const value = n.attribute('value')?.t ?? makeTensor('', DataType.FLOAT, [1], [0]);
      if (value.dataType === DataType.FLOAT) n.setAttribute(makeAttr('value', toHalf(value, model).tensor));
    }
  }

  // Graph outputs keep their names: a float16 value is renamed and cast back under the old name.
  for (const o of graph.outputs) {
    if (!isFloat(o.name) || !isHalf(o.name)) continue;
    if (!params.keepIO) continue;
    const p = graph.producer(o.name)!;
    const renamed = graph.uniqueName(`${o.name}_fp16`);
    graph.replaceUses(o.name, renamed);
    p.setOutput(p.outputs.indexOf(o.name), renamed);
    graph.addNode(
      {
        opType: 'Cast',
        name: graph.uniqueName(`${o.name}_Cast`),
        inputs: [renamed],
        outputs: [o.name],
        attributes: [makeAttr('to', DataType.FLOAT)],
      },
      { after: p },
    );
    result.casts++;
  }

  const halfValues = (v: string) => isFloat(v) && (isHalf(v) || isHalfConstant(v));
  graph.valueInfo = graph.valueInfo.map((v) => (halfValues(v.name) ? retype(v, DataType.FLOAT16) : v));
  if (!params.keepIO) {
    graph.inputs = graph.inputs.map((v) =>
      isFloat(v.name) && !graph.initializers.has(v.name) ? retype(v, DataType.FLOAT16) : v,
    );
    graph.outputs = graph.outputs.map((v) => (halfValues(v.name) ? retype(v, DataType.FLOAT16) : v));
  }
  graph.invalidate();
  return result;
}

export const convertFp16 = defineStage({
  id: 'convert-fp16',
  title: 'Convert to float16',
  description:
    'Half-precision weights and activations (2× smaller), with float32 kept where float16 is unsafe.',
  category: 'quantize',
  params: convertFp16Params,
  tolerance: { top1Agreement: 0.99, sqnrDb: 30 },
  async run(input, params, ctx) {
    assertFloatModel(input, 'convert-fp16');
    const model = input.clone();
    const graph = model.graph;
    const facts = inferShapes(graph, { opset: model.opsetVersion() });
    const floatValues = [...facts].filter(([, f]) => f.elemType === DataType.FLOAT).map(([v]) => v);
    if (floatValues.length === 0)
      throw new Error('convert-fp16: the model has no float32 tensors to convert');
    const overflow = new Set<string>();
    const notes: string[] = [];
    for (const [name, t] of graph.initializers)
      if (
        t.dataType === DataType.FLOAT &&
        tensorToFloat64(t, model.external).some((v) => Math.abs(v) > FLOAT16_MAX)
      )
        overflow.add(name);
    if (params.rangeCheck) {
      const computed = floatValues.filter(
        (v) => graph.producer(v) && graph.producer(v)!.opType !== 'Constant',
      );
      const source = ctx.data ? 'dataset samples' : 'generated inputs';
      try {
        const ranges = await measureRanges(model, computed, params, ctx);
        let beyond = 0;
        for (const [v, m] of ranges)
          if (m > RANGE_LIMIT || !Number.isFinite(m)) {
            overflow.add(v);
            beyond++;
          }
        notes.push(
          `range check on ${source}: ${beyond} value${beyond === 1 ? '' : 's'} beyond ±${Math.round(RANGE_LIMIT)} kept float32`,
        );
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        notes.push(
          `range check skipped: the model did not run on ${source} (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); open a dataset to check value ranges`,
        );
      }
    }
    const r = convertGraph(model, params, overflow);
    if (r.converted === 0)
      throw new Error(
        `convert-fp16: no operator could run in float16 (${[...r.blocked].map(([why, k]) => `${k}: ${why}`).join('; ')})`,
      );
    notes.unshift(
      `converted ${r.converted} node${r.converted === 1 ? '' : 's'} to float16 (${r.casts} Cast${r.casts === 1 ? '' : 's'} at float32 boundaries${params.keepIO ? ', inputs and outputs stay float32' : ''})`,
      `weights ${formatBytes(r.floatBytes)} → ${formatBytes(r.halfBytes)}`,
    );
    for (const [why, k] of r.blocked) notes.push(`kept ${k} node${k === 1 ? '' : 's'} float32: ${why}`);
    if (r.clamped) notes.push(`clamped ${r.clamped} weight value${r.clamped === 1 ? '' : 's'} to ±65504`);
    return { model, notes, changes: r.changes };
  },
});
