import { PDFDocument, type RGB } from 'pdf-lib';
import type { StageMetrics } from '../metrics/measure';
import { formatRecipe } from '../pipeline/recipe';
import { byteTicks, drawLines, drawRowChart, drawScatter, niceTicks, type RowChartRow } from './charts';
import { Flow } from './flow';
import {
  formatAbsError,
  formatBytes,
  formatChange,
  formatCompactCount,
  formatCount,
  formatDate,
  formatMs,
  formatPercent,
  formatPointsChange,
  formatRatio,
  formatSpeedup,
  formatSqnr,
  missing,
} from './format';
import { drawGraphPicture, planPicture } from './graphPicture';
import { Painter, type DrawnText } from './painter';
import {
  budgetVerdict,
  buildReportData,
  finalStage,
  type ReportData,
  type ReportRunInput,
  type ReportStage,
} from './reportData';
import { drawTable, type CellValue, type TableColumn } from './table';
import { colors, sizes } from './theme';

/** The report as bytes, with what was drawn (tests check that every text stays in its place). */
export interface RenderedReport {
  bytes: Uint8Array;
  pages: number;
  texts: DrawnText[];
}

const stageLabel = (s: ReportStage) => `#${s.index} ${s.index === 0 ? 'Original' : s.title}`;

function paramText(params: Record<string, unknown>): string {
  const entries = Object.entries(params);
  if (entries.length === 0) return '—';
  return entries.map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
}

