import { DataType } from '../onnx/dtype';
import { Model, type Dim, type Graph, type Node } from '../onnx/ir';
import { inferShapes, type ValueFacts } from '../onnx/shapes';
import { countParameters } from '../onnx/summary';
import { makeTensor, tensorDims } from '../onnx/tensor';
import type { TensorProto, ValueInfoProto } from '../onnx/proto/onnx_pb';
import { pruneChannels, pruneChannelsParams } from '../passes/pruneChannels';
import type { NodeChange, StageContext } from '../passes/types';
import { seededRandom } from '../runtime/inputs';

/** A student model made from (or checked against) the teacher, with what was done to make it. */
export interface Student {
  model: Model;
  parameters: number;
  /** One line on how the student was made. */
  description: string;
  /** What changed against the teacher, node by node (for the graph overlay). */
  changes: NodeChange[];
}

/**
 * A narrower copy of the teacher: structured channel pruning (the `prune-channels` stage) keeps
 * `width` of the channels of every prunable Conv and of the neurons of every hidden Gemm/MatMul,
 * ranked by L1 norm, so the student starts from the teacher's strongest filters.
 */
export async function narrowStudent(
  teacher: Model,
  width: number,
  ctx: Pick<StageContext, 'runtime' | 'signal'>,
): Promise<Student> {
  if (!(width > 0 && width <= 1)) throw new Error(`The student width must be in (0, 1], not ${width}.`);
  const ratio = 1 - width;
  const max = pruneChannelsParams.shape.ratio.unwrap().maxValue ?? 0.9;
  if (ratio > max + 1e-9)
    throw new Error(
      `A width of ${width} removes more than the ${Math.round(max * 100)} % of channels channel pruning allows; use a width of at least ${(1 - max).toFixed(2)}.`,
    );
  const out = await pruneChannels.run(teacher.clone(), pruneChannelsParams.parse({ ratio }), {
    runtime: ctx.runtime,
    signal: ctx.signal,
    progress: () => undefined,
  });
  const before = countParameters(teacher.graph);
  const parameters = countParameters(out.model.graph);
  if (parameters >= before)
    throw new Error(
      'Channel pruning found no channel to remove in this model (every channel is tied to an input or output); use a shallow or a file student.',
    );
  return {
    model: out.model,
    parameters,
    description: `narrow student at width ${width}: ${out.notes[0] ?? ''}`,
    changes: out.changes,
  };
}

/** Operators whose weights make a block worth removing. */
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** A single-entry, single-exit stretch of the graph whose output has the shape of its input. */
export interface RemovableBlock {
  /** The value entering the block. */
  from: string;
  /** The value leaving it (same shape and type as `from`). */
  to: string;
  nodes: Node[];
  /** Operator types, attributes and weight shapes: blocks with equal signatures repeat each other. */
  signature: string;
}

/** Adjacent blocks with the same signature, each ending where the next begins. */
export type BlockRun = RemovableBlock[];

function attributeKey(n: Node): string {
  return n.proto.attribute
    .map(
      (a) =>
        `${a.name}=${a.ints.length ? a.ints.join(',') : a.floats.length ? a.floats.join(',') : a.s.length ? new TextDecoder().decode(a.s) : a.i !== 0n ? a.i : a.f}`,
    )
    .sort()
    .join(';');
}

function sameShape(a: ValueFacts | undefined, b: ValueFacts | undefined): boolean {
  const sa = a?.shape;
  const sb = b?.shape;
  if (!sa || !sb || sa.length !== sb.length || a?.elemType !== b?.elemType) return false;
  return sa.every((d: Dim, i) => d !== undefined && d === sb[i]);
}

/**
 * Runs of repeated blocks that could be dropped without changing any shape. The graph is cut where
 * exactly one value is live (every path passes through it); a block begins at a cut read by a
 * weighted layer (Conv, Gemm, MatMul) and ends at the last cut before the next such beginning that
 * has the same shape — a residual block from its input to its output, or a Conv–BN–Relu triple.
 */
