import type { RGB } from 'pdf-lib';
import type { Flow } from './flow';
import type { Point } from './painter';
import { colors, seriesColors, sizes } from './theme';

/** Round tick values covering [lo, hi] (about `count` of them), and the domain they span. */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; lo: number; hi: number } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: [0, 1], lo: 0, hi: 1 };
  if (hi - lo < 1e-12) {
    const pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.05 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const e = raw / mag;
  const step = (e >= 7 ? 10 : e >= 3 ? 5 : e >= 1.5 ? 2 : 1) * mag;
  const start = Math.floor(lo / step + 1e-9) * step;
  const end = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = start; v <= end + step * 1e-6; v += step) ticks.push(Number(v.toPrecision(12)));
  return { ticks, lo: start, hi: end };
}

/** Ticks in whole binary units (B, KiB, MiB, GiB) from 0 to at least `max`, with their labels. */
export function byteTicks(max: number): { ticks: number[]; hi: number; label: (v: number) => string } {
  const units: [number, string][] = [
    [1024 ** 3, 'GiB'],
    [1024 ** 2, 'MiB'],
    [1024, 'KiB'],
    [1, 'B'],
  ];
  const [unit, name] = units.find(([u]) => max >= u * 1.5) ?? [1, 'B'];
  const t = niceTicks(0, Math.max(max / unit, 1e-9), 5);
  return {
    ticks: t.ticks.map((v) => v * unit),
    hi: t.hi * unit,
    label: (v) => `${Number((v / unit).toPrecision(6))} ${name}`,
  };
}

export interface LegendItem {
  label: string;
  color: RGB;
  shape: 'bar' | 'thin' | 'dot' | 'ring' | 'line' | 'whisker';
}

/** One row of a row chart: a stage with its bars or dots and the numbers printed beside them. */
export interface RowChartRow {
  label: string;
  bold?: boolean;
  /** Bars from the axis start, drawn in order (a thin one on top of a thick one). */
  bars?: { value: number; color: RGB; thickness: number }[];
  /** A line from `from` to `to` with end caps (p95 beside the median). */
  whisker?: { from: number; to: number };
  dots?: { value: number; color: RGB; filled: boolean }[];
  /** Printed right of the plot; when there is no value, the row says so. */
  valueText: string;
  deltaText?: string;
  deltaTone?: 'good' | 'bad' | 'neutral';
}

export interface RowChartSpec {
  title: string;
  subtitle?: string;
  rows: RowChartRow[];
  domain: [number, number];
  ticks: number[];
  tickText: (v: number) => string;
  /** A dashed vertical line (the original's value). */
  reference?: number;
  legend?: LegendItem[];
}

const rowHeight = 13;
const toneColor = (t: RowChartRow['deltaTone']) =>
  t === 'good' ? colors.good : t === 'bad' ? colors.bad : colors.muted;

function drawLegend(flow: Flow, items: readonly LegendItem[], x: number, y: number, maxRight: number): void {
  const { painter } = flow;
  let cx = x;
  for (const it of items) {
    const w = painter.kit.width(it.label, 'sans', sizes.small) + 18;
    if (cx + w > maxRight) break;
    const mid = y + sizes.small / 2;
    if (it.shape === 'bar')
      painter.rect(flow.page, { x: cx, y: mid - 3.5, width: 10, height: 7 }, { fill: it.color });
    else if (it.shape === 'thin')
      painter.rect(flow.page, { x: cx, y: mid - 1.5, width: 10, height: 3 }, { fill: it.color });
    else if (it.shape === 'dot') painter.circle(flow.page, { x: cx + 5, y: mid }, 2.6, { fill: it.color });
    else if (it.shape === 'ring')
      painter.circle(flow.page, { x: cx + 5, y: mid }, 2.4, {
        fill: colors.white,
        stroke: it.color,
        lineWidth: 1,
      });
    else if (it.shape === 'whisker') {
      painter.line(flow.page, { x: cx, y: mid }, { x: cx + 10, y: mid }, { color: it.color, width: 0.8 });
      painter.line(
        flow.page,
        { x: cx + 10, y: mid - 2.5 },
        { x: cx + 10, y: mid + 2.5 },
        { color: it.color, width: 0.8 },
      );
    } else
      painter.line(
        flow.page,
        { x: cx, y: mid },
        { x: cx + 10, y: mid },
        { color: it.color, width: 1.2, dash: [2, 1.5] },
      );
    painter.text(flow.page, it.label, cx + 13, y, {
      size: sizes.small,
      color: colors.muted,
      maxWidth: maxRight - cx - 13,
    });
    cx += w + 8;
  }
}

