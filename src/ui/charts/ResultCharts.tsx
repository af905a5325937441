import { memo, useMemo, type ReactNode } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  LabelList,
  Legend,
  ResponsiveContainer,
  Scatter,
  ScatterChart,
  Tooltip,
  XAxis,
  YAxis,
  ZAxis,
} from 'recharts';
import { stageTag } from '../../pipeline/exportName';
import { formatBytes, formatMs, formatPercent, formatSpeedup } from '../../report/format';
import type { RunRecord } from '../../store/runTypes';
import type { StageResultSummary } from '../../worker/pipelineService';

export interface ResultChartsProps {
  results: StageResultSummary[];
  history: RunRecord[];
  /** The run on screen (highlighted in the scatter). */
  currentRunId: string | null;
  selected: number | null;
  onSelect(index: number): void;
}

const colors = {
  raw: '#3b6fd8',
  gzip: '#8fb0ee',
  latency: '#1f8a70',
  accuracy: '#b4542d',
  selected: '#f5a524',
  muted: '#c5ccd6',
};
const runColors = ['#3b6fd8', '#b4542d', '#1f8a70', '#7a4fd0', '#c28a00', '#2f8fb0', '#c0362c', '#5a6b7d'];

interface Row {
  index: number;
  name: string;
  title: string;
  bytes: number;
  gzip: number;
  bytesDelta: string;
  gzipDelta: string;
  latency: number;
  latencyDelta: string;
  latencyNote: string;
  quality: number | null;
  qualityDelta: string;
}

const axisTick = { fontSize: 11, fill: '#667085' };
const labelStyle = { fontSize: 10, fill: '#475467' };
const tooltipStyle = { fontSize: 12, borderRadius: 6, borderColor: '#e3e7ed' };

function ChartCard({
  title,
  subtitle,
  children,
  testId,
}: {
  title: string;
  subtitle?: string;
  children: ReactNode;
  testId: string;
}) {
  return (
    <figure className="chart-card" data-testid={testId}>
      <figcaption className="chart-title">
        {title}
        {subtitle && <span className="chart-subtitle">{subtitle}</span>}
      </figcaption>
      <div className="chart-body">{children}</div>
    </figure>
  );
}

/** A bar label: the change vs the original in whole percent (one decimal below 10%). */
function shortChange(from: number | null | undefined, to: number | null | undefined): string {
  if (
    typeof from !== 'number' ||
    typeof to !== 'number' ||
    !Number.isFinite(from) ||
    !Number.isFinite(to) ||
    from === 0
  )
    return '';
  const d = ((to - from) / Math.abs(from)) * 100;
  const text = Math.abs(d) < 10 ? d.toFixed(1) : d.toFixed(0);
  if (Number(text) === 0) return '±0%';
  return `${d > 0 ? '+' : '−'}${text.replace('-', '')}%`;
}

/** Accuracy change in percentage points, one decimal. */
function shortPoints(from: number | null, to: number | null): string {
  if (from === null || to === null) return '';
  const d = (to - from) * 100;
  if (Math.abs(d) < 0.05) return '±0 pp';
  return `${d > 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} pp`;
}

const kib = (v: number) => `${(v / 1024).toFixed(v < 10 * 1024 ? 1 : 0)}`;

/**
 * The charts of a run: size (raw and gzip), latency and accuracy per stage, each bar labelled with
 * its change against the original, and accuracy against size across stages and earlier runs.
 */
