import { Bar, BarChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { TensorStats } from '../onnx/tensor';
import { formatCount, formatStat } from './format';

interface Bin {
  x: number;
  x0: number;
  x1: number;
  count: number;
}

/** The distribution of a weight tensor's values (recharts bar chart over the histogram bins). */
export default function WeightHistogram({ stats, color }: { stats: TensorStats; color: string }) {
  const bins: Bin[] = stats.histogram.map((b) => ({ ...b, x: (b.x0 + b.x1) / 2 }));
  return (
    <div className="weight-histogram" data-testid="weight-histogram" data-bins={bins.length}>
      <ResponsiveContainer width="100%" height={96}>
        <BarChart data={bins} margin={{ top: 4, right: 4, bottom: 0, left: 4 }} barCategoryGap={1}>
          <XAxis
            dataKey="x"
            tickFormatter={(v: number) => formatStat(v)}
            tick={{ fontSize: 10, fill: '#6b7280' }}
            tickLine={false}
            axisLine={{ stroke: '#d1d5db' }}
            minTickGap={24}
          />
          <YAxis hide />
          <Tooltip
            cursor={{ fill: 'rgba(59, 111, 216, 0.08)' }}
            contentStyle={{ fontSize: 11, padding: '4px 8px', borderRadius: 6 }}
            labelFormatter={(_, payload) => {
              const b = payload?.[0]?.payload as Bin | undefined;
              return b ? `${formatStat(b.x0)} … ${formatStat(b.x1)}` : '';
            }}
            formatter={(v) => [formatCount(Number(v)), 'values']}
          />
          <Bar dataKey="count" fill={color} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
