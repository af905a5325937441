import type { Dim, Graph, Model, Node } from '../onnx/ir';
import { analyzeShapes, type ValueFacts } from '../onnx/shapes';
import type { ConstValue } from '../onnx/shapeOps';
import { ConstantEvaluator, bytesOf } from './evaluate';

/**
 * Channel analysis for structured pruning.
 *
 * Every output channel of a prunable layer (Conv filter, Gemm/MatMul neuron) gets an id. Each value
 * that carries such channels records, along its channel axis, which id sits at each position: a
 * residual Add or an SE Mul ties the ids of its operands together (union-find), a Concat lays its
 * inputs' ids end to end, a Split cuts them apart, a Flatten repeats each id over the features it
 * becomes, a depthwise Conv passes its input's ids through. A set of tied ids is a "class": removing
 * it removes that channel everywhere at once. Every place whose size depends on a class — weights of
 * producers and consumers, biases, BatchNorm parameters, constant operands, group counts, Split sizes,
 * Reshape targets — becomes a rewrite site. Anything the analysis does not understand (an unknown
 * operator, a graph output, a Reshape target computed at run time, a grouped Conv) pins the classes
 * reaching it, which are then never removed.
 */

/** Which channel ids sit along a value's channel axis. */
export interface ChannelDesc {
  axis: number;
  rank: number;
  ids: Int32Array;
}

/** A layer whose output channels can be removed. */
export interface ChannelProducer {
  node: Node;
  ids: Int32Array;
  weightInput: number;
  /** Axis of the weight tensor that holds the output channels. */
  weightAxis: number;
}

/** A change the pruning has to make where a class is removed. */
export type RewriteSite =
  /** Keep, along `axis` of the constant input `input`, the positions whose class stays. */
  | { kind: 'slice'; node: Node; input: number; axis: number; ids: Int32Array }
  /** A depthwise Conv's `group` becomes the number of input channels kept. */
  | { kind: 'group'; node: Node; ids: Int32Array }
  /** A Split along the channel axis: each part's size becomes its kept count. */
  | { kind: 'split'; node: Node; parts: Int32Array[] }
  /**
   * A Reshape target entry that spells the channel count out: entry `position` of the constant
   * input `input` of `node` (the Reshape, or a Concat building its target) becomes kept × factor.
   */
  | { kind: 'reshape'; node: Node; input: number; position: number; ids: Int32Array; factor: number };

export class UnionFind {
  private parent: number[] = [];

  add(): number {
    this.parent.push(this.parent.length);
    return this.parent.length - 1;
  }
  get size(): number {
    return this.parent.length;
  }
  find(x: number): number {
    let r = x;
    while (this.parent[r] !== r) r = this.parent[r];
    while (this.parent[x] !== r) {
      const next = this.parent[x];
      this.parent[x] = r;
      x = next;
    }
    return r;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  clone(): UnionFind {
    const u = new UnionFind();
    u.parent = [...this.parent];
    return u;
  }
}

export interface ChannelAnalysis {
  graph: Graph;
  evaluator: ConstantEvaluator;
  facts: Map<string, ValueFacts>;
  descs: Map<string, ChannelDesc>;
  producers: ChannelProducer[];
  sites: RewriteSite[];
  /** Ties between ids: a class is a set of ids that must be removed together. */
  classes: UnionFind;
  /** Why an id may not be removed (the first reason found), by id. */
  pinned: Map<number, string>;
  /** Id lists of which at least one class must stay (each producer's outputs, each Split part). */
  segments: Int32Array[];
}

const UNARY = new Set([
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Celu',
  'Softplus',
  'Softsign',
  'Mish',
  'Gelu',
  'Erf',
  'Exp',
  'Log',
  'Abs',
  'Neg',
  'Sqrt',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Identity',
  'Dropout',
  'Cast',
  'Clip',
  'ThresholdedRelu',
  'Sin',
  'Cos',
  'Not',
  'Shrink',
  'IsNaN',
  'IsInf',
  'Swish',
]);
const ELEMENTWISE = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'PRelu',
  'Where',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'And',
  'Or',
  'Xor',
  'Mod',
  'BitShift',
]);
const POOLS = new Set([
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'LpPool',
  'GlobalLpPool',
]);

