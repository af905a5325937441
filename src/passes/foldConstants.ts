import { z } from 'zod';
import { create } from '@bufbuild/protobuf';
import { defineStage, type NodeChange } from './types';
import type { Graph, Model, Node } from '../onnx/ir';
import { DataType, dtypeInfo, allDataTypes } from '../onnx/dtype';
import { inferShapes } from '../onnx/shapes';
import { elementCount, halfToFloat } from '../onnx/tensor';
import { ModelProtoSchema, ValueInfoProtoSchema } from '../onnx/proto/onnx_pb';
import { encodeModelProto } from '../onnx/codec';
import { valueInfo } from '../onnx/builder';
import type { Runtime, RtTensor } from '../runtime/types';
import {
  ConstantEvaluator,
  SHAPE_OPS,
  bytesOf,
  evaluateNode,
  isEvaluatorType,
  roundTo,
  toRtTensor,
  toTensorProto,
  type ConstTensor,
} from './evaluate';

export const foldConstantsParams = z.object({
  useRuntime: z
    .boolean()
    .default(true)
    .describe('Evaluate operators our own evaluator lacks by running them in onnxruntime.'),
  maxElements: z
    .number()
    .int()
    .min(1)
    .default(4_000_000)
    .describe('Never compute a constant with more elements than this (memory guard).'),
});
export type FoldConstantsParams = z.output<typeof foldConstantsParams>;

/** Bytes a fold may add beyond what it frees: a removed node and its names weigh about this much. */
const SLACK = 64;

const ortTypes = new Map(allDataTypes.flatMap((id) => (dtypeInfo(id).ort ? [[dtypeInfo(id).ort!, id]] : [])));

function fromRuntime(t: RtTensor): ConstTensor | undefined {
  const dataType = ortTypes.get(t.type);
  if (dataType === undefined || !isEvaluatorType(dataType) || Array.isArray(t.data)) return undefined;
  const data = new Float64Array(t.data.length);
  // float16 arrives as its bits.
  if (dataType === DataType.FLOAT16)
    for (let i = 0; i < t.data.length; i++) data[i] = halfToFloat(Number(t.data[i]));
  else for (let i = 0; i < t.data.length; i++) data[i] = Number(t.data[i]);
  return { dataType, dims: [...t.dims], data: roundTo(data, dataType) };
}

/**
 * Run one node in onnxruntime on constant inputs (for operators the evaluator does not implement).
 * The inputs are fed, not stored: onnxruntime would otherwise fold the whole graph away at load.
 */
async function runNode(runtime: Runtime, model: Model, node: Node, inputs: (ConstTensor | undefined)[]) {
  const names = [...new Set(node.inputs.filter((n) => n))];
  const feeds: Record<string, RtTensor> = {};
  for (const name of names) {
    const v = inputs[node.inputs.indexOf(name)];
    if (!v) return undefined;
    feeds[name] = toRtTensor(v);
  }
  const outputs = node.outputs.filter((o) => o);
  const proto = create(ModelProtoSchema, {
    irVersion: model.proto.irVersion < 4n ? 4n : model.proto.irVersion,
    opsetImport: model.proto.opsetImport,
    graph: {
      name: 'fold',
      node: [node.toProto()],
      input: names.map((name) =>
        valueInfo(name, inputs[node.inputs.indexOf(name)]!.dataType, inputs[node.inputs.indexOf(name)]!.dims),
      ),
      output: outputs.map((name) => create(ValueInfoProtoSchema, { name })),
    },
  });
  const session = await runtime.createSession(encodeModelProto(proto));
  try {
    const r = await session.run(feeds);
    return node.outputs.map((o) => (o && r[o] ? fromRuntime(r[o]) : undefined));
  } finally {
    await session.release();
  }
}

interface FoldStats {
  folded: number;
  inflating: Map<string, { count: number; bytes: number; from: number }>;
  failed: Map<string, number>;
  outputs: number;
  changes: NodeChange[];
}

class GraphFolder {
  readonly ev: ConstantEvaluator;
  private readonly values = new Map<string, ConstTensor | null>();
  private readonly facts;

  constructor(
    readonly model: Model,
    readonly graph: Graph,
    readonly params: FoldConstantsParams,
    readonly runtime: Runtime | undefined,
    readonly strict: boolean,
  ) {
    const opset = model.opsetVersion('') ?? 13;
    this.facts = inferShapes(graph, { opset });
    this.ev = new ConstantEvaluator(graph, {
      external: model.external,
      opset,
      irVersion: Number(model.proto.irVersion),
      facts: this.facts,
      maxElements: params.maxElements,
    });
  }

