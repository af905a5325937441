import { z } from 'zod';
import { defineStage, type NodeChange } from './types';
import type { Model, Node } from '../onnx/ir';
import { DataType } from '../onnx/dtype';
import { makeAttr } from '../onnx/builder';
import { countParameters } from '../onnx/summary';
import { elementCount } from '../onnx/tensor';
import { analyzeChannels, type ChannelAnalysis, type ChannelProducer } from './channelGroups';
import { takeAlong, toTensorProto, type ConstTensor } from './evaluate';

export const pruneChannelsParams = z.object({
  ratio: z
    .number()
    .min(0)
    .max(0.9)
    .default(0.25)
    .describe('Fraction of the channels to remove in every group of tied channels (0–0.9).'),
  criterion: z
    .enum(['l1', 'l2', 'bn'])
    .default('l1')
    .describe(
      'How channels are ranked: L1 or L2 norm of each filter, or |γ| of the BatchNormalization that follows (L1 where there is none).',
    ),
  exclude: z.array(z.string()).default([]).describe('Names of layers whose output channels are all kept.'),
  targetParameters: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      'Instead of the ratio: remove the same fraction everywhere, as little as needed to reach at most this many parameters.',
    ),
});
export type PruneChannelsParams = z.output<typeof pruneChannelsParams>;

/** A set of producers whose channels are tied together (through residual adds, SE gates, ...). */
export interface ChannelGroup {
  producers: ChannelProducer[];
  /** Class ids (union-find roots) in the group. */
  classes: number[];
  /** Classes that may be removed, lowest score first. */
  candidates: number[];
  /** Why some classes are pinned (first reason), when some are. */
  pinnedReason?: string;
}

export interface ChannelPlan {
  analysis: ChannelAnalysis;
  groups: ChannelGroup[];
  scores: Map<number, number>;
  /** Producers ranked by L1 because the BN criterion found no BatchNormalization after them. */
  fallbacks: number;
}

function channelScores(a: ChannelAnalysis, p: ChannelProducer, criterion: PruneChannelsParams['criterion']) {
  if (criterion === 'bn') {
    const out = p.node.outputs[0];
    const readers = a.graph.consumers(out);
    const bn = readers.length === 1 && readers[0].opType === 'BatchNormalization' ? readers[0] : undefined;
    const gamma = bn && bn.inputs[0] === out ? a.evaluator.value(bn.inputs[1]) : undefined;
    if (gamma && gamma.data.length === p.ids.length)
      return { scores: Float64Array.from(gamma.data, Math.abs), fallback: false };
  }
  const w = a.evaluator.value(p.node.inputs[p.weightInput])!;
  const n = w.dims[p.weightAxis];
  const inner = elementCount(w.dims.slice(p.weightAxis + 1));
  const scores = new Float64Array(n);
  for (let i = 0; i < w.data.length; i++) {
    const c = Math.floor(i / inner) % n;
    const v = w.data[i];
    scores[c] += criterion === 'l2' ? v * v : Math.abs(v);
  }
  if (criterion === 'l2') for (let c = 0; c < n; c++) scores[c] = Math.sqrt(scores[c]);
  return { scores, fallback: criterion === 'bn' };
}

/** Analyze tie groups and rank their channels (no change to the model). */
export function planChannels(
  model: Model,
  criterion: PruneChannelsParams['criterion'],
  exclude: readonly string[],
): ChannelPlan {
  const a = analyzeChannels(model, exclude);
  const { classes } = a;
  const scores = new Map<number, number>();
  let fallbacks = 0;
  for (const p of a.producers) {
    const r = channelScores(a, p, criterion);
    if (r.fallback) fallbacks++;
    // Tied producers add up; each is scaled to mean 1 so that a wide layer does not drown a narrow one.
    const mean = r.scores.reduce((s, v) => s + v, 0) / Math.max(1, r.scores.length);
    p.ids.forEach((id, c) => {
      const root = classes.find(id);
      scores.set(root, (scores.get(root) ?? 0) + (mean > 0 ? r.scores[c] / mean : r.scores[c]));
    });
  }
  const pinnedRoots = new Map<number, string>();
  for (const [id, why] of a.pinned) {
    const root = classes.find(id);
    if (!pinnedRoots.has(root)) pinnedRoots.set(root, why);
  }
  const linked = classes.clone();
  for (const p of a.producers) for (const id of p.ids) linked.union(p.ids[0], id);
  const byGroup = new Map<number, ChannelGroup>();
  for (const p of a.producers) {
    const g = linked.find(p.ids[0]);
    let group = byGroup.get(g);
    if (!group) {
      group = { producers: [], classes: [], candidates: [] };
      byGroup.set(g, group);
    }
    group.producers.push(p);
    for (const id of p.ids) {
      const root = classes.find(id);
      if (group.classes.includes(root)) continue;
      group.classes.push(root);
      const why = pinnedRoots.get(root);
      if (why) group.pinnedReason ??= why;
      else group.candidates.push(root);
    }
  }
  for (const g of byGroup.values())
    g.candidates.sort((x, y) => (scores.get(x) ?? 0) - (scores.get(y) ?? 0) || x - y);
  return { analysis: a, groups: [...byGroup.values()], scores, fallbacks };
}