const isNum = (d: Dim): d is number => typeof d === 'number';
const product = (ds: readonly number[]) => ds.reduce((p, d) => p * d, 1);
const sameDims = (a: readonly Dim[], b: readonly Dim[]) =>
  a.length === b.length && a.every((d, i) => d !== undefined && d === b[i]);

/** Each id repeated as it appears in a flattened layout: `pre` blocks of (id × `post`). */
export function expandIds(ids: Int32Array, pre: number, post: number): Int32Array {
  const out = new Int32Array(pre * ids.length * post);
  let o = 0;
  for (let p = 0; p < pre; p++) for (const id of ids) for (let q = 0; q < post; q++) out[o++] = id;
  return out;
}

class Analyzer {
  readonly descs = new Map<string, ChannelDesc>();
  readonly producers: ChannelProducer[] = [];
  readonly sites: RewriteSite[] = [];
  readonly classes = new UnionFind();
  readonly pinned = new Map<number, string>();
  readonly segments: Int32Array[] = [];
  readonly facts: Map<string, ValueFacts>;
  readonly constants: Map<string, ConstValue>;
  readonly ev: ConstantEvaluator;
  readonly opset: number;

  constructor(
    readonly model: Model,
    readonly graph: Graph,
    readonly exclude: ReadonlySet<string>,
  ) {
    this.opset = model.opsetVersion('') ?? 13;
    const shapes = analyzeShapes(graph, { opset: this.opset });
    this.facts = shapes.facts;
    this.constants = shapes.constants;
    this.ev = new ConstantEvaluator(graph, {
      external: model.external,
      opset: this.opset,
      irVersion: Number(model.proto.irVersion),
      facts: this.facts,
    });
  }

  newIds(count: number, pinReason?: string): Int32Array {
    const ids = new Int32Array(count);
    for (let i = 0; i < count; i++) ids[i] = this.classes.add();
    if (pinReason) this.pin(ids, pinReason);
    return ids;
  }

  pin(ids: Int32Array, reason: string): void {
    for (const id of ids) if (!this.pinned.has(id)) this.pinned.set(id, reason);
  }

  desc(node: Node, i: number): ChannelDesc | undefined {
    const n = node.inputs[i];
    return n ? this.descs.get(n) : undefined;
  }

  shape(name: string): Dim[] | undefined {
    if (!name) return undefined;
    const v = this.ev.isConstant(name) ? this.ev.value(name) : undefined;
    return v ? v.dims : this.facts.get(name)?.shape;
  }

  rank(name: string): number | undefined {
    return this.descs.get(name)?.rank ?? this.shape(name)?.length;
  }

  /** A constant input's numbers (small tensors: axes, pads, scales, shapes). */
  numbers(node: Node, i: number): number[] | undefined {
    const n = node.inputs[i];
    if (!n || !this.ev.isConstant(n)) return undefined;
    const v = this.ev.value(n);
    return v ? Array.from(v.data) : undefined;
  }

  /**
   * Whether a constant input can be read and rewritten: it must be computable here, and storing it
   * must not take more room than the tensors it is computed from (a weight built at run time by
   * ConstantOfShape, or cast up from float16, is left alone rather than written out in full).
   */
  sliceable(node: Node, i: number): boolean {
    const n = node.inputs[i];
    if (!n || !this.ev.isConstant(n)) return false;
    const v = this.ev.value(n);
    return !!v && bytesOf(v) <= this.storedBytes(n) + 64;
  }

  private readonly storedMemo = new Map<string, number>();