  /** Whether every output of a node is known before run time. */
  derivable(node: Node): boolean {
    return node.outputs.every((o) => !o || this.ev.isConstant(o));
  }

  staticShape(name: string): boolean {
    const s = this.facts.get(name)?.shape;
    return !!s && s.every((d) => typeof d === 'number' && d >= 0);
  }

  predictedBytes(name: string): number | undefined {
    const f = this.facts.get(name);
    if (!f?.shape || f.elemType === undefined || !f.shape.every((d) => typeof d === 'number'))
      return undefined;
    return bytesOf({ dataType: f.elemType, dims: f.shape as number[] });
  }

  predictedElements(name: string): number | undefined {
    const s = this.facts.get(name)?.shape;
    return s && s.every((d) => typeof d === 'number') ? elementCount(s as number[]) : undefined;
  }

  /** The nodes a constant is computed by, and the stored tensors they read. */
  cone(name: string): { nodes: Set<Node>; stored: Set<string> } {
    const nodes = new Set<Node>();
    const stored = new Set<string>();
    const stack = [name];
    while (stack.length) {
      const n = stack.pop()!;
      if (this.ev.isStored(n)) {
        stored.add(n);
        continue;
      }
      const p = this.graph.producer(n);
      if (!p || nodes.has(p)) continue;
      nodes.add(p);
      if (SHAPE_OPS.has(p.opType) && this.staticShape(p.inputs[0])) continue;
      for (const i of p.inputs) if (i) stack.push(i);
    }
    return { nodes, stored };
  }

  /** Bytes of stored tensors only this cone reads (they disappear with it). */
  freedBytes(cone: { nodes: Set<Node>; stored: Set<string> }): number {
    let freed = 0;
    for (const s of cone.stored) {
      if (this.graph.isGraphOutput(s)) continue;
      const readers = this.graph.consumers(s);
      if (!readers.every((r) => cone.nodes.has(r))) continue;
      const t = this.ev.stored(s);
      if (t) freed += bytesOf({ dataType: t.dataType, dims: t.dims.map(Number) });
    }
    return freed;
  }

  async value(name: string, stats: FoldStats): Promise<ConstTensor | undefined> {
    const memo = this.values.get(name);
    if (memo !== undefined) return memo ?? undefined;
    let result: ConstTensor | undefined;
    const p = this.graph.producer(name);
    if (this.ev.isStored(name)) result = this.ev.value(name);
    else if (p && this.ev.isConstant(name)) {
      const tooBig = p.outputs.some((o) => o && (this.predictedElements(o) ?? 0) > this.params.maxElements);
      if (!tooBig) {
        const shapeOnly = SHAPE_OPS.has(p.opType) && this.staticShape(p.inputs[0]);
        const inputs: (ConstTensor | undefined)[] = [];
        let missing = false;
        for (const i of shapeOnly ? [] : p.inputs) {
          const v = i ? await this.value(i, stats) : undefined;
          if (i && !v) missing = true;
          inputs.push(v);
        }
        if (!missing) {
          let outs = evaluateNode(p, inputs, this.ev.env);
          if (!outs && this.runtime && this.params.useRuntime && !shapeOnly) {
            try {
              outs = await runNode(this.runtime, this.model, p, inputs);
            } catch {
              outs = undefined;
            }
          }
          if (outs) p.outputs.forEach((o, k) => o && this.values.set(o, outs[k] ?? null));
          else stats.failed.set(p.opType, (stats.failed.get(p.opType) ?? 0) + 1);
          result = outs?.[p.outputs.indexOf(name)];
        }
      }
    }
    this.values.set(name, result ?? null);
    return result;
  }

