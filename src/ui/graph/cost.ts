import type { GraphSummary } from '../../onnx/summary';
import { formatCompact } from '../format';

/** The compute cost of one visible item: a node, or the sum over a collapsed group's nodes. */
export interface ItemCost {
  macs: number;
  params: number;
  /** Some node's MACs are unknown (a shape could not be inferred): `macs` counts the others. */
  partial: boolean;
}

/**
 * Costs of the visible items of a view: each node's MACs (by node index, NaN when unknown) and
 * parameter count, summed into the collapsed group that shows it. One pass over the nodes.
 */
export function itemCosts(
  full: GraphSummary,
  macs: Float64Array,
  itemOf: (nodeId: string) => string,
): Map<string, ItemCost> {
  const costs = new Map<string, ItemCost>();
  full.nodes.forEach((n, i) => {
    const item = itemOf(n.id);
    let c = costs.get(item);
    if (!c) costs.set(item, (c = { macs: 0, params: 0, partial: false }));
    const m = macs[i];
    if (Number.isNaN(m)) c.partial = true;
    else c.macs += m;
    c.params += n.parameters;
  });
  return costs;
}

/**
 * The label drawn beside a node: `1.23 M MACs · 4.6 k params` (`≥` or `?` when some MACs are
 * unknown), or null when it costs nothing.
 */
export function costLabel(c: ItemCost): string | null {
  const parts: string[] = [];
  if (c.partial) parts.push(c.macs > 0 ? `≥ ${formatCompact(c.macs)} MACs` : '? MACs');
  else if (c.macs > 0) parts.push(`${formatCompact(c.macs)} MACs`);
  if (c.params > 0) parts.push(`${formatCompact(c.params)} params`);
  return parts.length ? parts.join(' · ') : null;
}
