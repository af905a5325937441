import { z } from 'zod';
import { defineStage, type NodeChange } from './types';
import type { Graph, Model, Node } from '../onnx/ir';
import type { TensorProto } from '../onnx/proto/onnx_pb';
import { DataType } from '../onnx/dtype';
import { makeAttr } from '../onnx/builder';
import { inferShapes } from '../onnx/shapes';
import { tensorBytes } from '../onnx/tensor';

/** Ops that pass their first input through unchanged at inference time. */
function isPassThrough(graph: Graph, n: Node): boolean {
  if (n.domain !== '') return false;
  if (n.opType === 'Identity') return true;
  if (n.opType !== 'Dropout') return false;
  // A Dropout whose mask is used, or that may run in training mode, is not a no-op.
  if (n.outputs[1] && (graph.consumers(n.outputs[1]).length > 0 || graph.isGraphOutput(n.outputs[1])))
    return false;
  const trainingMode = n.inputs[2];
  if (trainingMode) {
    const t = graph.initializers.get(trainingMode);
    if (!t || t.rawData.some((b) => b !== 0) || t.int32Data.some((v) => v !== 0)) return false;
  }
  return true;
}

/** Remove pass-through nodes and dead code in one graph and its subgraphs. */
export function simplifyGraph(
  graph: Graph,
  changes: NodeChange[],
): { bypassed: number; dead: number; initializers: number } {
  const before = new Set(graph.nodes);
  // Dead readers would otherwise pin pass-through nodes in place (see Graph.bypassNode).
  const deadFirst = graph.removeDeadCode();
  let bypassed = 0;
  for (const n of [...graph.nodes]) {
    if (!isPassThrough(graph, n) || !graph.bypassNode(n)) continue;
    changes.push({ node: n.name, kind: 'removed', detail: `${n.opType} bypassed` });
    before.delete(n);
    bypassed++;
  }
  const deadAfter = graph.removeDeadCode();
  const dead = {
    nodes: deadFirst.nodes + deadAfter.nodes,
    initializers: deadFirst.initializers + deadAfter.initializers,
  };
  for (const n of before)
    if (!graph.nodes.includes(n)) changes.push({ node: n.name, kind: 'removed', detail: 'dead code' });
  let sub = { bypassed: 0, dead: 0, initializers: 0 };
  for (const n of graph.nodes)
    for (const s of n.subgraphs)
      for (const g of s.graphs) {
        const r = simplifyGraph(g, changes);
        sub = {
          bypassed: sub.bypassed + r.bypassed,
          dead: sub.dead + r.dead,
          initializers: sub.initializers + r.initializers,
        };
      }
  return {
    bypassed: bypassed + sub.bypassed,
    dead: dead.nodes + sub.dead,
    initializers: dead.initializers + sub.initializers,
  };
}

/** Element types a Cast to `wide` and back restores exactly (every value of `narrow` fits in `wide`). */
const LOSSLESS: Record<number, number[]> = {
  [DataType.FLOAT16]: [DataType.FLOAT, DataType.DOUBLE],
  [DataType.BFLOAT16]: [DataType.FLOAT, DataType.DOUBLE],
  [DataType.FLOAT]: [DataType.DOUBLE],
  [DataType.BOOL]: [
    DataType.INT8,
    DataType.UINT8,
    DataType.INT16,
    DataType.UINT16,
    DataType.INT32,
    DataType.UINT32,
    DataType.INT64,
    DataType.UINT64,
    DataType.FLOAT16,
    DataType.FLOAT,
    DataType.DOUBLE,
  ],
  [DataType.INT8]: [
    DataType.INT16,
    DataType.INT32,
    DataType.INT64,
    DataType.FLOAT16,
    DataType.FLOAT,
    DataType.DOUBLE,
  ],
  [DataType.UINT8]: [
    DataType.INT16,
    DataType.UINT16,
    DataType.INT32,
    DataType.UINT32,
    DataType.INT64,
    DataType.UINT64,
    DataType.FLOAT16,
    DataType.FLOAT,
    DataType.DOUBLE,
  ],
  [DataType.INT16]: [DataType.INT32, DataType.INT64, DataType.FLOAT, DataType.DOUBLE],
  [DataType.UINT16]: [
    DataType.INT32,
    DataType.UINT32,
    DataType.INT64,
    DataType.UINT64,
    DataType.FLOAT,
    DataType.DOUBLE,
  ],
  [DataType.INT32]: [DataType.INT64, DataType.DOUBLE],
  [DataType.UINT32]: [DataType.INT64, DataType.UINT64, DataType.DOUBLE],
};

