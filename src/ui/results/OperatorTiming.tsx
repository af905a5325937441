import { memo, type ReactNode } from 'react';
import type { OpTime } from '../../metrics/measure';
import type { OpTimesState } from '../../store/pipelineRunSlice';
import { formatMs, formatPercent } from '../../report/format';

export interface OperatorTimingProps {
  index: number;
  title: string;
  stage: OpTimesState | undefined;
  original: OpTimesState | undefined;
  /** The stage models are in memory (not after a reload). */
  live: boolean;
}

function rowsOf(stage: OpTime[], original: OpTime[] | undefined) {
  const ops = new Set([...stage.map((o) => o.op), ...(original ?? []).map((o) => o.op)]);
  return [...ops]
    .map((op) => ({ op, now: stage.find((o) => o.op === op), before: original?.find((o) => o.op === op) }))
    .sort((a, b) => (b.now?.ms ?? 0) - (a.now?.ms ?? 0) || (b.before?.ms ?? 0) - (a.before?.ms ?? 0));
}

const total = (times: OpTime[]) => times.reduce((a, o) => a + o.ms, 0);

/**
 * Kernel time per operator type from onnxruntime's profiler, for the selected stage beside the
 * original: which kernels a stage changed (fused, quantized, removed) and what that bought.
 */
export const OperatorTiming = memo(function OperatorTiming({
  index,
  title,
  stage,
  original,
  live,
}: OperatorTimingProps) {
  const compare = index > 0;
  let body: ReactNode;
  if (!live)
    body = (
      <p className="hint">
        Run the pipeline again to profile its stages (models are not kept across reloads).
      </p>
    );
  else if (stage === undefined || stage === 'loading' || (compare && original === 'loading'))
    body = (
      <p className="hint">
        <span className="spinner" aria-hidden="true" /> Profiling in onnxruntime-web…
      </p>
    );
  else if (!Array.isArray(stage)) body = <p className="field-error">{stage.error}</p>;
  else {
    const before = compare && Array.isArray(original) ? original : undefined;
    const rows = rowsOf(stage, before);
    const max = Math.max(...rows.map((r) => Math.max(r.now?.ms ?? 0, r.before?.ms ?? 0)), 1e-9);
    body = (
      <table className="op-table" data-testid="op-timing-table">
        <thead>
          <tr>
            <th>Kernel</th>
            <th className="num">Calls</th>
            {before && <th className="num">Original</th>}
            <th className="num">{before ? 'This stage' : 'Time / run'}</th>
            <th className="num">Share</th>
            <th className="col-bar" />
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.op} data-testid="op-time" data-op={r.op} data-ms={r.now?.ms ?? 0}>
              <td className="mono" title={(r.now ?? r.before)?.providers.join(', ')}>
                {r.op}
              </td>
              <td className="num">{r.now?.calls ?? 0}</td>
              {before && <td className="num muted">{r.before ? formatMs(r.before.ms) : '—'}</td>}
              <td className="num">{r.now ? formatMs(r.now.ms) : '—'}</td>
              <td className="num">{r.now ? formatPercent(r.now.share) : '—'}</td>
              <td className="col-bar">
                {before && (
                  <span
                    className="op-time-bar op-time-bar-before"
                    style={{ width: `${((r.before?.ms ?? 0) / max) * 100}%` }}
                  />
                )}
                <span className="op-time-bar" style={{ width: `${((r.now?.ms ?? 0) / max) * 100}%` }} />
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <td>Total kernel time</td>
            <td />
            {before && <td className="num muted">{formatMs(total(before))}</td>}
            <td className="num">{formatMs(total(stage))}</td>
            <td />
            <td />
          </tr>
        </tfoot>
      </table>
    );
  }
  return (
    <section className="op-timing" data-testid="op-timing" data-index={index}>
      <h3 className="section-title">
        Operators{' '}
        <span className="section-count">
          stage {index} · {title}, kernel time per inference (onnxruntime profiler)
        </span>
      </h3>
      {body}
    </section>
  );
});