export function repeatedBlocks(model: Model): BlockRun[] {
  const graph = model.graph;
  const facts = inferShapes(graph, { opset: model.opsetVersion('') ?? 13 });
  const constant = new Set<string>(graph.initializers.keys());
  const order: Node[] = [];
  for (const n of graph.topologicalOrder()) {
    if (n.opType === 'Constant' || (n.inputs.length > 0 && n.inputs.every((i) => !i || constant.has(i))))
      n.outputs.forEach((o) => constant.add(o));
    else order.push(n);
  }
  const lastUse = new Map<string, number>();
  order.forEach((n, k) => {
    for (const i of n.inputs) if (i && !constant.has(i)) lastUse.set(i, k);
  });
  for (const o of graph.outputs) lastUse.set(o.name, Infinity);
  const weightedReader = (value: string) =>
    graph.consumers(value).some((c) => WEIGHTED_OPS.has(c.opType) && c.inputs[0] === value);

  interface Cut {
    after: number;
    value: string;
  }
  const cuts: Cut[] = [];
  const live = new Set<string>();
  for (const v of graph.feedInputs()) if ((lastUse.get(v.name) ?? -1) >= 0) live.add(v.name);
  if (live.size === 1) cuts.push({ after: -1, value: [...live][0] });
  order.forEach((n, k) => {
    for (const o of n.outputs) if (o && (lastUse.get(o) ?? -1) > k) live.add(o);
    for (const v of [...live]) if ((lastUse.get(v) ?? -1) <= k) live.delete(v);
    if (live.size === 1) cuts.push({ after: k, value: [...live][0] });
  });

  const blocks: { start: number; end: number; block: RemovableBlock }[] = [];
  const starts = cuts.map((_, i) => i).filter((i) => weightedReader(cuts[i].value));
  starts.forEach((s, j) => {
    const a = cuts[s];
    const limit = j + 1 < starts.length ? starts[j + 1] : cuts.length - 1;
    for (let e = limit; e > s; e--) {
      const c = cuts[e];
      if (graph.isGraphOutput(c.value) || !sameShape(facts.get(a.value), facts.get(c.value))) continue;
      const nodes = order.slice(a.after + 1, c.after + 1);
      if (!nodes.some((n) => WEIGHTED_OPS.has(n.opType))) continue;
      const signature = nodes
        .map((n) => {
          const weights = n.inputs
            .filter((i) => i && constant.has(i))
            .map((i) => graph.valueShape(i)?.join('x') ?? tensorShape(graph, i))
            .join('|');
          return `${n.domain}.${n.opType}(${attributeKey(n)})[${weights}]`;
        })
        .join(' ');
      blocks.push({ start: s, end: e, block: { from: a.value, to: c.value, nodes, signature } });
      break;
    }
  });

  const runs: BlockRun[] = [];
  let run: typeof blocks = [];
  const flush = () => {
    if (run.length >= 2) runs.push(run.map((b) => b.block));
    run = [];
  };
  for (const b of blocks) {
    const prev = run[run.length - 1];
    if (prev && prev.end === b.start && prev.block.signature === b.block.signature) run.push(b);
    else {
      flush();
      run = [b];
    }
  }
  flush();
  return runs;
}

function tensorShape(graph: Graph, name: string): string {
  const t = graph.initializers.get(name) ?? graph.producer(name)?.attribute('value')?.t;
  return t ? tensorDims(t).join('x') : '?';
}

/** There is no repeated block whose removal keeps the shapes: the shallow student cannot be made. */
export class NoRemovableBlockError extends Error {
  constructor() {
    super(
      'A shallow student needs repeated blocks whose input and output have the same shape (e.g. residual blocks or Conv–BN–Relu layers of equal width), and this model has none. Use a narrow student (width) or supply a student .onnx file.',
    );
    this.name = 'NoRemovableBlockError';
  }
}

/**
 * A shallower copy of the teacher: in every run of repeated blocks only `depth` of the repetitions
 * stay (at least one); the last ones of each run are removed and their output's readers read the
 * run's earlier value instead. Throws {@link NoRemovableBlockError} when no block can go.
 */
export function shallowStudent(teacher: Model, depth: number): Student {
  const model = teacher.clone();
  const runs = repeatedBlocks(model);
  let removed = 0;
  let nodes = 0;
  const changes: NodeChange[] = [];
  const described: string[] = [];
  for (const run of runs) {
    const keep = Math.max(1, Math.round(run.length * depth));
    const gone = run.slice(keep);
    if (!gone.length) continue;
    // Last first, so each removed block's output is re-pointed at a value that still exists.
    for (const block of [...gone].reverse()) model.graph.replaceUses(block.to, block.from);
    for (const block of gone)
      for (const n of block.nodes)
        changes.push({ node: n.name, kind: 'removed', detail: 'repeated block dropped from the student' });
    removed += gone.length;
    nodes += gone.reduce((s, b) => s + b.nodes.length, 0);
    described.push(`${gone.length} of ${run.length} × ${run[0].nodes.map((n) => n.opType).join('·')}`);
  }
  if (!removed) throw new NoRemovableBlockError();
  model.graph.removeDeadCode();
  const before = countParameters(teacher.graph);
  const parameters = countParameters(model.graph);
  return {
    model,
    parameters,
    description: `shallow student: removed ${removed} repeated block${removed === 1 ? '' : 's'} (${nodes} nodes: ${described.join('; ')}); parameters ${before.toLocaleString('en-US')} → ${parameters.toLocaleString('en-US')}`,
    changes,
  };
}

