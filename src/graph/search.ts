import type { GraphSummary } from '../onnx/summary';
import { groupPath, type Grouping } from './grouping';

/** One search hit: an operator node (by its name or op type) or a tensor (shown at its producer). */
export interface SearchMatch {
  kind: 'node' | 'tensor';
  /** The node's id; for a tensor, its producer's id, or its first consumer's for a graph input. */
  nodeId: string;
  /** What matched: the node name, the op type or the tensor name. */
  text: string;
  matchedBy: 'name' | 'op' | 'tensor';
  /** For tensor hits, the tensor name. */
  tensor?: string;
  /** Group ids to expand (outermost first) so that the node is visible. */
  reveal: string[];
}

export interface SearchResult {
  query: string;
  count: number;
  /** In graph order; a node matched by name and by op type appears once. */
  matches: SearchMatch[];
}

/**
 * Find nodes and tensors: a case-insensitive substring of a node or tensor name, or a node whose
 * op type equals the query (case-insensitive; `MatMul` does not find `MatMulInteger`).
 */
export function searchGraph(summary: GraphSummary, query: string, grouping?: Grouping): SearchResult {
  const q = query.trim().toLowerCase();
  if (!q) return { query, count: 0, matches: [] };
  const matches: SearchMatch[] = [];
  const reveal = (id: string) => (grouping ? groupPath(grouping, id) : []);
  const seenTensors = new Set<string>();
  const tensorHit = (tensor: string, nodeId: string) => {
    if (seenTensors.has(tensor) || !tensor.toLowerCase().includes(q)) return;
    seenTensors.add(tensor);
    matches.push({
      kind: 'tensor',
      nodeId,
      text: tensor,
      matchedBy: 'tensor',
      tensor,
      reveal: reveal(nodeId),
    });
  };
  const produced = new Set<string>();
  for (const n of summary.nodes) for (const o of n.outputs) if (o) produced.add(o);
  for (const n of summary.nodes) {
    if (n.name.toLowerCase().includes(q))
      matches.push({ kind: 'node', nodeId: n.id, text: n.name, matchedBy: 'name', reveal: reveal(n.id) });
    else if (n.opType.toLowerCase() === q)
      matches.push({ kind: 'node', nodeId: n.id, text: n.opType, matchedBy: 'op', reveal: reveal(n.id) });
    // Graph inputs and weights have no producer: they are found at their first reader.
    for (const i of n.inputs) if (i && !produced.has(i)) tensorHit(i, n.id);
    for (const o of n.outputs) if (o) tensorHit(o, n.id);
  }
  return { query, count: matches.length, matches };
}

/** The index of the next (step 1) or previous (step -1) match, wrapping around; -1 when there is none. */
export function stepMatch(result: SearchResult, current: number, step: 1 | -1): number {
  if (result.count === 0) return -1;
  if (current < 0 || current >= result.count) return step === 1 ? 0 : result.count - 1;
  return (current + step + result.count) % result.count;
}

/** `expanded` plus the groups that reveal a match. */
export function revealMatch(expanded: ReadonlySet<string>, match: SearchMatch): Set<string> {
  const next = new Set(expanded);
  for (const g of match.reveal) next.add(g);
  return next;
}