  /** Bytes of the stored tensors a constant is computed from. */
  storedBytes(name: string): number {
    const memo = this.storedMemo.get(name);
    if (memo !== undefined) return memo;
    const seen = new Set<string>();
    let total = 0;
    const stack = [name];
    while (stack.length) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      const t = this.ev.stored(v);
      if (t) total += bytesOf({ dataType: t.dataType, dims: t.dims.map(Number) });
      else if (!this.ev.isStored(v))
        for (const i of this.graph.producer(v)?.inputs ?? []) if (i) stack.push(i);
    }
    this.storedMemo.set(name, total);
    return total;
  }

  slice(node: Node, input: number, axis: number, ids: Int32Array): void {
    this.sites.push({ kind: 'slice', node, input, axis, ids });
  }

  setOut(node: Node, index: number, d: ChannelDesc): void {
    const name = node.outputs[index];
    if (name) this.descs.set(name, d);
  }

  label(node: Node): string {
    return `${node.opType} ${node.name || node.outputs[0]}`;
  }

  run(): void {
    for (const node of this.graph.topologicalOrder()) {
      const accepted = this.handle(node);
      const why = `read by ${this.label(node)}, which the pruner cannot rewrite`;
      node.inputs.forEach((name, i) => {
        const d = name ? this.descs.get(name) : undefined;
        if (d && !accepted.has(i)) this.pin(d.ids, why);
      });
      for (const sub of node.subgraphs)
        for (const g of sub.graphs)
          for (const name of g.outerReferences()) {
            const d = this.descs.get(name);
            if (d) this.pin(d.ids, why);
          }
    }
    for (const o of this.graph.outputs) {
      const d = this.descs.get(o.name);
      if (d) this.pin(d.ids, `reaches the graph output "${o.name}"`);
    }
  }

  /** Handle one node; returns the input indices it accounted for (the others' channels get pinned). */
  handle(node: Node): Set<number> {
    const none = new Set<number>();
    if (node.domain !== '' || node.subgraphs.length > 0) return none;
    const all = new Set(node.inputs.map((_, i) => i));
    const op = node.opType;
    const x = this.desc(node, 0);
    switch (op) {
      case 'Conv':
        return this.conv(node);
      case 'ConvTranspose':
        return this.convTranspose(node);
      case 'Gemm':
        return this.gemm(node);
      case 'MatMul':
        return this.matmul(node);
      case 'BatchNormalization':
      case 'InstanceNormalization': {
        if (!x) return all;
        const params = op === 'BatchNormalization' ? [1, 2, 3, 4] : [1, 2];
        if (x.axis !== 1 || !params.every((i) => this.sliceable(node, i))) return none;
        if (node.outputs.slice(1).some((o) => o && this.graph.consumers(o).length)) return none;
        for (const i of params) this.slice(node, i, 0, x.ids);
        this.setOut(node, 0, x);
        return all;
      }
      case 'Concat':
        return this.concat(node);
      case 'Split':
        return this.split(node);
      case 'Reshape':
        return this.reshape(node);
      case 'Flatten':
        return this.flatten(node);
      case 'Shape':
        if (!x) return all;
        return this.shapeIsChannelFree(node, x) ? all : none;
      default:
        break;
    }
    if (ELEMENTWISE.has(op)) return this.elementwise(node);
    if (!x) {
      // Channels only enter through input 0 in the ops below; another described input is not handled.
      return node.inputs.some((_, i) => i > 0 && this.desc(node, i)) ? none : all;
    }
    if (node.inputs.some((_, i) => i > 0 && this.desc(node, i))) return none;
    const pass = (out: ChannelDesc) => {
      node.outputs.forEach((_, k) => this.setOut(node, k, out));
      return all;
    };
    if (UNARY.has(op)) return pass(x);
    if (POOLS.has(op)) {
      if (x.axis !== 1) return none;
      if (op === 'MaxPool' && node.outputs[1] && this.graph.consumers(node.outputs[1]).length) return none;
      this.setOut(node, 0, x);
      return all;
    }
    if (op === 'Transpose') {
      const perm = node.attrInts('perm') ?? Array.from({ length: x.rank }, (_, i) => x.rank - 1 - i);
      return pass({ ...x, axis: perm.indexOf(x.axis) });
    }
    if (op === 'Pad') {
      const pads = this.opset < 11 ? node.attrInts('pads') : this.numbers(node, 1);
      if (!pads || node.inputs[3] || pads[x.axis] !== 0 || pads[x.axis + x.rank] !== 0) return none;
      return pass(x);
    }
    if (op === 'Resize' || op === 'Upsample') {
      if (op === 'Resize' && node.inputs[3]) return none;
      const scales =
        op === 'Upsample' && this.opset < 9
          ? node.attribute('scales')?.floats
          : this.numbers(node, op === 'Resize' ? (this.opset < 11 ? 1 : 2) : 1);
      if (!scales || scales[x.axis] !== 1) return none;
      return pass(x);
    }
    if (op === 'Tile') {
      const reps = this.numbers(node, 1);
      return reps && reps[x.axis] === 1 ? pass(x) : none;
    }
    if (op === 'Expand') {
      const shape = this.numbers(node, 1);
      if (!shape) return none;
      const outRank = Math.max(x.rank, shape.length);
      const j = shape.length - (x.rank - x.axis);
      if (j >= 0 && shape[j] !== 1) return none;
      return pass({ ...x, axis: outRank - (x.rank - x.axis), rank: outRank });
    }
    if (op === 'Slice') {
      const axes = this.sliceAxes(node, x.rank);
      return axes && !axes.includes(x.axis) ? pass(x) : none;
    }
    if (op === 'Squeeze' || op === 'Unsqueeze') return this.squeeze(node, x);
    if (op === 'Gather') {
      const g = node.attrInt('axis', 0);
      const ga = g < 0 ? g + x.rank : g;
      const idx = node.inputs[1];
      if (ga === x.axis || !this.ev.isConstant(idx)) return none;
      const idxRank = this.shape(idx)?.length;
      if (idxRank === undefined) return none;
      const axis = x.axis < ga ? x.axis : x.axis - 1 + idxRank;
      return pass({ ...x, axis, rank: x.rank - 1 + idxRank });
    }
    if (op.startsWith('Reduce')) return this.reduce(node, x);
    if (op === 'Softmax' || op === 'LogSoftmax' || op === 'Hardmax') {
      const def = this.opset < 13 ? 1 : -1;
      const a0 = node.attrInt('axis', def);
      const a = a0 < 0 ? a0 + x.rank : a0;
      const mixes = this.opset < 13 ? x.axis >= a : x.axis === a;
      return mixes ? none : pass(x);
    }
    return none;
  }

  conv(node: Node): Set<number> {
    const none = new Set<number>();
    const wName = node.inputs[1];
    if (!this.sliceable(node, 1)) return none;
    if (node.inputs[2] && !this.sliceable(node, 2)) return none;
    const w = this.ev.value(wName)!.dims;
    const x = this.desc(node, 0);
    const group = node.attrInt('group', 1);
    const cOut = w[0];
    const all = new Set([0, 1, 2]);
    if (x && (x.axis !== 1 || x.ids.length !== w[1] * group)) return none;
    if (group === 1) {
      if (x) this.slice(node, 1, 1, x.ids);
      const ids = this.newIds(cOut);
      if (this.exclude.has(node.name)) this.pin(ids, `${node.name} is excluded`);
      this.producers.push({ node, ids, weightInput: 1, weightAxis: 0 });
      this.segments.push(ids);
      this.slice(node, 1, 0, ids);
      if (node.inputs[2]) this.slice(node, 2, 0, ids);
      this.setOut(node, 0, { axis: 1, rank: w.length, ids });
      return all;
    }
    if (w[1] === 1 && cOut % group === 0) {
      // Depthwise: output channel j reads only input channel ⌊j / multiplier⌋, so it follows it.
      if (!x) return all;
      if (x.ids.length !== group) return none;
      const ids = expandIds(x.ids, 1, cOut / group);
      if (this.exclude.has(node.name)) this.pin(x.ids, `${node.name} is excluded`);
      this.slice(node, 1, 0, ids);
      if (node.inputs[2]) this.slice(node, 2, 0, ids);
      this.sites.push({ kind: 'group', node, ids: x.ids });
      this.setOut(node, 0, { axis: 1, rank: x.rank, ids });
      return all;
    }
    // A grouped convolution needs equal groups; its channels are left as they are.
    return x ? none : all;
  }

  convTranspose(node: Node): Set<number> {
    const none = new Set<number>();
    if (!this.sliceable(node, 1) || node.attrInt('group', 1) !== 1) return none;
    if (node.inputs[2] && !this.sliceable(node, 2)) return none;
    const w = this.ev.value(node.inputs[1])!.dims;
    const x = this.desc(node, 0);
    if (x && x.axis !== 1) return none;
    if (x) this.slice(node, 1, 0, x.ids);
    const ids = this.newIds(w[1]);
    if (this.exclude.has(node.name)) this.pin(ids, `${node.name} is excluded`);
    this.producers.push({ node, ids, weightInput: 1, weightAxis: 1 });
    this.segments.push(ids);
    this.slice(node, 1, 1, ids);
    if (node.inputs[2]) this.slice(node, 2, 0, ids);
    this.setOut(node, 0, { axis: 1, rank: w.length, ids });
    return new Set([0, 1, 2]);
  }

  gemm(node: Node): Set<number> {
    const none = new Set<number>();
    if (this.ev.isConstant(node.inputs[0]) || !this.sliceable(node, 1)) return none;
    const b = this.ev.value(node.inputs[1])!.dims;
    if (b.length !== 2) return none;
    const transA = node.attrInt('transA', 0) === 1;
    const transB = node.attrInt('transB', 0) === 1;
    const x = this.desc(node, 0);
    if (x && (x.rank !== 2 || x.axis !== (transA ? 0 : 1))) return none;
    const n = transB ? b[0] : b[1];
    const ids = this.newIds(n);
    const accepted = new Set([0, 1]);
    const c = node.inputs[2];
    if (c) {
      const cd = this.desc(node, 2);
      if (cd) {
        if (cd.ids.length !== n || cd.axis !== cd.rank - 1) return none;
        for (let i = 0; i < n; i++) this.classes.union(ids[i], cd.ids[i]);
      } else if (this.sliceable(node, 2)) {
        const dims = this.ev.value(c)!.dims;
        if (dims.length && dims[dims.length - 1] === n && n !== 1) this.slice(node, 2, dims.length - 1, ids);
      } else {
        const s = this.shape(c);
        if (!s || (s.length && s[s.length - 1] !== 1))
          this.pin(ids, `${node.name} adds a bias computed at run time`);
      }
      accepted.add(2);
    }
    if (x) this.slice(node, 1, transB ? 1 : 0, x.ids);
    if (this.exclude.has(node.name)) this.pin(ids, `${node.name} is excluded`);
    this.producers.push({ node, ids, weightInput: 1, weightAxis: transB ? 0 : 1 });
    this.segments.push(ids);
    this.slice(node, 1, transB ? 0 : 1, ids);
    this.setOut(node, 0, { axis: 1, rank: 2, ids });
    return accepted;
  }

  matmul(node: Node): Set<number> {
    const none = new Set<number>();
    if (this.ev.isConstant(node.inputs[0]) || !this.sliceable(node, 1)) return none;
    const b = this.ev.value(node.inputs[1])!.dims;
    if (b.length !== 2) return none;
    const rankA = this.rank(node.inputs[0]);
    if (rankA === undefined) return none;
    const x = this.desc(node, 0);
    if (x && x.axis !== rankA - 1) return none;
    if (x) this.slice(node, 1, 0, x.ids);
    const ids = this.newIds(b[1]);
    if (this.exclude.has(node.name)) this.pin(ids, `${node.name} is excluded`);
    this.producers.push({ node, ids, weightInput: 1, weightAxis: 1 });
    this.segments.push(ids);
    this.slice(node, 1, 1, ids);
    const outRank = rankA === 1 ? 1 : rankA;
    this.setOut(node, 0, { axis: outRank - 1, rank: outRank, ids });
    return new Set([0, 1]);
  }

  elementwise(node: Node): Set<number> {
    const none = new Set<number>();
    const described = node.inputs.map((_, i) => this.desc(node, i));
    const ds = described.filter((d): d is ChannelDesc => !!d);
    if (ds.length === 0) return new Set(node.inputs.map((_, i) => i));
    const first = ds[0];
    const fromEnd = first.rank - first.axis;
    const c = first.ids.length;
    if (ds.some((d) => d.rank - d.axis !== fromEnd || d.ids.length !== c)) return none;
    let outRank = 0;
    const pending: { input: number; axis: number }[] = [];
    for (let i = 0; i < node.inputs.length; i++) {
      const name = node.inputs[i];
      if (!name) continue;
      const r = this.rank(name);
      if (r === undefined) return none;
      outRank = Math.max(outRank, r);
      if (described[i]) continue;
      const j = r - fromEnd;
      if (j < 0) continue;
      const dim = this.shape(name)?.[j];
      if (dim === 1) continue;
      if (dim !== c || !this.sliceable(node, i)) return none;
      pending.push({ input: i, axis: j });
    }
    for (const d of ds.slice(1)) for (let k = 0; k < c; k++) this.classes.union(first.ids[k], d.ids[k]);
    for (const p of pending) this.slice(node, p.input, p.axis, first.ids);
    this.setOut(node, 0, { axis: outRank - fromEnd, rank: outRank, ids: first.ids });
    return new Set(node.inputs.map((_, i) => i));
  }

  concat(node: Node): Set<number> {
    const none = new Set<number>();
    const described = node.inputs.map((_, i) => this.desc(node, i));
    const ds = described.filter((d): d is ChannelDesc => !!d);
    const all = new Set(node.inputs.map((_, i) => i));
    if (ds.length === 0) return all;
    const rank = ds[0].rank;
    const a0 = node.attrInt('axis', 0);
    const axis = a0 < 0 ? a0 + rank : a0;
    if (ds.some((d) => d.rank !== rank)) return none;
    if (ds.every((d) => d.axis === axis)) {
      const parts: Int32Array[] = [];
      for (let i = 0; i < node.inputs.length; i++) {
        const d = described[i];
        if (d) {
          parts.push(d.ids);
          continue;
        }
        const dim = this.shape(node.inputs[i])?.[axis];
        if (!isNum(dim)) return none;
        parts.push(this.newIds(dim, `concatenated with ${node.inputs[i]}, which cannot be pruned`));
      }
      const ids = new Int32Array(parts.reduce((s, p) => s + p.length, 0));
      let o = 0;
      for (const p of parts) {
        ids.set(p, o);
        o += p.length;
      }
      this.setOut(node, 0, { axis, rank, ids });
      return all;
    }
    // Concatenated along another axis: the channels line up, like an elementwise op.
    const first = ds[0];
    if (ds.some((d) => d.axis !== first.axis || d.ids.length !== first.ids.length)) return none;
    for (let i = 0; i < node.inputs.length; i++) {
      if (described[i]) continue;
      if (!this.sliceable(node, i)) return none;
    }
    for (const d of ds.slice(1))
      for (let k = 0; k < first.ids.length; k++) this.classes.union(first.ids[k], d.ids[k]);
    for (let i = 0; i < node.inputs.length; i++)
      if (!described[i]) this.slice(node, i, first.axis, first.ids);
    this.setOut(node, 0, first);
    return all;
  }

  split(node: Node): Set<number> {
    const none = new Set<number>();
    const x = this.desc(node, 0);
    const all = new Set(node.inputs.map((_, i) => i));
    if (!x) return all;
    const a0 = node.attrInt('axis', 0);
    const axis = a0 < 0 ? a0 + x.rank : a0;
    if (axis !== x.axis) {
      node.outputs.forEach((_, k) => this.setOut(node, k, x));
      return all;
    }
    let sizes = this.opset < 13 ? node.attrInts('split') : node.inputs[1] ? this.numbers(node, 1) : undefined;
    if (this.opset >= 13 && node.inputs[1] && !sizes) return none;
    if (!sizes) {
      const n = node.outputs.length;
      const per = Math.ceil(x.ids.length / n);
      sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(per, x.ids.length - per * i)));
    }
    if (sizes.reduce((s, v) => s + v, 0) !== x.ids.length) return none;
    const parts: Int32Array[] = [];
    let start = 0;
    for (const s of sizes) {
      parts.push(x.ids.slice(start, start + s));
      start += s;
    }
    parts.forEach((ids, k) => this.setOut(node, k, { ...x, ids }));
    this.segments.push(...parts);
    this.sites.push({ kind: 'split', node, parts });
    return all;
  }

  flatten(node: Node): Set<number> {
    const none = new Set<number>();
    const x = this.desc(node, 0);
    if (!x) return new Set([0]);
    const s = this.shape(node.inputs[0]);
    if (!s) return none;
    const f0 = node.attrInt('axis', 1);
    const f = f0 < 0 ? f0 + x.rank : f0;
    const [lo, hi, outAxis] = x.axis < f ? [0, f, 0] : [f, x.rank, 1];
    const pre = s.slice(lo, x.axis);
    const post = s.slice(x.axis + 1, hi);
    if (!pre.every(isNum) || !post.every(isNum)) return none;
    this.setOut(node, 0, { axis: outAxis, rank: 2, ids: expandIds(x.ids, product(pre), product(post)) });
    return new Set([0]);
  }

  reshape(node: Node): Set<number> {
    const none = new Set<number>();
    const x = this.desc(node, 0);
    if (!x) return new Set([0, 1]);
    if (this.desc(node, 1) || !node.inputs[1]) return none;
    const s = this.shape(node.inputs[0]);
    const o = this.facts.get(node.outputs[0])?.shape;
    if (!s || !o || s.length !== x.rank) return none;
    const a = x.axis;
    const c = x.ids.length;
    if (s[a] !== c) return none;
    // Where the dims before the channel axis end in the output (usually the same batch dims).
    const starts: number[] = [];
    if (o.length >= a && sameDims(o.slice(0, a), s.slice(0, a))) starts.push(a);
    const pre = s.slice(0, a);
    if (pre.every(isNum)) {
      let p = 1;
      for (let i = 0; i <= o.length && p <= product(pre); i++) {
        if (p === product(pre) && !starts.includes(i)) starts.push(i);
        const d = o[i];
        if (i === o.length || !isNum(d)) break;
        p *= d;
      }
    }
    let b = -1;
    let factor = -1;
    let k = 0;
    for (const start of starts) {
      if (start >= o.length) continue;
      for (k = 0; a + k < s.length; k++) {
        const merged = s.slice(a + 1, a + 1 + k);
        if (!merged.every(isNum)) break;
        const f = product(merged);
        if (o[start] === c * f && sameDims(o.slice(start + 1), s.slice(a + 1 + k))) {
          factor = f;
          break;
        }
      }
      if (factor > 0) {
        b = start;
        break;
      }
    }
    if (b < 0) return none;
    const target = this.targetValue(node.inputs[1]);
    if (!target || target.length !== o.length) return none;
    const t = target[b];
    const allowZero = node.attrInt('allowzero', 0) === 1;
    if (t === -1 || (t === 0 && !allowZero && b === a && k === 0)) {
      // The target adapts by itself.
    } else if (t === o[b]) {
      const at = this.targetEntry(node, 1, b, 0);
      if (!at) return none;
      this.sites.push({ kind: 'reshape', ...at, ids: x.ids, factor });
    } else return none;
    this.setOut(node, 0, { axis: b, rank: o.length, ids: expandIds(x.ids, 1, factor) });
    return new Set([0, 1]);
  }

  /**
   * Where entry `position` of a shape vector read as input `input` of `node` is stored as a
   * constant: that input itself, or a constant part of the Concat that builds it.
   */
  targetEntry(
    node: Node,
    input: number,
    position: number,
    depth: number,
  ): { node: Node; input: number; position: number } | undefined {
    const name = node.inputs[input];
    if (this.sliceable(node, input)) return { node, input, position };
    const p = this.graph.producer(name);
    if (
      !p ||
      p.opType !== 'Concat' ||
      p.domain !== '' ||
      depth > 3 ||
      this.graph.consumers(name).length !== 1
    )
      return undefined;
    let offset = 0;
    for (let j = 0; j < p.inputs.length; j++) {
      const len = this.shape(p.inputs[j])?.[0];
      if (!isNum(len)) return undefined;
      if (position < offset + len) return this.targetEntry(p, j, position - offset, depth + 1);
      offset += len;
    }
    return undefined;
  }

  /** A Reshape target as far as it is known (symbolic entries for run-time dims). */
  targetValue(name: string): Dim[] | undefined {
    if (this.ev.isConstant(name)) {
      const v = this.ev.value(name);
      if (v) return Array.from(v.data);
    }
    return this.constants.get(name)?.values;
  }

  squeeze(node: Node, x: ChannelDesc): Set<number> {
    const none = new Set<number>();
    const attrAxes = node.attrInts('axes');
    const fromInput = this.opset >= 13 && node.inputs[1] ? this.numbers(node, 1) : undefined;
    if (this.opset >= 13 && node.inputs[1] && !fromInput) return none;
    let axes = attrAxes ?? fromInput;
    const all = new Set([0, 1]);
    if (node.opType === 'Squeeze') {
      if (!axes) {
        const s = this.shape(node.inputs[0]);
        if (!s || !s.every(isNum)) return none;
        axes = s.flatMap((d, i) => (d === 1 ? [i] : []));
      }
      const norm = axes.map((v) => (v < 0 ? v + x.rank : v));
      if (norm.includes(x.axis)) return none;
      this.setOut(node, 0, {
        ...x,
        axis: x.axis - norm.filter((v) => v < x.axis).length,
        rank: x.rank - norm.length,
      });
      return all;
    }
    if (!axes) return none;
    const outRank = x.rank + axes.length;
    const inserted = new Set(axes.map((v) => (v < 0 ? v + outRank : v)));
    let k = 0;
    for (let i = 0; i < outRank; i++) {
      if (inserted.has(i)) continue;
      if (k === x.axis) {
        this.setOut(node, 0, { ...x, axis: i, rank: outRank });
        return all;
      }
      k++;
    }
    return none;
  }

  sliceAxes(node: Node, rank: number): number[] | undefined {
    let axes: number[] | undefined;
    let count: number | undefined;
    if (this.opset < 10) {
      axes = node.attrInts('axes');
      count = node.attrInts('starts')?.length;
    } else {
      if (node.inputs[3]) {
        axes = this.numbers(node, 3);
        if (!axes) return undefined;
      }
      count = this.shape(node.inputs[1])?.[0] as number | undefined;
    }
    if (!axes) {
      if (count === undefined) return undefined;
      axes = Array.from({ length: count }, (_, i) => i);
    }
    return axes.map((a) => (a < 0 ? a + rank : a));
  }

  reduce(node: Node, x: ChannelDesc): Set<number> {
    const none = new Set<number>();
    const op = node.opType;
    const inInput = op === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    const axes = inInput ? (node.inputs[1] ? this.numbers(node, 1) : undefined) : node.attrInts('axes');
    if (!axes || axes.length === 0) return none;
    const norm = axes.map((a) => (a < 0 ? a + x.rank : a));
    if (norm.includes(x.axis)) return none;
    const keep = node.attrInt('keepdims', 1) === 1;
    const axis = keep ? x.axis : x.axis - norm.filter((a) => a < x.axis).length;
    this.setOut(node, 0, { ...x, axis, rank: keep ? x.rank : x.rank - norm.length });
    return new Set([0, 1]);
  }

  /** Whether a Shape's result is only used for dims other than the channel axis (e.g. the batch size). */
  shapeIsChannelFree(node: Node, x: ChannelDesc): boolean {
    const rank = x.rank;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const start = clamp(node.attrInt('start', 0));
    const end = node.attribute('end') ? clamp(node.attrInt('end', rank)) : rank;
    // Positions of the shape vector, as indices into the tensor's dims.
    const positions = Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
    return this.channelFreeUse(node.outputs[0], positions, x.axis, 0);
  }

  channelFreeUse(value: string, positions: number[], axis: number, depth: number): boolean {
    if (!positions.includes(axis)) return true;
    if (depth > 6 || this.graph.isGraphOutput(value)) return false;
    for (const c of this.graph.consumers(value)) {
      if (c.opType === 'Cast' || c.opType === 'Identity') {
        if (!this.channelFreeUse(c.outputs[0], positions, axis, depth + 1)) return false;
        continue;
      }
      if (c.opType === 'Gather' && c.inputs[0] === value && c.attrInt('axis', 0) === 0) {
        const idx = this.numbers(c, 1);
        if (!idx) return false;
        const picked = idx.map((i) => positions[i < 0 ? i + positions.length : i]);
        if (!this.channelFreeUse(c.outputs[0], picked, axis, depth + 1)) return false;
        continue;
      }
      if (c.opType === 'Slice' && c.inputs[0] === value) {
        let starts: number[] | undefined;
        let ends: number[] | undefined;
        let steps: number[] | undefined;
        if (this.opset < 10) {
          starts = c.attrInts('starts');
          ends = c.attrInts('ends');
          steps = [1];
          const ax = c.attrInts('axes');
          if (ax && ax.some((v) => v !== 0 && v !== -1)) return false;
        } else {
          starts = this.numbers(c, 1);
          ends = this.numbers(c, 2);
          steps = c.inputs[4] ? this.numbers(c, 4) : [1];
          if (c.inputs[3]) {
            const ax = this.numbers(c, 3);
            if (!ax || ax.some((v) => v !== 0 && v !== -1)) return false;
          }
        }
        if (!starts || !ends || !steps || steps[0] !== 1) return false;
        const n = positions.length;
        const s = Math.min(Math.max(starts[0] < 0 ? starts[0] + n : starts[0], 0), n);
        const e = Math.min(Math.max(ends[0] < 0 ? ends[0] + n : ends[0], 0), n);
        if (!this.channelFreeUse(c.outputs[0], positions.slice(s, Math.max(s, e)), axis, depth + 1))
          return false;
        continue;
      }
      return false;
    }
    return true;
  }
}

/** Analyze the channels of a model's main graph (subgraphs are left alone). */
export function analyzeChannels(model: Model, exclude: readonly string[] = []): ChannelAnalysis {
  const a = new Analyzer(model, model.graph, new Set(exclude));
  a.run();
  return {
    graph: model.graph,
    evaluator: a.ev,
    facts: a.facts,
    descs: a.descs,
    producers: a.producers,
    sites: a.sites,
    classes: a.classes,
    pinned: a.pinned,
    segments: a.segments,
  };
}