/** A tick label centred under its tick, or pushed inside the content width at the edges. */
function tickLabel(flow: Flow, text: string, x: number, top: number, room: number): void {
  const w = flow.painter.kit.width(text, 'sans', sizes.tiny);
  const style = { size: sizes.tiny, color: colors.muted, maxWidth: Math.max(room, 1) };
  if (x + w / 2 > flow.right)
    flow.painter.text(flow.page, text, flow.right, top, { ...style, align: 'right' });
  else if (x - w / 2 < flow.left) flow.painter.text(flow.page, text, flow.left, top, style);
  else flow.painter.text(flow.page, text, x, top, { ...style, align: 'center' });
}

function chartTitle(flow: Flow, title: string, subtitle?: string): void {
  const { painter } = flow;
  painter.text(flow.page, title, flow.left, flow.y, {
    role: 'bold',
    size: 9.5,
    color: colors.ink,
    maxWidth: flow.width,
  });
  flow.y += 13;
  if (subtitle) {
    for (const line of painter.kit.wrap(subtitle, 'sans', sizes.small, flow.width, 2)) {
      painter.text(flow.page, line, flow.left, flow.y, {
        size: sizes.small,
        color: colors.muted,
        maxWidth: flow.width,
      });
      flow.y += sizes.small * 1.35;
    }
  }
  flow.y += 3;
}

/**
 * A horizontal chart with one row per stage: bars (size, latency) or dots (accuracy) on a shared
 * axis, the stage on the left and its number and change on the right. Long lists continue on the
 * next page with the title repeated.
 */