/** Classes removed at `ratio`, keeping at least one channel in every producer and Split part. */
export function selectChannels(plan: ChannelPlan, ratio: number): Set<number> {
  const removed = new Set<number>();
  for (const g of plan.groups) {
    const n = Math.min(g.candidates.length, Math.round(ratio * g.candidates.length));
    for (const c of g.candidates.slice(0, n)) removed.add(c);
  }
  const { classes } = plan.analysis;
  for (let changed = true; changed;) {
    changed = false;
    for (const seg of plan.analysis.segments) {
      if (seg.length === 0 || !seg.every((id) => removed.has(classes.find(id)))) continue;
      let best = classes.find(seg[0]);
      for (const id of seg) {
        const r = classes.find(id);
        if ((plan.scores.get(r) ?? 0) > (plan.scores.get(best) ?? 0)) best = r;
      }
      removed.delete(best);
      changed = true;
    }
  }
  return removed;
}

function keptPositions(plan: ChannelPlan, ids: Int32Array, removed: ReadonlySet<number>): number[] {
  const out: number[] = [];
  ids.forEach((id, i) => {
    if (!removed.has(plan.analysis.classes.find(id))) out.push(i);
  });
  return out;
}

interface SliceTarget {
  node: Node;
  input: number;
  axes: Map<number, Int32Array>;
}

function sliceTargets(plan: ChannelPlan): Map<string, SliceTarget> {
  const targets = new Map<string, SliceTarget>();
  const index = new Map(plan.analysis.graph.nodes.map((n, i) => [n, i]));
  for (const s of plan.analysis.sites) {
    if (s.kind !== 'slice') continue;
    const key = `${index.get(s.node)}:${s.input}`;
    let t = targets.get(key);
    if (!t) {
      t = { node: s.node, input: s.input, axes: new Map() };
      targets.set(key, t);
    }
    t.axes.set(s.axis, s.ids);
  }
  return targets;
}

/** Parameters the model would have with these classes removed (without building it). */
export function parametersAfter(plan: ChannelPlan, removed: ReadonlySet<number>, total: number): number {
  let n = total;
  for (const t of sliceTargets(plan).values()) {
    const dims = plan.analysis.evaluator.value(t.node.inputs[t.input])!.dims;
    const after = dims.map((d, axis) => {
      const ids = t.axes.get(axis);
      return ids ? keptPositions(plan, ids, removed).length : d;
    });
    n -= elementCount(dims) - elementCount(after);
  }
  return n;
}

function int64Tensor(name: string, values: number[]) {
  return toTensorProto(name, {
    dataType: DataType.INT64,
    dims: [values.length],
    data: Float64Array.from(values),
  });
}

/** Rewrite the graph with the given classes removed. Returns per-node changes. */
function applyPlan(model: Model, plan: ChannelPlan, removed: ReadonlySet<number>): NodeChange[] {
  const { graph, evaluator, classes } = plan.analysis;
  const changes: NodeChange[] = [];
  const touched = (ids: Int32Array) => ids.some((id) => removed.has(classes.find(id)));
  const replacements: { node: Node; input: number; value: ConstTensor; base: string }[] = [];
  for (const t of sliceTargets(plan).values()) {
    if (![...t.axes.values()].some(touched)) continue;
    let value = evaluator.value(t.node.inputs[t.input])!;
    for (const [axis, ids] of t.axes)
      if (touched(ids)) value = takeAlong(value, axis, keptPositions(plan, ids, removed));
    replacements.push({ node: t.node, input: t.input, value, base: t.node.inputs[t.input] });
  }
  for (const s of plan.analysis.sites) {
    if (s.kind === 'reshape' && touched(s.ids)) {
      const target = evaluator.value(s.node.inputs[s.input])!;
      const data = Float64Array.from(target.data);
      data[s.position] = keptPositions(plan, s.ids, removed).length * s.factor;
      replacements.push({
        node: s.node,
        input: s.input,
        value: { ...target, data },
        base: s.node.inputs[s.input],
      });
    }
  }
  for (const r of replacements) {
    const name = graph.uniqueName(`${r.base}_pruned`);
    graph.addInitializer(toTensorProto(name, r.value));
    r.node.setInput(r.input, name);
  }
  const opset = model.opsetVersion('') ?? 13;
  const noted = new Set<Node>();
  for (const s of plan.analysis.sites) {
    if (s.kind === 'group' && touched(s.ids)) {
      noted.add(s.node);
      s.node.setAttribute(makeAttr('group', keptPositions(plan, s.ids, removed).length));
      changes.push({
        node: s.node.name,
        kind: 'changed',
        detail: `depthwise: ${keptPositions(plan, s.ids, removed).length} channels`,
      });
    } else if (s.kind === 'split' && s.parts.some(touched)) {
      const sizes = s.parts.map((p) => keptPositions(plan, p, removed).length);
      if (opset < 13) s.node.setAttribute(makeAttr('split', sizes));
      else {
        const name = graph.uniqueName(`${s.node.name || 'split'}_sizes`);
        graph.addInitializer(int64Tensor(name, sizes));
        if (s.node.inputs.length > 1) s.node.setInput(1, name);
        else {
          s.node.proto.input.push(name);
          graph.invalidate();
        }
        s.node.proto.attribute = s.node.proto.attribute.filter((x) => x.name !== 'num_outputs');
      }
      changes.push({ node: s.node.name, kind: 'changed', detail: `split sizes ${sizes.join(', ')}` });
    }
  }
  for (const p of plan.analysis.producers) {
    const gone = p.ids.length - keptPositions(plan, p.ids, removed).length;
    if (gone)
      changes.push({
        node: p.node.name,
        kind: 'pruned',
        detail: `${gone} of ${p.ids.length} channels removed`,
      });
  }
  const producerNodes = new Set(plan.analysis.producers.map((p) => p.node));
  const consumers = new Set<Node>();
  for (const r of replacements) if (!producerNodes.has(r.node) && !noted.has(r.node)) consumers.add(r.node);
  for (const n of consumers) changes.push({ node: n.name, kind: 'changed', detail: 'fewer input channels' });
  // Declared shapes of values whose channel count changed are now wrong.
  const changed = new Set([...plan.analysis.descs].filter(([, d]) => touched(d.ids)).map(([name]) => name));
  graph.valueInfo = graph.valueInfo.filter((v) => !changed.has(v.name));
  graph.removeDeadCode();
  return changes;
}

