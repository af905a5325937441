import type { CollapsedView } from '../../graph/grouping';
import { NeighbourIndex } from '../../graph/neighbours';
import type { DimSummary, GraphSummary } from '../../onnx/summary';

const indexes = new WeakMap<GraphSummary, NeighbourIndex>();

/** Producer/consumer lookups of a summary, built once per summary (view and inspector share them). */
export function neighbourIndex(summary: GraphSummary): NeighbourIndex {
  let n = indexes.get(summary);
  if (!n) indexes.set(summary, (n = new NeighbourIndex(summary)));
  return n;
}

/** How a visible item relates to the selected tensor. */
export type TensorRole = 'producer' | 'consumer';

/** What the view highlights for a selected tensor. */
export interface TensorHighlight {
  tensor: string;
  /** The visible items at the tensor's ends (a collapsed group stands for the nodes inside it). */
  items: Map<string, TensorRole>;
  /** The visible edges that carry the tensor. */
  edges: Set<string>;
}

/**
 * The producer and consumers of `tensor` as the view shows them, and the edges between them.
 * Graph inputs and outputs (`in:` / `out:`) are ends too. An edge into or out of a collapsed group
 * stands for every tensor between its two ends, so it carries the tensor when its ends do.
 */
export function tensorHighlight(
  index: NeighbourIndex,
  view: Pick<CollapsedView, 'summary' | 'groups' | 'itemOf'>,
  tensor: string,
): TensorHighlight {
  const visible = (id: string) => (id.startsWith('in:') || id.startsWith('out:') ? id : view.itemOf(id));
  const ends = index.tensor(tensor);
  const items = new Map<string, TensorRole>();
  const producer = ends.producer === null ? null : visible(ends.producer);
  for (const c of ends.consumers) {
    const item = visible(c);
    if (item !== producer) items.set(item, 'consumer');
  }
  if (producer !== null) items.set(producer, 'producer');
  const edges = new Set<string>();
  for (const e of view.summary.edges) {
    if (e.source !== producer || items.get(e.target) !== 'consumer') continue;
    if (e.tensor === tensor || view.groups.has(e.source) || view.groups.has(e.target)) edges.add(e.id);
  }
  return { tensor, items, edges };
}

/** What the inspector shows about a tensor: its type and shape as far as they are known. */
export interface TensorFacts {
  dtype: string | null;
  shape: DimSummary[] | null;
}

/** The element type and shape of a tensor of the summary (from its edges, or the graph's inputs/outputs). */
export function tensorFacts(summary: GraphSummary, tensor: string): TensorFacts {
  const edge = summary.edges.find((e) => e.tensor === tensor);
  if (edge && (edge.dtype || edge.shape)) return { dtype: edge.dtype ?? null, shape: edge.shape ?? null };
  const value =
    summary.inputs.find((v) => v.name === tensor) ?? summary.outputs.find((v) => v.name === tensor);
  return value ? { dtype: value.type, shape: value.shape } : { dtype: null, shape: null };
}