export function drawRowChart(flow: Flow, spec: RowChartSpec): void {
  const { painter } = flow;
  const labelW = Math.round(flow.width * 0.27);
  const valueW = Math.round(flow.width * 0.25);
  const plotX = flow.left + labelW + 6;
  const plotW = flow.width - labelW - valueW - 12;
  const valueX = plotX + plotW + 12;
  const [d0, d1] = spec.domain;
  // Dots at the ends of the axis would touch the frame and the numbers beside it: keep them inside.
  const inset = spec.rows.some((r) => r.dots?.length) ? 6 : 0;
  const sx = (v: number) =>
    plotX + inset + ((Math.min(Math.max(v, d0), d1) - d0) / (d1 - d0 || 1)) * (plotW - 2 * inset);
  const subtitleLines = spec.subtitle
    ? painter.kit.wrap(spec.subtitle, 'sans', sizes.small, flow.width, 2).length
    : 0;
  const chrome = 16 + subtitleLines * sizes.small * 1.35 + 16 + (spec.legend ? 14 : 0) + 10;
  let start = 0;
  while (start < spec.rows.length) {
    if (flow.remaining() < chrome + rowHeight * Math.min(3, spec.rows.length - start)) flow.newPage();
    const fit = Math.max(1, Math.floor((flow.remaining() - chrome) / rowHeight));
    const rows = spec.rows.slice(start, start + fit);
    chartTitle(flow, start === 0 ? spec.title : `${spec.title} (continued)`, spec.subtitle);
    const top = flow.y;
    const height = rows.length * rowHeight;
    for (const t of spec.ticks) {
      if (t < d0 - 1e-12 || t > d1 + 1e-12) continue;
      painter.line(
        flow.page,
        { x: sx(t), y: top },
        { x: sx(t), y: top + height },
        { color: colors.grid, width: 0.5 },
      );
    }
    if (spec.reference !== undefined)
      painter.line(
        flow.page,
        { x: sx(spec.reference), y: top - 2 },
        { x: sx(spec.reference), y: top + height + 2 },
        {
          color: colors.original,
          width: 0.8,
          dash: [2, 1.5],
        },
      );
    rows.forEach((r, k) => {
      const y = top + k * rowHeight;
      const mid = y + rowHeight / 2;
      painter.text(flow.page, r.label, flow.left, mid - sizes.small / 2, {
        role: r.bold ? 'bold' : 'sans',
        size: sizes.small,
        color: colors.text,
        maxWidth: labelW,
      });
      for (const b of r.bars ?? []) {
        const w = sx(b.value) - plotX;
        painter.rect(
          flow.page,
          { x: plotX, y: mid - b.thickness / 2, width: Math.max(w, 0.6), height: b.thickness },
          { fill: b.color },
        );
      }
      if (r.whisker) {
        const a = sx(r.whisker.from);
        const b = sx(r.whisker.to);
        painter.line(flow.page, { x: a, y: mid }, { x: b, y: mid }, { color: colors.ink, width: 0.7 });
        painter.line(
          flow.page,
          { x: b, y: mid - 2.5 },
          { x: b, y: mid + 2.5 },
          { color: colors.ink, width: 0.7 },
        );
      }
      for (const d of r.dots ?? [])
        painter.circle(
          flow.page,
          { x: sx(d.value), y: mid },
          d.filled ? 2.8 : 2.6,
          d.filled ? { fill: d.color } : { fill: colors.white, stroke: d.color, lineWidth: 1 },
        );
      const deltaW = r.deltaText
        ? Math.min(valueW * 0.45, painter.kit.width(r.deltaText, 'sans', sizes.small) + 2)
        : 0;
      painter.text(flow.page, r.valueText, valueX, mid - sizes.small / 2, {
        role: r.bold ? 'bold' : 'sans',
        size: sizes.small,
        color: colors.ink,
        maxWidth: valueW - 8 - deltaW - 4,
      });
      if (r.deltaText)
        painter.text(flow.page, r.deltaText, flow.right, mid - sizes.small / 2, {
          size: sizes.small,
          color: toneColor(r.deltaTone),
          align: 'right',
          maxWidth: deltaW,
        });
    });
    painter.line(
      flow.page,
      { x: plotX, y: top + height },
      { x: plotX + plotW, y: top + height },
      { color: colors.faint, width: 0.6 },
    );
    const tickTexts = spec.ticks.filter((t) => t >= d0 - 1e-12 && t <= d1 + 1e-12);
    const room = plotW / Math.max(1, tickTexts.length - 1);
    for (const t of tickTexts) tickLabel(flow, spec.tickText(t), sx(t), top + height + 3, room - 2);
    flow.y = top + height + 14;
    if (spec.legend) {
      drawLegend(flow, spec.legend, plotX, flow.y, flow.right);
      flow.y += 14;
    }
    flow.y += 10;
    start += rows.length;
  }
}

export interface ScatterPoint {
  x: number;
  y: number;
  label: string;
  color: RGB;
  /** Drawn larger (the final model). */
  emphasis?: boolean;
}

export interface XYSpec {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  x: { lo: number; hi: number; ticks: number[]; text: (v: number) => string };
  y: { lo: number; hi: number; ticks: number[]; text: (v: number) => string };
  height?: number;
  legend?: LegendItem[];
}