export const pruneChannels = defineStage({
  id: 'prune-channels',
  title: 'Prune channels (structured)',
  description:
    'Remove whole Conv filters and Gemm/MatMul neurons with the smallest norms and rewrite the layers that read them: a smaller, faster dense model.',
  category: 'prune',
  params: pruneChannelsParams,
  async run(input, params, ctx) {
    const model = input.clone();
    ctx.progress(0, 3, 'analyzing channels');
    const plan = planChannels(model, params.criterion, params.exclude);
    ctx.signal.throwIfAborted();
    const total = countParameters(model.graph);
    let ratio = params.ratio;
    const notes: string[] = [];
    if (params.targetParameters !== undefined) {
      const target = params.targetParameters;
      if (parametersAfter(plan, selectChannels(plan, 0.9), total) > target) {
        ratio = 0.9;
        notes.push(
          `the target of ${target.toLocaleString('en-US')} parameters is out of reach: pruned at the maximum ratio 90%`,
        );
      } else {
        let lo = 0;
        let hi = 0.9;
        for (let i = 0; i < 24; i++) {
          const mid = (lo + hi) / 2;
          if (parametersAfter(plan, selectChannels(plan, mid), total) <= target) hi = mid;
          else lo = mid;
        }
        ratio = hi;
        notes.push(
          `ratio ${(ratio * 100).toFixed(1)}% reaches the target of ${target.toLocaleString('en-US')} parameters`,
        );
      }
    }
    ctx.progress(1, 3, 'rewriting');
    const removed = selectChannels(plan, ratio);
    const changes = applyPlan(model, plan, removed);
    const after = countParameters(model.graph);
    const channels = plan.groups.reduce((s, g) => s + g.classes.length, 0);
    const prunable = plan.groups.filter((g) => g.candidates.length > 0);
    notes.unshift(
      `removed ${removed.size} of ${channels} channels (${channels ? ((removed.size / channels) * 100).toFixed(1) : '0'}%) in ${prunable.length} group${prunable.length === 1 ? '' : 's'} of tied channels; parameters ${total.toLocaleString('en-US')} → ${after.toLocaleString('en-US')} (−${total ? (((total - after) / total) * 100).toFixed(1) : '0'}%)`,
    );
    const kept = new Map<string, { groups: number; channels: number }>();
    for (const g of plan.groups) {
      const pinned = g.classes.length - g.candidates.length;
      if (!pinned || !g.pinnedReason) continue;
      const k = kept.get(g.pinnedReason) ?? { groups: 0, channels: 0 };
      k.groups++;
      k.channels += pinned;
      kept.set(g.pinnedReason, k);
    }
    for (const [why, k] of kept)
      notes.push(
        `kept ${k.channels} channel${k.channels === 1 ? '' : 's'} in ${k.groups} group${k.groups === 1 ? '' : 's'}: ${why}`,
      );
    if (plan.fallbacks)
      notes.push(
        `${plan.fallbacks} layer${plan.fallbacks === 1 ? ' has no BatchNormalization after it' : 's have no BatchNormalization after them'}: ranked by L1 norm`,
      );
    ctx.progress(3, 3);
    return { model, notes, changes };
  },
});
