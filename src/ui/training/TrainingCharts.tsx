import { memo, useMemo } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { EpochRecord } from '../../train/trainer';
import type { BatchLossPoint } from '../../store/trainingSlice';

export interface TrainingChartsProps {
  history: EpochRecord[];
  batchLoss: BatchLossPoint[];
  epochs: number;
}

interface LossRow {
  x: number;
  running?: number;
  train?: number;
  validation?: number;
}

interface AccuracyRow {
  x: number;
  train?: number;
  validation?: number;
}

const colors = { running: '#c5ccd6', train: '#3b6fd8', validation: '#b4542d' };
const axisTick = { fontSize: 11, fill: '#667085' };
const tooltipStyle = { fontSize: 12, borderRadius: 6, borderColor: '#e3e7ed' };
const names: Record<string, string> = {
  running: 'running (batches)',
  train: 'train',
  validation: 'validation',
};

function epochTicks(epochs: number): number[] | undefined {
  if (epochs > 20) return undefined;
  return Array.from({ length: epochs + 1 }, (_, i) => i);
}

/**
 * Loss (running over batches, and per epoch on the training and validation splits) and accuracy per
 * epoch, against epochs: epoch k's figures sit at x = k, the end of that epoch.
 */
export default memo(function TrainingCharts({ history, batchLoss, epochs }: TrainingChartsProps) {
  const loss = useMemo(() => {
    const rows = new Map<number, LossRow>();
    const row = (x: number) => {
      const key = Math.round(x * 1e6) / 1e6;
      let r = rows.get(key);
      if (!r) rows.set(key, (r = { x: key }));
      return r;
    };
    for (const p of batchLoss) row(p.x).running = p.loss;
    for (const h of history) {
      const r = row(h.epoch);
      r.train = h.loss;
      if (h.validationLoss !== undefined) r.validation = h.validationLoss;
    }
    return [...rows.values()].sort((a, b) => a.x - b.x);
  }, [history, batchLoss]);
  const accuracy = useMemo<AccuracyRow[]>(
    () =>
      history.map((h) => ({
        x: h.epoch,
        ...(h.accuracy !== undefined ? { train: h.accuracy } : {}),
        ...(h.validationAccuracy !== undefined ? { validation: h.validationAccuracy } : {}),
      })),
    [history],
  );
  const hasValidation = history.some((h) => h.validationLoss !== undefined);
  const ticks = epochTicks(epochs);
  const xAxis = (
    <XAxis
      dataKey="x"
      type="number"
      domain={[0, Math.max(1, epochs)]}
      ticks={ticks}
      allowDecimals={false}
      tick={axisTick}
      label={{ value: 'epoch', position: 'insideBottomRight', offset: -2, fontSize: 10, fill: '#98a2b3' }}
    />
  );
  const accuracies = accuracy.flatMap((a) => [a.train, a.validation]).filter((v) => v !== undefined);
  const floor = accuracies.length ? Math.max(0, Math.floor((Math.min(...accuracies) - 0.02) * 20) / 20) : 0;

  return (
    <div
      className="training-charts"
      data-testid="training-chart"
      data-epochs={history.length}
      data-points={batchLoss.length}
    >
      <figure className="chart-card">
        <figcaption className="chart-title">
          Loss <span className="chart-subtitle">cross-entropy</span>
        </figcaption>
        <div className="chart-body">
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={loss} margin={{ top: 8, right: 10, bottom: 4, left: -8 }}>
              <CartesianGrid stroke="#eef1f5" />
              {xAxis}
              <YAxis tick={axisTick} width={46} tickFormatter={(v: number) => v.toFixed(2)} />
              <Tooltip
                contentStyle={tooltipStyle}
                labelFormatter={(x) => `epoch ${Number(x).toFixed(2)}`}
                formatter={(v, key) => [Number(v).toFixed(4), names[String(key)] ?? String(key)]}
              />
              <Legend wrapperStyle={{ fontSize: 11 }} formatter={(v) => names[String(v)] ?? String(v)} />
              <Line
                dataKey="running"
                stroke={colors.running}
                dot={false}
                strokeWidth={1.5}
                connectNulls
                isAnimationActive={false}
              />
              <Line
                dataKey="train"
                stroke={colors.train}
                strokeWidth={2}
                connectNulls
                isAnimationActive={false}
              />
              {hasValidation && (
                <Line
                  dataKey="validation"
                  stroke={colors.validation}
                  strokeWidth={2}
                  connectNulls
                  isAnimationActive={false}
                />
              )}
            </LineChart>
          </ResponsiveContainer>
        </div>
      </figure>
      <figure className="chart-card">
        <figcaption className="chart-title">
          Accuracy <span className="chart-subtitle">per epoch</span>
        </figcaption>
        <div className="chart-body">
          {accuracy.length === 0 ? (
            <p className="empty-note">After the first epoch.</p>
          ) : (
            <ResponsiveContainer width="100%" height="100%">
              <LineChart data={accuracy} margin={{ top: 8, right: 10, bottom: 4, left: -8 }}>
                <CartesianGrid stroke="#eef1f5" />
                {xAxis}
                <YAxis
                  tick={axisTick}
                  width={46}
                  domain={[floor, 1]}
                  tickFormatter={(v: number) => `${Math.round(v * 100)}%`}
                />
                <Tooltip
                  contentStyle={tooltipStyle}
                  labelFormatter={(x) => `epoch ${String(x)}`}
                  formatter={(v, key) => [
                    `${(Number(v) * 100).toFixed(1)} %`,
                    names[String(key)] ?? String(key),
                  ]}
                />
                <Legend wrapperStyle={{ fontSize: 11 }} formatter={(v) => names[String(v)] ?? String(v)} />
                <Line dataKey="train" stroke={colors.train} strokeWidth={2} isAnimationActive={false} />
                {hasValidation && (
                  <Line
                    dataKey="validation"
                    stroke={colors.validation}
                    strokeWidth={2}
                    isAnimationActive={false}
                  />
                )}
              </LineChart>
            </ResponsiveContainer>
          )}
        </div>
      </figure>
    </div>
  );
});
