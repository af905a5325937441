import { memo } from 'react';
import type { StageResultSummary } from '../../worker/pipelineService';
import { slowerStages } from './slowerStages';
import {
  formatAbsError,
  formatBytes,
  formatChange,
  formatCompactCount,
  formatCount,
  formatMs,
  formatPercent,
  formatPointsChange,
  formatSqnr,
  missing,
} from '../../report/format';

export interface ResultsTableProps {
  results: StageResultSummary[];
  selected: number | null;
  onSelect(index: number): void;
}

/** Change vs the original under a value, when there is one. */
function Delta({ text, better }: { text: string; better: 'lower' | 'higher' }) {
  if (text === missing || text === '0.00%' || text === '0.00 pp') return null;
  const lower = text.startsWith('-');
  return (
    <span className={`cell-delta ${lower === (better === 'lower') ? 'is-better' : 'is-worse'}`}>{text}</span>
  );
}

/**
 * Every metric of every stage, one row per stage (index 0 = the original). Measured rows carry the
 * `stage-result` test id with the exact numbers as data attributes (CONTRACT.md).
 */
export const ResultsTable = memo(function ResultsTable({ results, selected, onSelect }: ResultsTableProps) {
  const rows = [...results].sort((a, b) => a.index - b.index);
  const o = rows.find((r) => r.index === 0)?.metrics;
  const slower = slowerStages(rows);
  return (
    <div className="table-scroll">
      {slower.map((w) => (
        <p
          key={w.index}
          className="empty-note"
          role="status"
          data-testid="slower-warning"
          data-index={w.index}
        >
          Stage {w.index} ({w.title}) runs {Math.round((w.ratio - 1) * 100)} % slower than its input on{' '}
          {w.backend}. Its per-operator timing shows where the time goes (QuantizeLinear/DequantizeLinear,
          operators left in float, layout changes).
        </p>
      ))}
      <table className="results-table" data-testid="results-table">
        <thead>
          <tr>
            <th>#</th>
            <th className="col-stage">Stage</th>
            <th title="Size of the .onnx file">Size</th>
            <th title="Size after gzip -9">gzip</th>
            <th title="Elements of every stored weight tensor">Params</th>
            <th title="Weight elements that are not exactly zero">Non-zeros</th>
            <th title="Fraction of weight elements that are exactly zero">Sparsity</th>
            <th title="Multiply-accumulates per inference (batch 1)">MACs</th>
            <th title="Estimated peak memory of live activations during one inference">Peak act.</th>
            <th title="Median latency of one inference in onnxruntime-web">Latency</th>
            <th title="95th-percentile latency">p95</th>
            <th title="Execution provider · threads">Runtime</th>
            <th title="Top-1 accuracy on the labeled evaluation split">Accuracy</th>
            <th title="Top-1 agreement with the original model's predictions">Agreement</th>
            <th title="Signal-to-quantization-noise ratio of the outputs vs the original">SQNR</th>
            <th title="Largest absolute difference of any output element vs the original">Max |err|</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const m = r.metrics;
            if (!m)
              return (
                <tr
                  key={r.index}
                  className={`row-${r.status}`}
                  data-testid="stage-unmeasured"
                  data-index={r.index}
                >
                  <td className="num">{r.index}</td>
                  <td className="col-stage">{r.title}</td>
                  <td colSpan={14} className="row-note">
                    {r.status}
                    {r.error && r.status !== 'skipped'
                      ? `: ${r.error}`
                      : r.notes.length
                        ? `: ${r.notes.join('; ')}`
                        : ''}
                  </td>
                </tr>
              );
            return (
              <tr
                key={r.index}
                className={`row-done${selected === r.index ? ' is-selected' : ''}`}
                data-testid="stage-result"
                data-index={r.index}
                data-stage={r.stage ?? ''}
                data-bytes={m.bytes}
                data-gzip-bytes={m.gzipBytes}
                data-latency-ms={m.latency.medianMs}
                data-accuracy={m.accuracy ?? ''}
                data-agreement={m.agreement}
                aria-selected={selected === r.index}
                onClick={() => onSelect(r.index)}
                tabIndex={0}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' || e.key === ' ') onSelect(r.index);
                }}
              >
                <td className="num">{r.index}</td>
                <td className="col-stage" title={r.notes.join('\n') || undefined}>
                  {r.title}
                  {r.cached && <span className="chip chip-muted">cached</span>}
                </td>
                <td className="num">
                  {formatBytes(m.bytes)}
                  {r.index > 0 && <Delta better="lower" text={formatChange(o?.bytes, m.bytes)} />}
                </td>
                <td className="num">
                  {formatBytes(m.gzipBytes)}
                  {r.index > 0 && <Delta better="lower" text={formatChange(o?.gzipBytes, m.gzipBytes)} />}
                </td>
                <td className="num" title={formatCount(m.parameters)}>
                  {formatCompactCount(m.parameters)}
                </td>
                <td className="num" title={formatCount(m.nonZeros)}>
                  {formatCompactCount(m.nonZeros)}
                </td>
                <td className="num">{formatPercent(m.sparsity)}</td>
                <td className="num" title={formatCount(m.macs)}>
                  {formatCompactCount(m.macs)}
                </td>
                <td className="num">{formatBytes(m.peakActivationBytes)}</td>
                <td className="num">
                  {formatMs(m.latency.medianMs)}
                  {r.index > 0 && (
                    <Delta better="lower" text={formatChange(o?.latency.medianMs, m.latency.medianMs)} />
                  )}
                </td>
                <td className="num">{formatMs(m.latency.p95Ms)}</td>
                <td className="nowrap" title={`${m.latency.runs} runs after ${m.latency.warmup} warm-up`}>
                  {m.latency.backend} · {m.latency.threads}
                </td>
                <td className="num">
                  {formatPercent(m.accuracy)}
                  {r.index > 0 && (
                    <Delta better="higher" text={formatPointsChange(o?.accuracy, m.accuracy)} />
                  )}
                </td>
                <td className="num">{formatPercent(m.agreement)}</td>
                <td className="num">{formatSqnr(m.sqnrDb)}</td>
                <td className="num">{formatAbsError(m.maxAbsError)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
});