function changeSummary(s: ReportStage): string {
  const counts = new Map<string, number>();
  for (const c of s.changes) counts.set(c.kind, (counts.get(c.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}

/** Numbers a reader compares the original and the final model on. */
function comparisonRows(o: StageMetrics | undefined, f: StageMetrics | undefined): CellValue[][] {
  const tone = (text: string, better: boolean | null): CellValue =>
    text === missing || better === null || /^0\.00/.test(text)
      ? text
      : { text, color: better ? colors.good : colors.bad };
  const lower = (a?: number | null, b?: number | null) =>
    a === undefined || b === undefined || a === null || b === null || a === b ? null : b < a;
  const higher = (a?: number | null, b?: number | null) => {
    const l = lower(a, b);
    return l === null ? null : !l;
  };
  const row = (label: string, a: string, b: string, change: CellValue): CellValue[] => [label, a, b, change];
  return [
    row(
      'File size',
      formatBytes(o?.bytes),
      formatBytes(f?.bytes),
      tone(formatChange(o?.bytes, f?.bytes), lower(o?.bytes, f?.bytes)),
    ),
    row(
      'Gzip size',
      formatBytes(o?.gzipBytes),
      formatBytes(f?.gzipBytes),
      tone(formatChange(o?.gzipBytes, f?.gzipBytes), lower(o?.gzipBytes, f?.gzipBytes)),
    ),
    row(
      'Parameters',
      formatCount(o?.parameters),
      formatCount(f?.parameters),
      formatChange(o?.parameters, f?.parameters),
    ),
    row(
      'Non-zero parameters',
      formatCount(o?.nonZeros),
      formatCount(f?.nonZeros),
      formatChange(o?.nonZeros, f?.nonZeros),
    ),
    row(
      'Sparsity',
      formatPercent(o?.sparsity),
      formatPercent(f?.sparsity),
      formatPointsChange(o?.sparsity, f?.sparsity),
    ),
    row('MACs per inference', formatCount(o?.macs), formatCount(f?.macs), formatChange(o?.macs, f?.macs)),
    row(
      'Peak activation memory',
      formatBytes(o?.peakActivationBytes),
      formatBytes(f?.peakActivationBytes),
      tone(
        formatChange(o?.peakActivationBytes, f?.peakActivationBytes),
        lower(o?.peakActivationBytes, f?.peakActivationBytes),
      ),
    ),
    row(
      'Latency, median',
      formatMs(o?.latency.medianMs),
      formatMs(f?.latency.medianMs),
      tone(
        formatChange(o?.latency.medianMs, f?.latency.medianMs),
        lower(o?.latency.medianMs, f?.latency.medianMs),
      ),
    ),
    row(
      'Latency, p95',
      formatMs(o?.latency.p95Ms),
      formatMs(f?.latency.p95Ms),
      tone(formatChange(o?.latency.p95Ms, f?.latency.p95Ms), lower(o?.latency.p95Ms, f?.latency.p95Ms)),
    ),
    row(
      'Accuracy (top-1)',
      formatPercent(o?.accuracy),
      formatPercent(f?.accuracy),
      tone(formatPointsChange(o?.accuracy, f?.accuracy), higher(o?.accuracy, f?.accuracy)),
    ),
    row(
      'Top-1 agreement with original',
      formatPercent(o?.agreement),
      formatPercent(f?.agreement),
      formatPointsChange(o?.agreement, f?.agreement),
    ),
    row('SQNR vs original', formatSqnr(o?.sqnrDb), formatSqnr(f?.sqnrDb), ''),
    row('Max abs error vs original', formatAbsError(o?.maxAbsError), formatAbsError(f?.maxAbsError), ''),
  ];
}

/** Escape what the PDF fonts cannot show as JSON \u escapes, so the printed recipe stays exact. */
function asciiJson(text: string): string {
  return Array.from(text, (c) => {
    const cp = c.codePointAt(0)!;
    if (cp < 0x7f) return c;
    return cp > 0xffff
      ? c
          .split('')
          .map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`)
          .join('')
      : `\\u${cp.toString(16).padStart(4, '0')}`;
  }).join('');
}

class ReportRenderer {
  readonly painter: Painter;
  readonly flow: Flow;
  private sectionNumber = 0;
  private readonly original?: StageMetrics;
  private readonly finalResult?: ReportStage;

  constructor(
    doc: PDFDocument,
    private readonly data: ReportData,
  ) {
    this.painter = new Painter(doc);
    this.flow = new Flow(this.painter);
    this.original = data.stages.find((s) => s.index === 0)?.metrics;
    this.finalResult = finalStage(data.stages);
  }

  private get final(): StageMetrics | undefined {
    return this.finalResult?.metrics;
  }

  private section(title: string, keep?: number): void {
    this.sectionNumber++;
    this.flow.heading(`${this.sectionNumber}  ${title}`, keep);
  }

  render(): void {
    this.titlePage();
    this.pipeline();
    this.metrics();
    this.charts();
    if (this.data.sensitivity && this.data.sensitivity.curves.length) this.sensitivity();
    if (this.data.layers && this.data.layers.length) this.layers();
    this.graph();
    this.reproducibility();
    this.decorate();
  }

  private titlePage(): void {
    const { flow, painter, data } = this;
    const o = this.original;
    const f = this.final;
    flow.newPage();
    painter.rect(flow.page, { x: 0, y: 0, width: painter.width, height: 8 }, { fill: colors.accent });
    painter.text(flow.page, 'WHITTLE  ·  OPTIMIZATION REPORT', flow.left, flow.y - 8, {
      role: 'bold',
      size: 8.5,
      color: colors.accent,
      maxWidth: flow.width,
    });
    flow.y += 12;
    for (const line of painter.kit.wrap(data.modelName, 'bold', sizes.title, flow.width, 2)) {
      painter.text(flow.page, line, flow.left, flow.y, {
        role: 'bold',
        size: sizes.title,
        color: colors.ink,
        maxWidth: flow.width,
      });
      flow.y += sizes.title * 1.2;
    }
    const ran = data.stages.filter((s) => s.index > 0);
    const done = ran.filter((s) => s.status === 'done').length;
    const sub = `${ran.length} stage${ran.length === 1 ? '' : 's'} (${done} done)  ·  ${formatDate(data.date)}  ·  Whittle ${data.version}`;
    painter.text(flow.page, sub, flow.left, flow.y + 2, {
      size: 9.5,
      color: colors.muted,
      maxWidth: flow.width,
    });
    flow.y += 26;

    const failed = data.stages.find((s) => s.status === 'error' || s.status === 'cancelled');
    if (failed) {
      const text = `Stage ${failed.index} (${failed.title}) ${failed.status === 'cancelled' ? 'was cancelled' : 'failed'}: ${failed.error ?? ''}. The final model below is the last stage that finished (#${this.finalResult?.index ?? 0}).`;
      const lines = painter.kit.wrap(text, 'sans', sizes.body, flow.width - 16, 4);
      const h = lines.length * sizes.body * 1.35 + 12;
      painter.rect(
        flow.page,
        { x: flow.left, y: flow.y, width: flow.width, height: h },
        { fill: colors.badFill, stroke: colors.bad, lineWidth: 0.6 },
      );
      lines.forEach((l, i) =>
        painter.text(flow.page, l, flow.left + 8, flow.y + 6 + i * sizes.body * 1.35, {
          size: sizes.body,
          color: colors.bad,
          maxWidth: flow.width - 16,
        }),
      );
      flow.y += h + 12;
    }

    this.cards(o, f);
    if (data.budget) this.verdict();

    flow.subheading('Original and final model', 200);
    drawTable(
      flow,
      [
        { header: 'Measure', weight: 3 },
        { header: 'Original', weight: 2, align: 'right' },
        { header: `Final (#${this.finalResult?.index ?? 0})`, weight: 2, align: 'right' },
        { header: 'Change', weight: 1.6, align: 'right' },
      ],
      [
        ...comparisonRows(o, f),
        [
          'Operators (main graph)',
          formatCount(data.original.nodes),
          formatCount(data.final.nodes),
          formatChange(data.original.nodes, data.final.nodes),
        ],
      ],
      { size: 8 },
    );

    flow.subheading('Environment', 90);
    const env = data.environment;
    const latency = f?.latency ?? o?.latency;
    const evaluation =
      env.evaluation ??
      (o
        ? `${formatCount(o.evaluatedSamples)} ${o.inputsSource === 'dataset' ? 'samples of the evaluation split' : 'generated input sets (no dataset)'}`
        : missing);
    drawTable(
      flow,
      [
        { header: 'Item', weight: 1.3 },
        { header: 'Value', weight: 4.2, wrap: true, maxLines: 3 },
      ],
      [
        [
          'Runtime',
          `${env.runtime}${env.runtimeVersion ? ` ${env.runtimeVersion}` : ''}, ${env.backend} backend, ${env.threads} thread${env.threads === 1 ? '' : 's'}`,
        ],
        ['Browser / host', env.agent],
        ['Evaluation data', evaluation],
        [
          'Latency method',
          latency
            ? `median and 95th percentile of ${latency.runs} timed runs after ${latency.warmup} warm-up runs, first evaluation input`
            : missing,
        ],
        ['Report date', formatDate(data.date)],
        ['Whittle version', data.version],
      ],
      { size: 8, zebra: false },
    );
  }

  private cards(o: StageMetrics | undefined, f: StageMetrics | undefined): void {
    const { flow, painter } = this;
    const labeled = o?.accuracy !== null && o?.accuracy !== undefined;
    const cards: {
      title: string;
      value: string;
      from: string;
      change: string;
      tone: 'good' | 'bad' | 'neutral';
    }[] = [
      {
        title: 'Model size',
        value: formatBytes(f?.bytes),
        from: `from ${formatBytes(o?.bytes)}`,
        change:
          o && f ? `${formatRatio(o.bytes, f.bytes)} smaller (${formatChange(o.bytes, f.bytes)})` : missing,
        tone: o && f ? (f.bytes < o.bytes ? 'good' : f.bytes > o.bytes ? 'bad' : 'neutral') : 'neutral',
      },
      labeled
        ? {
            title: 'Accuracy (top-1)',
            value: formatPercent(f?.accuracy),
            from: `from ${formatPercent(o?.accuracy)}`,
            change: formatPointsChange(o?.accuracy, f?.accuracy),
            tone:
              o && f && f.accuracy !== null && o.accuracy !== null
                ? f.accuracy < o.accuracy
                  ? 'bad'
                  : f.accuracy > o.accuracy
                    ? 'good'
                    : 'neutral'
                : 'neutral',
          }
        : {
            title: 'Top-1 agreement',
            value: formatPercent(f?.agreement),
            from: 'with the original (no labels)',
            change: f ? `SQNR ${formatSqnr(f.sqnrDb)}` : missing,
            tone: 'neutral',
          },
      {
        title: 'Latency (median)',
        value: formatMs(f?.latency.medianMs),
        from: `from ${formatMs(o?.latency.medianMs)}`,
        change: formatSpeedup(o?.latency.medianMs, f?.latency.medianMs),
        tone: o && f ? (f.latency.medianMs < o.latency.medianMs ? 'good' : 'bad') : 'neutral',
      },
      {
        title: 'Non-zero parameters',
        value: formatCompactCount(f?.nonZeros),
        from: `of ${formatCount(f?.parameters)} stored`,
        change: `${formatPercent(f?.sparsity)} sparse`,
        tone: 'neutral',
      },
    ];
    const gap = 8;
    const w = (flow.width - gap * (cards.length - 1)) / cards.length;
    const h = 70;
    flow.ensure(h + 16);
    cards.forEach((c, i) => {
      const x = flow.left + i * (w + gap);
      const y = flow.y;
      painter.rect(flow.page, { x, y, width: w, height: h }, { fill: colors.accentFill });
      painter.rect(flow.page, { x, y, width: 2.5, height: h }, { fill: colors.accent });
      const inner = w - 16;
      painter.text(flow.page, c.title.toUpperCase(), x + 10, y + 8, {
        role: 'bold',
        size: 6.5,
        color: colors.muted,
        maxWidth: inner,
      });
      painter.text(flow.page, c.value, x + 10, y + 20, {
        role: 'bold',
        size: 16,
        color: colors.ink,
        maxWidth: inner,
      });
      painter.text(flow.page, c.from, x + 10, y + 42, { size: 7, color: colors.muted, maxWidth: inner });
      painter.text(flow.page, c.change, x + 10, y + 53, {
        role: 'bold',
        size: 7,
        color: c.tone === 'good' ? colors.good : c.tone === 'bad' ? colors.bad : colors.text,
        maxWidth: inner,
      });
    });
    flow.y += h + 16;
  }

  private verdict(): void {
    const { flow, painter, data } = this;
    const v = budgetVerdict(data.budget!, this.original, this.final);
    if (v.checks.length === 0) return;
    const line =
      v.fits === true
        ? 'Verdict: the final model fits the target budget.'
        : v.fits === false
          ? `Verdict: the final model does not fit the target budget (${v.checks
              .filter((c) => c.ok === false)
              .map((c) => c.label.toLowerCase())
              .join(', ')}).`
          : 'Verdict: the budget could not be checked completely (a number is missing).';
    const [fill, ink] =
      v.fits === true
        ? [colors.goodFill, colors.good]
        : v.fits === false
          ? [colors.badFill, colors.bad]
          : [colors.headerFill, colors.warn];
    const rowH = 11;
    const h = 24 + v.checks.length * rowH + 6;
    flow.ensure(h + 14);
    painter.rect(
      flow.page,
      { x: flow.left, y: flow.y, width: flow.width, height: h },
      { fill, stroke: ink, lineWidth: 0.8 },
    );
    painter.text(flow.page, line, flow.left + 10, flow.y + 8, {
      role: 'bold',
      size: 10,
      color: ink,
      maxWidth: flow.width - 20,
    });
    const cols = [flow.left + 10, flow.left + 170, flow.left + 290, flow.left + 410];
    v.checks.forEach((c, i) => {
      const y = flow.y + 24 + i * rowH;
      painter.text(flow.page, c.label, cols[0], y, { size: 8, color: colors.text, maxWidth: 155 });
      painter.text(flow.page, `limit ${c.limit}`, cols[1], y, {
        size: 8,
        color: colors.muted,
        maxWidth: 115,
      });
      painter.text(flow.page, `final ${c.actual}`, cols[2], y, {
        size: 8,
        color: colors.text,
        maxWidth: 115,
      });
      painter.text(
        flow.page,
        c.ok === true ? 'within' : c.ok === false ? 'over the limit' : 'not measured',
        cols[3],
        y,
        {
          role: 'bold',
          size: 8,
          color: c.ok === true ? colors.good : c.ok === false ? colors.bad : colors.warn,
          maxWidth: flow.right - cols[3] - 10,
        },
      );
    });
    flow.y += h + 14;
  }

  private pipeline(): void {
    const { flow, data } = this;
    flow.newPage();
    this.section('Pipeline');
    flow.paragraph(
      "Each stage takes the previous stage's model. Parameters are the values the stage ran with, defaults included; the recipe in the reproducibility section holds them as JSON.",
      { color: colors.muted, size: 8 },
    );
    const finalIndex = this.finalResult?.index;
    drawTable(
      flow,
      [
        { header: '#', weight: 0.35, align: 'right' },
        { header: 'Stage', weight: 2.2, wrap: true, maxLines: 2 },
        { header: 'Parameters', weight: 3.2, wrap: true, maxLines: 8, role: 'mono' },
        { header: 'Result', weight: 3.6, wrap: true, maxLines: 8 },
      ],
      data.stages.map((s) => {
        const result =
          s.index === 0
            ? 'the model as opened'
            : [
                s.status === 'done' ? `done${s.cached ? ' (cached)' : ` in ${formatMs(s.runMs)}`}` : s.status,
                s.error,
                ...s.notes,
                s.changes.length ? `nodes: ${changeSummary(s)}` : '',
              ]
                .filter(Boolean)
                .join(' · ');
        return [
          String(s.index),
          { text: s.index === 0 ? 'Original model' : s.title, role: 'bold', sub: s.stage ?? undefined },
          s.index === 0 ? '—' : paramText(s.params),
          {
            text: result,
            color:
              s.status === 'error' || s.status === 'cancelled'
                ? colors.bad
                : s.status === 'skipped'
                  ? colors.muted
                  : undefined,
          },
        ];
      }),
      {
        rowFill: (r) =>
          data.stages[r].index === finalIndex && finalIndex !== 0 ? colors.accentFill : undefined,
      },
    );
  }

  private metrics(): void {
    const { flow, data } = this;
    this.section('Metrics per stage');
    const finalIndex = this.finalResult?.index;
    const rowFill = (r: number) => (data.stages[r].index === finalIndex ? colors.accentFill : undefined);
    const stageCell = (s: ReportStage): CellValue => ({
      text: stageLabel(s),
      role: s.index === finalIndex ? 'bold' : 'sans',
    });
    const num = (header: string, weight = 1.1): TableColumn => ({ header, weight, align: 'right' });
    flow.subheading('Size and compute');
    drawTable(
      flow,
      [
        { header: 'Stage', weight: 2.3 },
        num('Size'),
        num('Gzip size'),
        num('Parameters', 1.2),
        num('Non-zeros', 1.2),
        num('Sparsity'),
        num('MACs', 1.35),
        num('Peak activations'),
      ],
      data.stages.map((s) => {
        const m = s.metrics;
        return [
          stageCell(s),
          formatBytes(m?.bytes),
          formatBytes(m?.gzipBytes),
          formatCount(m?.parameters),
          formatCount(m?.nonZeros),
          formatPercent(m?.sparsity),
          formatCount(m?.macs),
          formatBytes(m?.peakActivationBytes),
        ];
      }),
      { rowFill },
    );
    flow.subheading('Speed and fidelity');
    drawTable(
      flow,
      [
        { header: 'Stage', weight: 2.3 },
        num('Latency median'),
        num('Latency p95'),
        num('Accuracy'),
        num('Top-1 agreement'),
        num('SQNR'),
        num('Max abs error'),
        num('Samples', 0.9),
      ],
      data.stages.map((s) => {
        const m = s.metrics;
        return [
          stageCell(s),
          formatMs(m?.latency.medianMs),
          formatMs(m?.latency.p95Ms),
          formatPercent(m?.accuracy),
          formatPercent(m?.agreement),
          formatSqnr(m?.sqnrDb),
          formatAbsError(m?.maxAbsError),
          formatCount(m?.evaluatedSamples),
        ];
      }),
      { rowFill },
    );
    flow.paragraph(
      "Accuracy is top-1 against the labels of the evaluation samples (— without labels). Top-1 agreement, SQNR and the largest absolute output difference compare each stage's outputs with the original model's on the same inputs. Sparsity is the share of stored weight elements that are exactly zero. Peak activations is the largest total size of intermediate tensors alive at once.",
      { size: sizes.small, color: colors.muted },
    );
  }

  private charts(): void {
    const { flow, data } = this;
    const measured = data.stages.filter((s) => s.metrics);
    if (measured.length === 0) return;
    this.section('Charts', 200);
    const o = this.original;
    const finalIndex = this.finalResult?.index;
    const tint = (s: ReportStage): [RGB, RGB] =>
      s.index === 0
        ? [colors.originalLight, colors.original]
        : s.index === finalIndex
          ? [colors.accent, colors.accentDark]
          : [colors.accentLight, colors.accent];
    const row = (s: ReportStage, extra: Partial<RowChartRow>): RowChartRow => ({
      label: stageLabel(s),
      bold: s.index === finalIndex,
      valueText: 'not measured',
      ...extra,
    });
    const tone = (better: boolean, same: boolean): RowChartRow['deltaTone'] =>
      same ? 'neutral' : better ? 'good' : 'bad';

    const maxBytes = Math.max(...measured.map((s) => s.metrics!.bytes));
    const bt = byteTicks(maxBytes);
    drawRowChart(flow, {
      title: 'Model size per stage',
      subtitle:
        'File size (wide bar) and gzip-compressed size (thin bar); the change is against the original file size.',
      domain: [0, bt.hi],
      ticks: bt.ticks,
      tickText: bt.label,
      reference: o?.bytes,
      rows: data.stages.map((s) => {
        const m = s.metrics;
        if (!m) return row(s, {});
        const [light, dark] = tint(s);
        return row(s, {
          bars: [
            { value: m.bytes, color: light, thickness: 8 },
            { value: m.gzipBytes, color: dark, thickness: 3 },
          ],
          valueText: `${formatBytes(m.bytes)}  (gzip ${formatBytes(m.gzipBytes)})`,
          deltaText: s.index === 0 || !o ? undefined : formatChange(o.bytes, m.bytes),
          deltaTone: o ? tone(m.bytes < o.bytes, m.bytes === o.bytes) : 'neutral',
        });
      }),
      legend: [
        { label: 'file size', color: colors.accentLight, shape: 'bar' },
        { label: 'gzip size', color: colors.accent, shape: 'thin' },
        { label: 'original', color: colors.original, shape: 'line' },
      ],
    });

    const maxMs = Math.max(...measured.map((s) => s.metrics!.latency.p95Ms));
    const lt = niceTicks(0, maxMs, 5);
    drawRowChart(flow, {
      title: 'Latency per stage',
      subtitle: `Median (bar) and 95th percentile (whisker) on ${data.environment.runtime}, ${data.environment.backend}, ${data.environment.threads} thread${data.environment.threads === 1 ? '' : 's'}; the change is against the original median.`,
      domain: [0, lt.hi],
      ticks: lt.ticks,
      tickText: (v) => `${Number(v.toPrecision(6))} ms`,
      reference: o?.latency.medianMs,
      rows: data.stages.map((s) => {
        const m = s.metrics;
        if (!m) return row(s, {});
        const [light] = tint(s);
        return row(s, {
          bars: [{ value: m.latency.medianMs, color: light, thickness: 8 }],
          whisker: { from: m.latency.medianMs, to: m.latency.p95Ms },
          valueText: `${formatMs(m.latency.medianMs)}  (p95 ${formatMs(m.latency.p95Ms)})`,
          deltaText: s.index === 0 || !o ? undefined : formatChange(o.latency.medianMs, m.latency.medianMs),
          deltaTone: o ? tone(m.latency.medianMs < o.latency.medianMs, false) : 'neutral',
        });
      }),
      legend: [
        { label: 'median', color: colors.accentLight, shape: 'bar' },
        { label: 'p95', color: colors.ink, shape: 'whisker' },
        { label: 'original median', color: colors.original, shape: 'line' },
      ],
    });

    const labeled = measured.some((s) => s.metrics!.accuracy !== null);
    const quality = (m: StageMetrics) => (labeled ? m.accuracy : m.agreement);
    const values = measured
      .flatMap((s) => [quality(s.metrics!), s.metrics!.agreement])
      .filter((v): v is number => v !== null && Number.isFinite(v));
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const pad = Math.max((hi - lo) * 0.15, 0.002);
    const at = niceTicks(Math.max(0, lo - pad), Math.min(1, hi + pad), 5);
    const accLo = Math.max(0, at.lo);
    const accHi = Math.min(1, at.hi);
    const oq = o ? quality(o) : null;
    drawRowChart(flow, {
      title: labeled ? 'Accuracy per stage' : 'Top-1 agreement per stage',
      subtitle: labeled
        ? 'Top-1 accuracy on the labelled evaluation samples (dot) and top-1 agreement with the original (ring); the axis is zoomed, the change is in percentage points against the original.'
        : "Share of inputs whose top-1 class matches the original model's (there are no labels); the axis is zoomed.",
      domain: [accLo, accHi],
      ticks: at.ticks,
      tickText: (v) => `${Number((v * 100).toPrecision(6))}%`,
      reference: oq ?? undefined,
      rows: data.stages.map((s) => {
        const m = s.metrics;
        if (!m) return row(s, {});
        const q = quality(m);
        const [, dark] = tint(s);
        const dots: RowChartRow['dots'] = [];
        if (labeled) dots.push({ value: m.agreement, color: dark, filled: false });
        if (q !== null && Number.isFinite(q)) dots.push({ value: q, color: dark, filled: true });
        return row(s, {
          dots,
          valueText: labeled
            ? `${formatPercent(m.accuracy)}  (agr. ${formatPercent(m.agreement)})`
            : formatPercent(m.agreement),
          deltaText: s.index === 0 || oq === null ? undefined : formatPointsChange(oq, q),
          deltaTone: oq !== null && q !== null ? tone(q > oq, Math.abs(q - oq) < 5e-5) : 'neutral',
        });
      }),
      legend: labeled
        ? [
            { label: 'accuracy', color: colors.accent, shape: 'dot' },
            { label: 'top-1 agreement', color: colors.accent, shape: 'ring' },
            { label: 'original accuracy', color: colors.original, shape: 'line' },
          ]
        : [
            { label: 'top-1 agreement', color: colors.accent, shape: 'dot' },
            { label: 'original', color: colors.original, shape: 'line' },
          ],
    });

    const pts = measured
      .map((s) => ({ s, q: quality(s.metrics!) }))
      .filter((p): p is { s: ReportStage; q: number } => p.q !== null && Number.isFinite(p.q));
    if (pts.length > 0) {
      const xt = byteTicks(Math.max(...pts.map((p) => p.s.metrics!.bytes)) * 1.05);
      const qs = pts.map((p) => p.q);
      const qpad = Math.max((Math.max(...qs) - Math.min(...qs)) * 0.2, 0.002);
      const yt = niceTicks(Math.max(0, Math.min(...qs) - qpad), Math.min(1, Math.max(...qs) + qpad), 4);
      drawScatter(
        flow,
        {
          title: labeled ? 'Accuracy against model size' : 'Top-1 agreement against model size',
          subtitle:
            'Each point is a stage (numbered as in the tables), joined in pipeline order; up and to the left is better.',
          xLabel: 'model file size',
          yLabel: labeled ? 'accuracy' : 'top-1 agreement',
          x: { lo: 0, hi: xt.hi, ticks: xt.ticks, text: xt.label },
          y: {
            lo: Math.max(0, yt.lo),
            hi: Math.min(1, yt.hi),
            ticks: yt.ticks,
            text: (v) => `${Number((v * 100).toPrecision(6))}%`,
          },
          legend: [
            { label: 'original', color: colors.original, shape: 'dot' },
            { label: 'intermediate stage', color: colors.accent, shape: 'dot' },
            { label: 'final model', color: colors.accentDark, shape: 'dot' },
          ],
        },
        pts.map((p) => ({
          x: p.s.metrics!.bytes,
          y: p.q,
          label: `#${p.s.index}`,
          color:
            p.s.index === 0 ? colors.original : p.s.index === finalIndex ? colors.accentDark : colors.accent,
          emphasis: p.s.index === finalIndex,
        })),
      );
    }
  }

  private sensitivity(): void {
    const { flow } = this;
    const s = this.data.sensitivity!;
    this.section('Sensitivity', 260);
    const xs = s.curves.flatMap((c) => c.points.map((p) => p.x));
    const ys = s.curves.flatMap((c) => c.points.map((p) => p.y));
    const xt = niceTicks(Math.min(...xs), Math.max(...xs), 5);
    const yt = niceTicks(Math.min(...ys), Math.max(...ys), 5);
    const fmt = (f: 'percent' | 'number') => (v: number) =>
      f === 'percent' ? `${Number((v * 100).toPrecision(6))}%` : String(Number(v.toPrecision(6)));
    // The layers whose metric falls furthest are named; the rest stay grey for context.
    const worst = (c: (typeof s.curves)[number]) => Math.min(...c.points.map((p) => p.y));
    const ranked = [...s.curves].sort((a, b) => worst(a) - worst(b));
    const named = new Set(ranked.slice(0, 8));
    drawLines(
      flow,
      {
        title: `${s.metric} against ${s.parameter}, one layer at a time`,
        subtitle: `Each curve compresses one layer alone. The ${Math.min(8, s.curves.length)} most sensitive of ${s.curves.length} layers are in colour.`,
        xLabel: s.parameter,
        yLabel: s.metric,
        x: { lo: xt.lo, hi: xt.hi, ticks: xt.ticks, text: fmt(s.xFormat) },
        y: { lo: yt.lo, hi: yt.hi, ticks: yt.ticks, text: fmt(s.yFormat) },
        height: 220,
      },
      ranked.map((c) => ({
        name: c.layer,
        points: [...c.points].sort((a, b) => a.x - b.x),
        highlight: named.has(c),
      })),
    );
  }

  private layers(): void {
    const { flow } = this;
    const rows = this.data.layers!;
    this.section('Per-layer weights of the final model');
    const byType = new Map<string, number>();
    for (const r of rows) byType.set(r.dtype, (byType.get(r.dtype) ?? 0) + 1);
    flow.paragraph(
      `${formatCount(rows.length)} layers with stored weights: ${[...byType].map(([t, n]) => `${n} stored as ${t}`).join(', ')}. Sparsity counts weights equal to zero (equal to the zero point for quantized weights); weights decoded at run time (a codebook lookup) show the tensors they are stored in, without sparsity.`,
      { size: 8, color: colors.muted },
    );
    drawTable(
      flow,
      [
        { header: 'Layer', weight: 3.6, ellipsis: 'middle' },
        { header: 'Op', weight: 1.3 },
        { header: 'Weight shape', weight: 1.5, role: 'mono' },
        { header: 'Parameters', weight: 1.2, align: 'right' },
        { header: 'Non-zeros', weight: 1.2, align: 'right' },
        { header: 'Sparsity', weight: 1, align: 'right' },
        { header: 'Storage', weight: 1.3, align: 'right', wrap: true, maxLines: 2 },
      ],
      rows.map((r) => [
        r.name,
        r.op,
        r.shape.join('×'),
        formatCount(r.parameters),
        formatCount(r.nonZeros),
        r.nonZeros === null ? missing : formatPercent(r.parameters ? 1 - r.nonZeros / r.parameters : 0),
        r.bits === null ? `${r.dtype} (decoded)` : `${r.dtype} (${r.bits} bit)`,
      ]),
    );
  }

  private graph(): void {
    const { flow, painter, data } = this;
    const g = data.graph;
    if (!g) {
      if (data.graphNote) {
        this.section('Final graph', 40);
        flow.paragraph(data.graphNote, { color: colors.muted });
      }
      return;
    }
    // Heading, caption and legend take about 70 points; start a page when the picture would be much smaller here.
    const chrome = 78;
    const here = planPicture(g, flow.width, flow.remaining() - chrome);
    const fresh = planPicture(g, flow.width, flow.pageHeight - chrome + 10);
    if (here.scale < fresh.scale * 0.85) flow.newPage();
    this.section('Final graph', 60);
    flow.paragraph(
      `${formatCount(g.total)} operators; ${formatCount(g.changed)} added or changed by the pipeline (marked in orange), ${formatCount(g.removed)} of the original's removed.${here.cuts.length || fresh.cuts.length ? ' Long graphs continue from the bottom of one column to the top of the next.' : ''}`,
      { size: 8, color: colors.muted, after: 6 },
    );
    const legendY = flow.y;
    const legend: [string, RGB, RGB, number][] = [
      ['added or changed', colors.changedFill, colors.changed, 1],
      ['unchanged', colors.white, colors.faint, 0.5],
      ['graph input / output', colors.headerFill, colors.original, 0.5],
    ];
    let lx = flow.left;
    for (const [label, fill, stroke, lineWidth] of legend) {
      painter.rect(flow.page, { x: lx, y: legendY, width: 12, height: 8 }, { fill, stroke, lineWidth });
      lx +=
        16 +
        painter.text(flow.page, label, lx + 16, legendY + 0.5, {
          size: sizes.small,
          color: colors.muted,
          maxWidth: 140,
        }) +
        14;
    }
    flow.y += 18;
    const plan = planPicture(g, flow.width, flow.remaining() - 4);
    drawGraphPicture(
      painter,
      flow.page,
      g,
      { x: flow.left, y: flow.y, width: flow.width, height: flow.remaining() - 4 },
      plan,
    );
    flow.y += plan.height + 10;
  }

  private reproducibility(): void {
    const { flow, painter, data } = this;
    this.section('Reproducibility', 200);
    flow.paragraph(
      'The same recipe on the same model (and the same data, for stages that calibrate or train) reproduces the final model. From a checkout of Whittle:',
      { size: 8.5 },
    );
    const cmd = `npm run whittle -- optimize ${data.modelName} --recipe recipe.json -o ${data.exportName ?? 'out.onnx'}${data.environment.evaluation ? ' --data <dataset.json>' : ''}`;
    flow.paragraph(cmd, { role: 'mono', size: 7.5, indent: 8, color: colors.ink, after: 8, hang: true });
    drawTable(
      flow,
      [
        { header: 'Model', weight: 2.2 },
        { header: 'SHA-256', weight: 5, role: 'mono' },
      ],
      [
        [`Input (${data.modelName})`, data.inputSha256],
        [`Final model (stage #${this.finalResult?.index ?? 0})`, data.outputSha256],
        ...(data.exportSha256 ? [[`Exported file ${data.exportName ?? ''}`, data.exportSha256]] : []),
      ],
      { size: 7.5, zebra: false },
    );
    if (data.exportSha256)
      flow.paragraph(
        "The exported file holds the final model plus the recipe and the per-stage metrics in its metadata (metadata_props), so its hash differs from the final model's. A re-run records its final model's hash in its own metadata (the last entry of whittle.stages): that is the hash to compare.",
        { size: sizes.small, color: colors.muted },
      );
    const hashed = data.stages.filter((s) => s.modelHash);
    if (hashed.length > 1) {
      flow.subheading('Model after each stage', 60);
      drawTable(
        flow,
        [
          { header: 'Stage', weight: 2.2 },
          { header: "SHA-256 of the stage's model", weight: 5, role: 'mono' },
        ],
        hashed.map((s) => [stageLabel(s), s.modelHash!]),
        { size: 7 },
      );
    }
    flow.subheading('Recipe (recipe.json)', 60);
    const size = 7.5;
    const lh = size * 1.3;
    const lines = painter.kit.wrap(
      asciiJson(formatRecipe(data.recipe)).trimEnd(),
      'mono',
      size,
      flow.width - 16,
      Infinity,
      true,
    );
    let i = 0;
    while (i < lines.length) {
      flow.ensure(lh + 12);
      const n = Math.min(lines.length - i, Math.floor((flow.remaining() - 12) / lh));
      const boxH = n * lh + 12;
      painter.rect(
        flow.page,
        { x: flow.left, y: flow.y, width: flow.width, height: boxH },
        { fill: colors.zebra, stroke: colors.grid, lineWidth: 0.5 },
      );
      for (let k = 0; k < n; k++)
        painter.text(flow.page, lines[i + k], flow.left + 8, flow.y + 6 + k * lh, {
          role: 'mono',
          size,
          color: colors.ink,
          maxWidth: flow.width - 16,
        });
      flow.y += boxH + 6;
      i += n;
    }
  }

  /** Running header and footer on every page, now that the page count is known. */
  private decorate(): void {
    const { painter, flow, data } = this;
    const n = painter.pages.length;
    for (let p = 0; p < n; p++) {
      if (p > 0) {
        const y = 30;
        painter.text(p, `Whittle report  ·  ${data.modelName}`, flow.left, y, {
          size: sizes.tiny + 0.5,
          color: colors.muted,
          maxWidth: flow.width * 0.6,
          ellipsis: 'middle',
        });
        painter.text(p, flow.sectionOfPage[p] ?? '', flow.right, y, {
          size: sizes.tiny + 0.5,
          color: colors.muted,
          align: 'right',
          maxWidth: flow.width * 0.38,
        });
        painter.line(
          p,
          { x: flow.left, y: y + 11 },
          { x: flow.right, y: y + 11 },
          { color: colors.rule, width: 0.5 },
        );
      }
      const fy = painter.height - 36;
      painter.line(
        p,
        { x: flow.left, y: fy - 5 },
        { x: flow.right, y: fy - 5 },
        { color: colors.rule, width: 0.5 },
      );
      painter.text(p, `Generated by Whittle ${data.version} on ${formatDate(data.date)}`, flow.left, fy, {
        size: sizes.tiny + 0.5,
        color: colors.muted,
        maxWidth: flow.width * 0.7,
      });
      painter.text(p, `Page ${p + 1} of ${n}`, flow.right, fy, {
        size: sizes.tiny + 0.5,
        color: colors.muted,
        align: 'right',
        maxWidth: flow.width * 0.25,
      });
    }
  }
}

/** Render the report and keep the drawing log (tests check that every text stays in its box). */
export async function renderReport(data: ReportData): Promise<RenderedReport> {
  const doc = await PDFDocument.create();
  const when = new Date(data.date);
  const date = Number.isNaN(when.getTime()) ? new Date(0) : when;
  doc.setTitle(`Whittle report: ${data.modelName}`, { showInWindowTitleBar: true });
  doc.setAuthor('Whittle');
  doc.setSubject(`Optimization of ${data.modelName}: ${data.stages.length - 1} stages`);
  doc.setKeywords([
    'onnx',
    'model optimization',
    'whittle',
    ...data.stages.flatMap((s) => (s.stage ? [s.stage] : [])),
  ]);
  doc.setCreator(`Whittle ${data.version}`);
  doc.setProducer(`Whittle ${data.version} (pdf-lib)`);
  doc.setLanguage('en');
  doc.setCreationDate(date);
  doc.setModificationDate(date);
  const r = new ReportRenderer(doc, data);
  r.render();
  const bytes = await doc.save();
  return { bytes, pages: r.painter.pages.length, texts: r.painter.texts };
}

/**
 * The PDF report of a pipeline run (A4): title page with the verdict, pipeline, per-stage metrics,
 * charts, sensitivity and per-layer tables when present, the final graph, and the reproducibility
 * section. Plain data in, bytes out: runs in a Web Worker and in Node.
 */
export async function makeReportPdf(data: ReportData): Promise<Uint8Array> {
  return (await renderReport(data)).bytes;
}

/** The PDF report straight from a finished run (what the worker holds): {@link buildReportData}, then {@link makeReportPdf}. */
export async function makeRunReportPdf(input: ReportRunInput): Promise<Uint8Array> {
  return makeReportPdf(await buildReportData(input));
}