/** What a supplied student must fit: the data's sample shape and, when known, the teacher's interface. */
export interface StudentInterface {
  sampleShape: readonly number[];
  /** The teacher's input name: the student's input is renamed to it. */
  input?: string;
  /** The teacher's output names: the student's outputs are renamed to them, in order. */
  outputs?: readonly string[];
  classes?: number;
}

/** Rename a value everywhere it appears in the graph (producer, readers, graph inputs and outputs, value_info). */
function renameValue(graph: Graph, from: string, to: string): void {
  if (from === to) return;
  graph.replaceUses(from, to, { graphOutputs: true });
  const producer = graph.producer(from);
  if (producer) producer.setOutput(producer.outputs.indexOf(from), to);
  const renamed = (v: ValueInfoProto) => (v.name === from ? { ...v, name: to } : v);
  graph.inputs = graph.inputs.map(renamed);
  graph.valueInfo = graph.valueInfo.map(renamed);
  graph.invalidate();
}

/**
 * A student the user supplies: decoded, with one float input the dataset can feed, checked to have
 * as many classes as the teacher. Its input and outputs take the teacher's names, so the pipeline
 * (and the stages after it) feed and read it exactly like the teacher.
 */
export function fileStudent(name: string, bytes: Uint8Array, expected: StudentInterface): Student {
  const { sampleShape, classes } = expected;
  let model: Model;
  try {
    model = Model.decode(bytes);
  } catch (e) {
    throw new Error(
      `The student file "${name}" is not a usable ONNX model: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const inputs = model.graph.feedInputs();
  if (inputs.length !== 1)
    throw new Error(`The student "${name}" must have exactly one input, and it has ${inputs.length}.`);
  const facts = inferShapes(model.graph, { opset: model.opsetVersion('') ?? 13 });
  const input = facts.get(inputs[0].name);
  if (input?.elemType !== undefined && input.elemType !== DataType.FLOAT)
    throw new Error(`The student "${name}" must take a float32 input.`);
  const shape = input?.shape;
  if (
    shape &&
    (shape.length !== sampleShape.length ||
      shape.some(
        (d, i) => typeof d === 'number' && d !== sampleShape[i] && !(i === 0 && sampleShape[0] === 1),
      ))
  )
    throw new Error(
      `The student "${name}" takes [${shape.map((d) => d ?? '?').join(', ')}] but the data are [${sampleShape.join(', ')}].`,
    );
  const out = facts.get(model.graph.outputs[0]?.name ?? '')?.shape;
  const outClasses = out?.[out.length - 1];
  if (classes !== undefined && typeof outClasses === 'number' && outClasses !== classes)
    throw new Error(
      `The student "${name}" has ${outClasses} outputs per sample but the teacher has ${classes} classes.`,
    );
  const renames: [string, string][] = [];
  if (expected.input) renames.push([inputs[0].name, expected.input]);
  expected.outputs?.forEach((to, i) => {
    const from = model.graph.outputs[i]?.name;
    if (from) renames.push([from, to]);
  });
  const graph = model.graph;
  const changed = renames.filter(([from, to]) => from !== to);
  for (const [from, to] of changed) {
    // A student value that already has the name steps aside first.
    if (graph.producer(to) || graph.isGraphInput(to) || graph.initializers.has(to))
      renameValue(graph, to, graph.uniqueName(`${to}_student`));
    renameValue(graph, from, to);
  }
  const parameters = countParameters(model.graph);
  return {
    model,
    parameters,
    description:
      `student from "${name}": ${model.graph.nodes.length} nodes, ${parameters.toLocaleString('en-US')} parameters` +
      (changed.length
        ? `; ${changed.map(([f, t]) => `"${f}" renamed "${t}"`).join(', ')} as in the teacher`
        : ''),
    changes: [],
  };
}

/** Box–Muller normal samples from a seeded uniform source. */
function normal(n: number, std: number, random: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(random(), 1e-12);
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  }
  return out;
}

function uniform(n: number, limit: number, random: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => (random() * 2 - 1) * limit);
}

const RECTIFIERS = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Clip',
  'HardSwish',
  'Elu',
  'Selu',
  'Gelu',
  'Mish',
]);
const PASS_THROUGH = new Set(['BatchNormalization', 'Add', 'Reshape', 'Flatten', 'Identity']);

/** Whether a layer's output reaches a rectifier through normalisation / bias only (then He init). */
function feedsRectifier(graph: Graph, value: string, depth = 0): boolean {
  for (const c of graph.consumers(value)) {
    if (RECTIFIERS.has(c.opType)) return true;
    if (depth < 3 && PASS_THROUGH.has(c.opType) && feedsRectifier(graph, c.outputs[0], depth + 1))
      return true;
  }
  return false;
}

function floatConstant(graph: Graph, name: string): TensorProto | undefined {
  const t = graph.initializers.get(name) ?? graph.producer(name)?.attribute('value')?.t;
  return t && t.dataType === DataType.FLOAT ? t : undefined;
}

/**
 * The same architecture with fresh weights, as a student trained from scratch starts: He-normal
 * weights for layers followed by a rectifier, Glorot-uniform for the others (the classifier),
 * zero biases, BatchNormalization at γ = 1, β = 0, mean 0, variance 1.
 */
export function reinitializeWeights(model: Model, seed: number): Model {
  const out = model.clone();
  const graph = out.graph;
  const random = seededRandom(seed);
  const fresh = new Map<string, Float32Array>();
  const set = (name: string | undefined, make: (n: number, dims: number[]) => Float32Array) => {
    if (!name || fresh.has(name)) return;
    const t = floatConstant(graph, name);
    if (!t) return;
    const dims = tensorDims(t);
    fresh.set(
      name,
      make(
        dims.reduce((p, d) => p * d, 1),
        dims,
      ),
    );
  };
  const zeros = (n: number) => new Float32Array(n);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const layerProducers = new Set<string>();
  for (const n of graph.topologicalOrder()) {
    const op = n.opType;
    if (op === 'Conv' || op === 'ConvTranspose' || op === 'Gemm' || op === 'MatMul') {
      const wIndex = op === 'MatMul' && floatConstant(graph, n.inputs[0]) ? 0 : 1;
      const w = floatConstant(graph, n.inputs[wIndex]);
      if (!w) continue;
      const dims = tensorDims(w);
      let fanIn: number;
      let fanOut: number;
      if (op === 'Conv' || op === 'ConvTranspose') {
        const k = dims.slice(2).reduce((p, d) => p * d, 1);
        const groups = n.attrInt('group', 1);
        [fanIn, fanOut] =
          op === 'Conv' ? [dims[1] * k, (dims[0] * k) / groups] : [(dims[0] * k) / groups, dims[1] * k];
      } else if (op === 'Gemm') {
        const transB = n.attrInt('transB', 0) === 1;
        [fanIn, fanOut] = transB ? [dims[1], dims[0]] : [dims[0], dims[1]];
      } else {
        [fanIn, fanOut] = dims.length >= 2 ? [dims[dims.length - 2], dims[dims.length - 1]] : [dims[0], 1];
      }
      const he = feedsRectifier(graph, n.outputs[0]);
      set(n.inputs[wIndex], (count) =>
        he
          ? normal(count, Math.sqrt(2 / fanIn), random)
          : uniform(count, Math.sqrt(6 / (fanIn + fanOut)), random),
      );
      if (op !== 'MatMul') set(n.inputs[2], zeros);
      layerProducers.add(n.outputs[0]);
    } else if (op === 'BatchNormalization') {
      set(n.inputs[1], ones);
      set(n.inputs[2], zeros);
      set(n.inputs[3], zeros);
      set(n.inputs[4], ones);
    } else if (op === 'LayerNormalization') {
      set(n.inputs[1], ones);
      set(n.inputs[2], zeros);
    } else if (op === 'PRelu') {
      set(n.inputs[1], (count) => new Float32Array(count).fill(0.25));
    } else if (op === 'Add' && n.inputs.length === 2) {
      // The bias after a MatMul (or a Conv without its own).
      const [a, b] = n.inputs;
      if (layerProducers.has(a)) set(b, zeros);
      else if (layerProducers.has(b)) set(a, zeros);
    }
  }
  for (const [name, values] of fresh) {
    const t = floatConstant(graph, name)!;
    const producer = graph.producer(name);
    if (producer?.opType === 'Constant') graph.removeNode(producer);
    graph.addInitializer(makeTensor(name, DataType.FLOAT, tensorDims(t), values));
  }
  return out;
}