  async fold(stats: FoldStats, signal: AbortSignal): Promise<void> {
    const frontier: string[] = [];
    for (const node of this.graph.topologicalOrder()) {
      if (node.opType === 'Constant' && node.domain === '') continue;
      for (const o of node.outputs) {
        if (!o || this.ev.isStored(o) || !this.ev.isConstant(o)) continue;
        if (this.graph.isGraphOutput(o)) {
          stats.outputs++;
          continue;
        }
        if (this.graph.consumers(o).some((c) => !this.derivable(c) || !this.ev.foldable(c))) frontier.push(o);
      }
    }
    const queue = [...frontier];
    const seen = new Set(queue);
    // A value left to run time (it would inflate) may still have foldable inputs: try those next.
    const tryInputs = (producer: Node) => {
      if (SHAPE_OPS.has(producer.opType) && this.staticShape(producer.inputs[0])) return;
      for (const i of producer.inputs)
        if (i && !seen.has(i) && !this.ev.isStored(i) && this.ev.isConstant(i)) {
          seen.add(i);
          queue.push(i);
        }
    };
    while (queue.length) {
      const name = queue.shift()!;
      signal.throwIfAborted();
      const cone = this.cone(name);
      const freed = this.freedBytes(cone);
      const budget = freed + (this.strict ? 0 : SLACK);
      const producer = this.graph.producer(name)!;
      const inflating = (bytes: number) => {
        const k = stats.inflating.get(producer.opType) ?? { count: 0, bytes: 0, from: 0 };
        stats.inflating.set(producer.opType, {
          count: k.count + 1,
          bytes: k.bytes + bytes,
          from: k.from + freed,
        });
        tryInputs(producer);
      };
      const predicted = this.predictedBytes(name);
      if (predicted !== undefined && predicted > budget) {
        inflating(predicted);
        continue;
      }
      const v = await this.value(name, stats);
      if (!v) {
        tryInputs(producer);
        continue;
      }
      const bytes = bytesOf(v);
      if (bytes > budget) {
        inflating(bytes);
        continue;
      }
      // The producer's output gets a dead name; the initializer takes over the value's name.
      producer.setOutput(producer.outputs.indexOf(name), this.graph.uniqueName(`${name}_unfolded`));
      this.graph.addInitializer(toTensorProto(name, v));
      stats.folded++;
      for (const n of cone.nodes)
        if (n.opType !== 'Constant')
          stats.changes.push({ node: n.name, kind: 'removed', detail: `folded into constant ${name}` });
    }
    this.graph.removeDeadCode();
  }
}

async function foldModel(
  model: Model,
  params: FoldConstantsParams,
  runtime: Runtime | undefined,
  strict: boolean,
  signal: AbortSignal,
) {
  const stats: FoldStats = { folded: 0, inflating: new Map(), failed: new Map(), outputs: 0, changes: [] };
  for (const graph of [...model.graph.allGraphs()]) {
    const folder = new GraphFolder(model, graph, params, runtime, strict);
    await folder.fold(stats, signal);
  }
  return stats;
}

const kb = (n: number) =>
  n >= 1024 * 1024
    ? `${(n / 1024 / 1024).toFixed(1)} MB`
    : n >= 1024
      ? `${(n / 1024).toFixed(1)} KB`
      : `${n} B`;

export const foldConstants = defineStage({
  id: 'fold-constants',
  title: 'Fold constants',
  description:
    'Compute ahead of time what depends only on constants (shape arithmetic, reshaped or transposed weights), unless the result would make the file larger.',
  category: 'simplify',
  params: foldConstantsParams,
  tolerance: { maxAbsError: 1e-4, top1Agreement: 1 },
  async run(input, params, ctx) {
    const originalBytes = input.encode().byteLength;
    const nodesBefore = [...input.graph.allGraphs()].reduce((s, g) => s + g.nodes.length, 0);
    let model = input.clone();
    ctx.progress(0, 2, 'folding');
    let stats = await foldModel(model, params, ctx.runtime, false, ctx.signal);
    const notes: string[] = [];
    if (stats.folded && model.encode().byteLength > originalBytes) {
      // Shared cones can make the per-value budget optimistic: fold again, freeing before adding.
      model = input.clone();
      stats = await foldModel(model, params, ctx.runtime, true, ctx.signal);
      notes.push(
        'folded only what frees at least as many bytes as it adds (the first attempt grew the file)',
      );
      if (model.encode().byteLength > originalBytes) {
        model = input.clone();
        stats = {
          folded: 0,
          inflating: stats.inflating,
          failed: stats.failed,
          outputs: stats.outputs,
          changes: [],
        };
        notes.push('nothing folded: every fold made the file larger');
      }
    }
    const nodesAfter = [...model.graph.allGraphs()].reduce((s, g) => s + g.nodes.length, 0);
    notes.unshift(
      `folded ${nodesBefore - nodesAfter} node${nodesBefore - nodesAfter === 1 ? '' : 's'} into ${stats.folded} constant${stats.folded === 1 ? '' : 's'} (${nodesBefore} → ${nodesAfter} nodes)`,
    );
    for (const [op, k] of stats.inflating)
      notes.push(
        `kept ${k.count} ${op} result${k.count === 1 ? '' : 's'} computed at run time: storing ${kb(k.bytes)} would replace ${kb(k.from)}`,
      );
    for (const [op, n] of stats.failed) notes.push(`could not evaluate ${n} ${op} node${n === 1 ? '' : 's'}`);
    if (stats.outputs)
      notes.push(`left ${stats.outputs} constant graph output${stats.outputs === 1 ? '' : 's'} as computed`);
    ctx.progress(2, 2);
    return { model, notes, changes: stats.changes };
  },
});