/** Axes, grid and labels of an x–y chart; returns the mapping into the plot area. */
function drawAxes(
  flow: Flow,
  spec: XYSpec,
): {
  sx: (v: number) => number;
  sy: (v: number) => number;
  box: { x: number; y: number; w: number; h: number };
} {
  const { painter } = flow;
  const height = spec.height ?? 190;
  const axisW = 46;
  const x = flow.left + axisW;
  const w = flow.width - axisW - 8;
  painter.text(flow.page, spec.yLabel, flow.left, flow.y, {
    size: sizes.small,
    color: colors.muted,
    maxWidth: flow.width / 2,
  });
  const y = flow.y + 12;
  const h = height - 38;
  // Points on the domain's edges stay clear of the frame.
  const inset = 5;
  const sx = (v: number) => x + inset + ((v - spec.x.lo) / (spec.x.hi - spec.x.lo || 1)) * (w - 2 * inset);
  const sy = (v: number) =>
    y + h - inset - ((v - spec.y.lo) / (spec.y.hi - spec.y.lo || 1)) * (h - 2 * inset);
  painter.rect(flow.page, { x, y, width: w, height: h }, { stroke: colors.rule, lineWidth: 0.5 });
  const xt = spec.x.ticks.filter((t) => t >= spec.x.lo - 1e-12 && t <= spec.x.hi + 1e-12);
  const yt = spec.y.ticks.filter((t) => t >= spec.y.lo - 1e-12 && t <= spec.y.hi + 1e-12);
  const room = w / Math.max(1, xt.length - 1);
  for (const t of xt) {
    painter.line(flow.page, { x: sx(t), y }, { x: sx(t), y: y + h }, { color: colors.grid, width: 0.5 });
    tickLabel(flow, spec.x.text(t), sx(t), y + h + 3, room - 2);
  }
  for (const t of yt) {
    painter.line(flow.page, { x, y: sy(t) }, { x: x + w, y: sy(t) }, { color: colors.grid, width: 0.5 });
    painter.text(flow.page, spec.y.text(t), x - 4, sy(t) - sizes.tiny / 2, {
      size: sizes.tiny,
      color: colors.muted,
      align: 'right',
      maxWidth: axisW - 6,
    });
  }
  painter.text(flow.page, spec.xLabel, x + w, y + h + 12, {
    size: sizes.small,
    color: colors.muted,
    align: 'right',
    maxWidth: w,
  });
  return { sx, sy, box: { x, y, w, h } };
}

/** A scatter plot (accuracy against size), points labelled, joined in pipeline order. */
export function drawScatter(flow: Flow, spec: XYSpec, points: readonly ScatterPoint[]): void {
  const { painter } = flow;
  const height = spec.height ?? 190;
  const subtitleLines = spec.subtitle
    ? painter.kit.wrap(spec.subtitle, 'sans', sizes.small, flow.width, 2).length
    : 0;
  flow.ensure(16 + subtitleLines * 10 + height + (spec.legend ? 14 : 0) + 14);
  chartTitle(flow, spec.title, spec.subtitle);
  const { sx, sy, box } = drawAxes(flow, spec);
  const pts: Point[] = points.map((p) => ({ x: sx(p.x), y: sy(p.y) }));
  painter.polyline(flow.page, pts, { color: colors.faint, width: 0.6, dash: [2, 2] });
  // Stages that changed nothing sit on one spot: one label lists them all.
  const groups: { at: Point; labels: string[] }[] = [];
  points.forEach((p, i) => {
    const g = groups.find((x) => Math.hypot(x.at.x - pts[i].x, x.at.y - pts[i].y) < 3);
    if (g) g.labels.push(p.label);
    else groups.push({ at: pts[i], labels: [p.label] });
  });
  points.forEach((p, i) =>
    painter.circle(flow.page, pts[i], p.emphasis ? 4 : 3, {
      fill: p.color,
      stroke: colors.white,
      lineWidth: 0.6,
    }),
  );
  // Labels go beside their point where they overlap neither another label nor a point.
  const placed: { x: number; y: number; w: number; h: number }[] = pts.map((p) => ({
    x: p.x - 4,
    y: p.y - 4,
    w: 8,
    h: 8,
  }));
  const overlaps = (a: (typeof placed)[number]) =>
    placed.some((b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h);
  for (const g of groups) {
    const label = joinStageLabels(g.labels);
    const w = Math.min(painter.kit.width(label, 'bold', sizes.tiny), box.w / 2);
    const h = sizes.tiny;
    const candidates = [
      { x: g.at.x + 5, y: g.at.y - h - 2 },
      { x: g.at.x + 5, y: g.at.y + 2 },
      { x: g.at.x - 5 - w, y: g.at.y - h - 2 },
      { x: g.at.x - 5 - w, y: g.at.y + 2 },
      { x: g.at.x - w / 2, y: g.at.y - h - 6 },
      { x: g.at.x - w / 2, y: g.at.y + 6 },
    ].map((c) => ({
      x: Math.min(Math.max(c.x, box.x + 1), box.x + box.w - w - 1),
      y: Math.min(Math.max(c.y, box.y + 1), box.y + box.h - h - 1),
      w,
      h,
    }));
    const spot = candidates.find((c) => !overlaps(c)) ?? candidates[0];
    placed.push(spot);
    painter.text(flow.page, label, spot.x, spot.y, {
      role: 'bold',
      size: sizes.tiny,
      color: colors.ink,
      maxWidth: w + 0.01,
    });
  }
  flow.y += height;
  if (spec.legend) {
    drawLegend(flow, spec.legend, box.x, flow.y, flow.right);
    flow.y += 14;
  }
  flow.y += 10;
}

/** '#2, #3, #4, #7' → '#2–#4, #7': stage numbers in runs. */
export function joinStageLabels(labels: readonly string[]): string {
  const nums = labels.map((l) => /^#(\d+)$/.exec(l)?.[1]);
  if (nums.some((n) => n === undefined)) return labels.join(', ');
  const sorted = [...new Set(nums.map(Number))].sort((a, b) => a - b);
  const runs: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    runs.push(
      j - i >= 2
        ? `#${sorted[i]}–#${sorted[j]}`
        : sorted
            .slice(i, j + 1)
            .map((n) => `#${n}`)
            .join(', '),
    );
    i = j + 1;
  }
  return runs.join(', ');
}

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
  /** Drawn in colour with a legend entry; the others in grey. */
  highlight: boolean;
}

