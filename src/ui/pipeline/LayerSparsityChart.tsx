import { Bar, BarChart, CartesianGrid, Tooltip, XAxis, YAxis } from 'recharts';
import { detailSparsity } from '../../graph/overlay';
import type { NodeChange } from '../../passes/types';

interface LayerRow {
  layer: string;
  sparsity: number;
}

/** Sparsity (or share of channels removed) per layer from a pruning stage's change records. */
export function layerSparsity(changes: readonly NodeChange[]): LayerRow[] {
  const rows: LayerRow[] = [];
  for (const c of changes) {
    if (c.kind !== 'pruned') continue;
    const s = detailSparsity(c.detail);
    if (s !== undefined && !rows.some((r) => r.layer === c.node)) rows.push({ layer: c.node, sparsity: s });
  }
  return rows;
}

/** A bar per pruned layer: how much of it the stage removed or zeroed. */
export function LayerSparsityChart({ changes }: { changes: readonly NodeChange[] }) {
  const rows = layerSparsity(changes);
  if (rows.length === 0) return null;
  return (
    <div className="layer-sparsity-chart" data-testid="layer-sparsity-chart" data-layers={rows.length}>
      <p className="hint">Sparsity per layer (last run)</p>
      <BarChart
        width={260}
        height={Math.max(90, 22 * rows.length + 30)}
        data={rows}
        layout="vertical"
        margin={{ top: 4, right: 10, bottom: 4, left: 4 }}
      >
        <CartesianGrid strokeDasharray="3 3" horizontal={false} />
        <XAxis type="number" domain={[0, 100]} unit="%" fontSize={10} />
        <YAxis type="category" dataKey="layer" width={90} fontSize={10} />
        <Tooltip formatter={(v) => `${Number(v).toFixed(1)}%`} />
        <Bar dataKey="sparsity" fill="#dc2626" isAnimationActive={false} />
      </BarChart>
    </div>
  );
}