function constantInts(graph: Graph, name: string): number[] | undefined {
  const t = graph.initializers.get(name) ?? graph.producer(name)?.attribute('value')?.t;
  if (!t || (graph.initializers.has(name) && graph.isGraphInput(name))) return undefined;
  if (graph.initializers.has(name) || graph.producer(name)?.opType === 'Constant') {
    if (t.dataType !== DataType.INT64) return undefined;
    const b = tensorBytes(t);
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return Array.from({ length: b.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  return undefined;
}

const only = (graph: Graph, value: string, reader: Node) =>
  !graph.isGraphOutput(value) && graph.consumers(value).length === 1 && graph.consumers(value)[0] === reader;

/**
 * Remove Reshape / Transpose / Cast nodes that change nothing, and merge chains of them: a Reshape of
 * a Reshape, a Transpose of a Transpose, a Cast through a type that loses nothing. Returns how many went.
 */
export function simplifyLayout(model: Model, graph: Graph, changes: NodeChange[]): number {
  const facts = inferShapes(graph, { opset: model.opsetVersion('') ?? 13 });
  const staticShape = (name: string) => {
    const s = facts.get(name)?.shape;
    return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
  };
  const sameShape = (a?: number[], b?: number[]) =>
    !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);
  let removed = 0;
  const drop = (n: Node, why: string) => {
    if (!graph.bypassNode(n)) return false;
    changes.push({ node: n.name, kind: 'removed', detail: why });
    removed++;
    return true;
  };
  for (const n of graph.topologicalOrder()) {
    if (n.domain !== '' || !graph.nodes.includes(n)) continue;
    const x = n.inputs[0];
    const p = x ? graph.producer(x) : undefined;
    if (n.opType === 'Reshape') {
      if (sameShape(staticShape(x), staticShape(n.outputs[0])) && drop(n, 'Reshape to the same shape'))
        continue;
      const target = n.inputs[1] ? constantInts(graph, n.inputs[1]) : undefined;
      // Reshape(Reshape(y)) is Reshape(y) when the outer target copies no dim (0) from the inner result.
      if (p?.opType === 'Reshape' && p.domain === '' && target && !target.includes(0) && only(graph, x, n)) {
        n.setInput(0, p.inputs[0]);
        changes.push({ node: p.name, kind: 'removed', detail: `merged into Reshape ${n.name}` });
        graph.removeNode(p);
        removed++;
      }
    } else if (n.opType === 'Transpose') {
      const rank = staticShape(x)?.length ?? facts.get(x)?.shape?.length;
      const perm =
        n.attrInts('perm') ??
        (rank === undefined ? undefined : Array.from({ length: rank }, (_, i) => rank - 1 - i));
      if (!perm) continue;
      if (perm.every((v, i) => v === i) && drop(n, 'Transpose with the identity permutation')) continue;
      if (p?.opType === 'Transpose' && p.domain === '' && only(graph, x, n)) {
        const inner = p.attrInts('perm') ?? perm.map((_, i) => perm.length - 1 - i);
        const composed = perm.map((v) => inner[v]);
        n.setInput(0, p.inputs[0]);
        n.setAttribute(makeAttr('perm', composed));
        changes.push({ node: p.name, kind: 'removed', detail: `merged into Transpose ${n.name}` });
        graph.removeNode(p);
        removed++;
        if (composed.every((v, i) => v === i)) drop(n, 'Transpose pair that cancels out');
      }
    } else if (n.opType === 'Cast') {
      const to = n.attrInt('to', 0);
      const from = facts.get(x)?.elemType;
      if (from === to && drop(n, 'Cast to the type it already has')) continue;
      if (p?.opType === 'Cast' && p.domain === '' && only(graph, x, n)) {
        const origin = facts.get(p.inputs[0])?.elemType;
        const mid = p.attrInt('to', 0);
        if (origin !== undefined && (LOSSLESS[origin] ?? []).includes(mid)) {
          n.setInput(0, p.inputs[0]);
          changes.push({ node: p.name, kind: 'removed', detail: `lossless Cast merged into ${n.name}` });
          graph.removeNode(p);
          removed++;
          if (origin === to) drop(n, 'Cast back to the original type');
        }
      }
    }
  }
  return removed;
}

function fingerprint(t: TensorProto): string | undefined {
  let bytes: Uint8Array;
  try {
    bytes = tensorBytes(t);
  } catch {
    return undefined;
  }
  // FNV-1a over the bytes; equal fingerprints are compared byte by byte before merging.
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return `${t.dataType}|${t.dims.join(',')}|${bytes.length}|${h >>> 0}`;
}

function sameBytes(a: TensorProto, b: TensorProto): boolean {
  const x = tensorBytes(a);
  const y = tensorBytes(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Merge initializers (and Constant nodes) holding identical tensors. Returns how many went. */
export function deduplicateConstants(model: Model, graph: Graph, changes: NodeChange[]): number {
  const overridable = Number(model.proto.irVersion) >= 4;
  const seen = new Map<string, { name: string; tensor: TensorProto }[]>();
  let merged = 0;
  const keeperFor = (name: string, t: TensorProto) => {
    const key = fingerprint(t);
    if (!key) return undefined;
    const list = seen.get(key) ?? [];
    const keeper = list.find((k) => sameBytes(k.tensor, t));
    if (!keeper) {
      list.push({ name, tensor: t });
      seen.set(key, list);
    }
    return keeper?.name;
  };
  for (const [name, t] of [...graph.initializers]) {
    if (graph.isGraphOutput(name) || (overridable && graph.isGraphInput(name))) continue;
    const keeper = keeperFor(name, t);
    if (!keeper) continue;
    graph.replaceUses(name, keeper);
    graph.removeInitializer(name);
    changes.push({ node: name, kind: 'removed', detail: `same data as ${keeper}` });
    merged++;
  }
  for (const n of [...graph.nodes]) {
    const t =
      n.opType === 'Constant' && n.domain === '' && n.proto.attribute.length === 1
        ? n.attribute('value')?.t
        : undefined;
    const out = n.outputs[0];
    if (!t || graph.isGraphOutput(out)) continue;
    const keeper = keeperFor(out, t);
    if (!keeper) continue;
    graph.replaceUses(out, keeper);
    graph.removeNode(n);
    changes.push({ node: n.name, kind: 'removed', detail: `same value as ${keeper}` });
    merged++;
  }
  return merged;
}

export const simplify = defineStage({
  id: 'simplify',
  title: 'Simplify',
  description:
    'Remove Identity and inference-mode Dropout nodes, no-op Reshape/Transpose/Cast chains, duplicate constants, dead nodes and unused initializers.',
  category: 'simplify',
  params: z.object({}),
  tolerance: { maxAbsError: 0, top1Agreement: 1 },
  async run(model) {
    const out = model.clone();
    const changes: NodeChange[] = [];
    const nodesBefore = [...out.graph.allGraphs()].reduce((s, g) => s + g.nodes.length, 0);
    let layout = 0;
    let duplicates = 0;
    for (const g of [...out.graph.allGraphs()]) {
      layout += simplifyLayout(out, g, changes);
      duplicates += deduplicateConstants(out, g, changes);
    }
    const r = simplifyGraph(out.graph, changes);
    const nodesAfter = [...out.graph.allGraphs()].reduce((s, g) => s + g.nodes.length, 0);
    const notes = [
      `bypassed ${r.bypassed} Identity/Dropout node${r.bypassed === 1 ? '' : 's'}`,
      `removed ${r.dead} dead node${r.dead === 1 ? '' : 's'} and ${r.initializers} unused initializer${r.initializers === 1 ? '' : 's'}`,
      `removed or merged ${layout} no-op Reshape/Transpose/Cast node${layout === 1 ? '' : 's'}`,
      `merged ${duplicates} duplicate constant${duplicates === 1 ? '' : 's'}`,
      `${nodesBefore} → ${nodesAfter} nodes`,
    ];
    return { model: out, notes, changes };
  },
});