/** Line chart (sensitivity curves): highlighted series in colour with a legend, the rest in grey. */
export function drawLines(flow: Flow, spec: XYSpec, series: readonly LineSeries[]): void {
  const { painter } = flow;
  const height = spec.height ?? 200;
  const highlighted = series.filter((s) => s.highlight);
  const legendRows = Math.ceil(highlighted.length / 2);
  const subtitleLines = spec.subtitle
    ? painter.kit.wrap(spec.subtitle, 'sans', sizes.small, flow.width, 2).length
    : 0;
  flow.ensure(16 + subtitleLines * 10 + height + legendRows * 11 + 14);
  chartTitle(flow, spec.title, spec.subtitle);
  const { sx, sy, box } = drawAxes(flow, spec);
  for (const s of series.filter((x) => !x.highlight))
    painter.polyline(
      flow.page,
      s.points.map((p) => ({ x: sx(p.x), y: sy(p.y) })),
      { color: colors.originalLight, width: 0.6 },
    );
  highlighted.forEach((s, i) => {
    const color = seriesColors[i % seriesColors.length];
    const pts = s.points.map((p) => ({ x: sx(p.x), y: sy(p.y) }));
    painter.polyline(flow.page, pts, { color, width: 1.1 });
    for (const p of pts) painter.circle(flow.page, p, 1.6, { fill: color });
  });
  flow.y += height;
  const colW = (box.w - 8) / 2;
  highlighted.forEach((s, i) => {
    const x = box.x + (i % 2) * (colW + 8);
    const y = flow.y + Math.floor(i / 2) * 11;
    painter.line(
      flow.page,
      { x, y: y + 3.5 },
      { x: x + 12, y: y + 3.5 },
      { color: seriesColors[i % seriesColors.length], width: 1.4 },
    );
    painter.text(flow.page, s.name, x + 16, y, {
      size: sizes.small,
      color: colors.text,
      maxWidth: colW - 18,
      ellipsis: 'middle',
    });
  });
  flow.y += legendRows * 11 + 12;
}
