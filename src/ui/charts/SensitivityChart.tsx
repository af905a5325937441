import { Bar, BarChart, Cell, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { LayerSensitivity } from '../../passes/sensitivity';

export interface SensitivityChartProps {
  /** Most sensitive first. */
  layers: LayerSensitivity[];
  /** What the loss measures, for the axis. */
  metric: 'accuracy' | 'agreement';
  /** Layers in the exclude list (drawn muted). */
  excluded: readonly string[];
}

interface Row {
  node: string;
  opType: string;
  loss: number;
  sqnrDb: number;
  excluded: boolean;
}

const rowHeight = 18;

/** Sorted bar chart of the points lost when each layer alone is quantized. */
export function SensitivityChart({ layers, metric, excluded }: SensitivityChartProps) {
  const rows: Row[] = layers.map((l) => ({
    node: l.node,
    opType: l.opType,
    loss: Number(l.loss.toFixed(3)),
    sqnrDb: l.sqnrDb,
    excluded: excluded.includes(l.node),
  }));
  const heat = sensitivityHeat(layers);
  return (
    <div className="sensitivity-chart" data-testid="sensitivity-chart" data-bars={rows.length}>
      <ResponsiveContainer width="100%" height={Math.max(80, rows.length * rowHeight + 36)}>
        <BarChart data={rows} layout="vertical" margin={{ top: 4, right: 12, bottom: 4, left: 4 }}>
          <XAxis
            type="number"
            tick={{ fontSize: 10, fill: '#6b7280' }}
            label={{
              value: metric === 'accuracy' ? 'accuracy points lost' : 'agreement points lost',
              position: 'insideBottom',
              offset: -2,
              fontSize: 10,
            }}
            height={32}
          />
          <YAxis
            type="category"
            dataKey="node"
            width={96}
            tick={{ fontSize: 10, fill: '#475467' }}
            interval={0}
          />
          <Tooltip
            contentStyle={{ fontSize: 11, padding: '4px 8px', borderRadius: 6 }}
            formatter={(v, _name, item) => {
              const r = (item as { payload?: Row }).payload;
              return [
                `${Number(v).toFixed(2)} points · SQNR ${r ? r.sqnrDb.toFixed(1) : '?'} dB${r?.excluded ? ' · kept in float' : ''}`,
                r?.opType ?? 'loss',
              ];
            }}
          />
          <Bar dataKey="loss" isAnimationActive={false} minPointSize={3}>
            {rows.map((r, i) => (
              <Cell
                key={r.node}
                data-testid="sensitivity-bar"
                fill={r.excluded ? '#c5ccd6' : heatColor(heat[i])}
              />
            ))}
          </Bar>
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

/**
 * 0–1 per layer (1 = most sensitive): the loss relative to the largest, or, when no layer loses
 * anything measurable on the samples, the SQNR from best to worst.
 */
export function sensitivityHeat(layers: readonly LayerSensitivity[]): number[] {
  const maxLoss = Math.max(0, ...layers.map((l) => l.loss));
  if (maxLoss > 1e-9) return layers.map((l) => Math.max(0, l.loss) / maxLoss);
  const sqnr = layers.map((l) => (Number.isFinite(l.sqnrDb) ? l.sqnrDb : 200));
  const hi = Math.max(...sqnr);
  const lo = Math.min(...sqnr);
  return sqnr.map((v) => (hi - lo > 1e-9 ? (hi - v) / (hi - lo) : 0));
}

/** Yellow (cool) to red (hot). */
export function heatColor(heat: number): string {
  const h = Math.max(0, Math.min(1, heat));
  return `hsl(${Math.round(48 - 48 * h)}, 90%, ${Math.round(60 - 15 * h)}%)`;
}