export default memo(function ResultCharts({
  results,
  history,
  currentRunId,
  selected,
  onSelect,
}: ResultChartsProps) {
  const measured = useMemo(
    () => results.filter((r) => r.status === 'done' && r.metrics).sort((a, b) => a.index - b.index),
    [results],
  );
  const labeled = measured.some((r) => r.metrics!.accuracy !== null);
  const rows: Row[] = useMemo(() => {
    const o = measured.find((r) => r.index === 0)?.metrics;
    return measured.map((r) => {
      const m = r.metrics!;
      const quality = labeled ? m.accuracy : m.agreement;
      const original = labeled ? (o?.accuracy ?? null) : 1;
      return {
        index: r.index,
        name: r.index === 0 ? 'original' : `${r.index} ${stageTag(r.stage ?? '', r.params)}`,
        title: `${r.index} · ${r.title}`,
        bytes: m.bytes,
        gzip: m.gzipBytes,
        bytesDelta: r.index === 0 ? '' : shortChange(o?.bytes, m.bytes),
        gzipDelta: r.index === 0 ? '' : shortChange(o?.gzipBytes, m.gzipBytes),
        latency: m.latency.medianMs,
        latencyDelta: r.index === 0 ? '' : shortChange(o?.latency.medianMs, m.latency.medianMs),
        latencyNote: r.index === 0 ? '' : formatSpeedup(o?.latency.medianMs, m.latency.medianMs),
        quality,
        qualityDelta: r.index === 0 ? '' : shortPoints(original, quality),
      };
    });
  }, [measured, labeled]);

  const qualityValues = rows.map((r) => r.quality).filter((q): q is number => q !== null);
  const qualityFloor = Math.max(0, Math.floor((Math.min(1, ...qualityValues) - 0.05) * 20) / 20);
  const click = (data: unknown) => {
    const index = (data as { payload?: Row } | undefined)?.payload?.index;
    if (typeof index === 'number') onSelect(index);
  };
  const fillOf = (r: Row, color: string) => (selected === r.index ? colors.selected : color);

  const runs = history.slice(-8);
  const scatterValues = runs.flatMap((r) => r.points.map((p) => (labeled ? p.accuracy : p.agreement) ?? 0));
  const scatterSpan = scatterValues.length ? Math.max(...scatterValues) - Math.min(...scatterValues) : 1;
  // Explicit padded domains: recharts draws odd ticks when every point has the same value.
  const yPad = Math.max(scatterSpan * 0.15, 0.002);
  const yDomain: [number, number] = scatterValues.length
    ? [Math.max(0, Math.min(...scatterValues) - yPad), Math.min(1, Math.max(...scatterValues) + yPad)]
    : [0, 1];
  const sizes = runs.flatMap((r) => r.points.map((p) => p.bytes));
  const xPad = sizes.length
    ? Math.max((Math.max(...sizes) - Math.min(...sizes)) * 0.08, Math.max(...sizes) * 0.02)
    : 0;
  const xDomain: [number, number] = sizes.length
    ? [Math.max(0, Math.min(...sizes) - xPad), Math.max(...sizes) + xPad]
    : [0, 1];
  // Enough decimals that neighbouring ticks differ.
  const scatterDecimals = scatterSpan < 0.01 ? 2 : scatterSpan < 0.1 ? 1 : 0;
  const scatterKey = labeled ? 'accuracy' : 'agreement';

  return (
    <div className="charts-grid" data-testid="charts">
      <ChartCard title="Size" subtitle="raw and gzip, KiB" testId="chart-size">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={rows} margin={{ top: 18, right: 8, bottom: 0, left: -8 }}>
            <CartesianGrid vertical={false} stroke="#eef1f5" />
            <XAxis dataKey="name" tick={axisTick} interval={0} />
            <YAxis tick={axisTick} tickFormatter={kib} width={50} />
            <Tooltip
              contentStyle={tooltipStyle}
              formatter={(v, key) => [formatBytes(Number(v)), key === 'bytes' ? 'raw' : 'gzip']}
              labelFormatter={(_, p) => (p?.[0]?.payload as Row | undefined)?.title ?? ''}
            />
            <Legend wrapperStyle={{ fontSize: 11 }} formatter={(v) => (v === 'bytes' ? 'raw' : 'gzip')} />
            <Bar dataKey="bytes" fill={colors.raw} onClick={click} cursor="pointer" isAnimationActive={false}>
              {rows.map((r) => (
                <Cell key={r.index} fill={fillOf(r, colors.raw)} />
              ))}
              <LabelList dataKey="bytesDelta" position="top" style={labelStyle} />
            </Bar>
            <Bar dataKey="gzip" fill={colors.gzip} onClick={click} cursor="pointer" isAnimationActive={false}>
              <LabelList dataKey="gzipDelta" position="top" style={labelStyle} />
            </Bar>
          </BarChart>
        </ResponsiveContainer>
      </ChartCard>

      <ChartCard title="Latency" subtitle="median, ms" testId="chart-latency">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={rows} margin={{ top: 18, right: 8, bottom: 0, left: -8 }}>
            <CartesianGrid vertical={false} stroke="#eef1f5" />
            <XAxis dataKey="name" tick={axisTick} interval={0} />
            <YAxis
              tick={axisTick}
              width={50}
              tickFormatter={(v: number) => (v >= 10 ? v.toFixed(0) : v.toPrecision(2))}
            />
            <Tooltip
              contentStyle={tooltipStyle}
              formatter={(v, _k, item) => [
                `${formatMs(Number(v))}${(item.payload as Row).latencyNote ? ` (${(item.payload as Row).latencyNote})` : ''}`,
                'median',
              ]}
              labelFormatter={(_, p) => (p?.[0]?.payload as Row | undefined)?.title ?? ''}
            />
            <Bar dataKey="latency" onClick={click} cursor="pointer" isAnimationActive={false}>
              {rows.map((r) => (
                <Cell key={r.index} fill={fillOf(r, colors.latency)} />
              ))}
              <LabelList dataKey="latencyDelta" position="top" style={labelStyle} />
            </Bar>
          </BarChart>
        </ResponsiveContainer>
      </ChartCard>

      <ChartCard
        title={labeled ? 'Accuracy' : 'Top-1 agreement'}
        subtitle={labeled ? 'evaluation split' : 'with the original (no labels)'}
        testId="chart-accuracy"
      >
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={rows} margin={{ top: 18, right: 8, bottom: 0, left: -8 }}>
            <CartesianGrid vertical={false} stroke="#eef1f5" />
            <XAxis dataKey="name" tick={axisTick} interval={0} />
            <YAxis
              tick={axisTick}
              width={50}
              domain={[qualityFloor, 1]}
              allowDataOverflow
              tickFormatter={(v: number) => `${Math.round(v * 100)}%`}
            />
            <Tooltip
              contentStyle={tooltipStyle}
              formatter={(v) => [formatPercent(Number(v)), labeled ? 'accuracy' : 'agreement']}
              labelFormatter={(_, p) => (p?.[0]?.payload as Row | undefined)?.title ?? ''}
            />
            <Bar dataKey="quality" onClick={click} cursor="pointer" isAnimationActive={false}>
              {rows.map((r) => (
                <Cell key={r.index} fill={fillOf(r, colors.accuracy)} />
              ))}
              <LabelList dataKey="qualityDelta" position="top" style={labelStyle} />
            </Bar>
          </BarChart>
        </ResponsiveContainer>
      </ChartCard>

      <ChartCard
        title={`${labeled ? 'Accuracy' : 'Agreement'} vs size`}
        subtitle={`this run and ${Math.max(0, runs.length - 1)} earlier`}
        testId="chart-tradeoff"
      >
        <ResponsiveContainer width="100%" height="100%">
          <ScatterChart margin={{ top: 10, right: 12, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#eef1f5" />
            <XAxis
              type="number"
              dataKey="bytes"
              name="size"
              tick={axisTick}
              tickFormatter={kib}
              domain={xDomain}
              unit=" KiB"
            />
            <YAxis
              type="number"
              dataKey={scatterKey}
              name={scatterKey}
              tick={axisTick}
              width={58}
              domain={yDomain}
              tickFormatter={(v: number) => `${(v * 100).toFixed(scatterDecimals)}%`}
            />
            <ZAxis range={[40, 40]} />
            <Tooltip
              contentStyle={tooltipStyle}
              cursor={{ strokeDasharray: '3 3' }}
              formatter={(v, key) =>
                key === 'size' ? [formatBytes(Number(v)), 'size'] : [formatPercent(Number(v)), String(key)]
              }
              labelFormatter={() => ''}
            />
            {runs.map((run, k) => {
              const current = run.id === currentRunId;
              const points = run.points.filter((p) => (labeled ? p.accuracy !== null : true));
              return (
                <Scatter
                  key={run.id}
                  name={current ? `this run: ${run.label}` : run.label}
                  data={points}
                  fill={current ? colors.raw : runColors[(k + 1) % runColors.length]}
                  fillOpacity={current ? 1 : 0.45}
                  line={{ stroke: current ? colors.raw : colors.muted, strokeWidth: current ? 1.5 : 1 }}
                  isAnimationActive={false}
                  onClick={(d: unknown) => {
                    const index = (d as { index?: number; payload?: { index?: number } }).payload?.index;
                    if (current && typeof index === 'number') onSelect(index);
                  }}
                />
              );
            })}
          </ScatterChart>
        </ResponsiveContainer>
      </ChartCard>
    </div>
  );
});
