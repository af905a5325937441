import { z } from 'zod';
import { defineStage, type NodeChange } from './types';
import type { Graph, Node } from '../onnx/ir';

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

export const simplify = defineStage({
  id: 'simplify',
  title: 'Simplify',
  description: 'Remove Identity and inference-mode Dropout nodes, dead nodes and unused initializers.',
  category: 'simplify',
  params: z.object({}),
  tolerance: { maxAbsError: 0, top1Agreement: 1 },
  async run(model) {
    const out = model.clone();
    const changes: NodeChange[] = [];
    const r = simplifyGraph(out.graph, changes);
    const notes = [
      `bypassed ${r.bypassed} Identity/Dropout node${r.bypassed === 1 ? '' : 's'}`,
      `removed ${r.dead} dead node${r.dead === 1 ? '' : 's'} and ${r.initializers} unused initializer${r.initializers === 1 ? '' : 's'}`,
    ];
    return { model: out, notes, changes };
  },
});
