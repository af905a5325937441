import { useEffect, useMemo, useState } from 'react';
import { CartesianGrid, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { formatBytes, formatPercent } from '../../report/format';
import { useStudio } from '../../store';
import { whenModelSynced } from '../../store/modelSync';
import { pruneEstimator, sweepPrune } from '../../worker/pipelineClient';
import type { PruneEstimateAnswer, PruneSweepAnswer } from '../../worker/pipelineService';

/** Wait this long after the slider last moved before asking the worker. */
const debounceMs = 150;

/** The sweep's sparsities: 0–95 % in steps of 5 %. */
const sweepSparsities = Array.from({ length: 20 }, (_, i) => i / 20);

type Estimate = Extract<PruneEstimateAnswer, { ok: true }>;
type SweepState =
  | { kind: 'idle' }
  | { kind: 'running' }
  | { kind: 'done'; answer: Extract<PruneSweepAnswer, { ok: true }> }
  | { kind: 'error'; error: string };

interface SweepRow {
  sparsity: number;
  value: number;
}

/** Accuracy when the samples have labels, else top-1 agreement with the unpruned model. */
function quality(f: { accuracy: number | null; agreement: number }): { label: string; value: number } {
  return f.accuracy !== null
    ? { label: 'accuracy', value: f.accuracy }
    : { label: 'top-1 agreement', value: f.agreement };
}

/**
 * Live view for a prune-magnitude card: while the sparsity slider moves, the estimated gzip size
 * and the fidelity on a few samples (computed in the pipeline worker, superseded requests dropped);
 * and a sweep drawing accuracy (or agreement) against sparsity.
 */
export function PruneInsights({ params }: { params: Record<string, unknown> }) {
  const sha = useStudio((s) => s.modelSha256);
  const backend = useStudio((s) => s.pipelineBackend);
  const estimate = useMemo(() => pruneEstimator(), []);
  const [answer, setAnswer] = useState<Estimate | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [sweep, setSweep] = useState<SweepState>({ kind: 'idle' });
  const key = JSON.stringify(params);

  useEffect(() => {
    if (!sha) return;
    let live = true;
    setBusy(true);
    const timer = setTimeout(() => {
      void (async () => {
        await whenModelSynced();
        const a = await estimate(JSON.parse(key) as Record<string, unknown>, backend);
        if (!live || !a) return;
        setBusy(false);
        if (a.ok) {
          setAnswer(a);
          setError(null);
        } else if (!a.cancelled) setError(a.error);
      })();
    }, debounceMs);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [key, sha, backend, estimate]);

  const runSweep = async () => {
    setSweep({ kind: 'running' });
    await whenModelSynced();
    const a = await sweepPrune({
      params: JSON.parse(key) as Record<string, unknown>,
      sparsities: sweepSparsities,
      backend,
    });
    setSweep(a.ok ? { kind: 'done', answer: a } : { kind: 'error', error: a.error });
  };

  if (!sha) return null;
  const q = answer ? quality(answer.fidelity) : null;
  const rows: SweepRow[] =
    sweep.kind === 'done'
      ? sweep.answer.points.map((p) => ({
          sparsity: p.sparsity * 100,
          value: quality(p.fidelity).value * 100,
        }))
      : [];
  const sweepLabel =
    sweep.kind === 'done' && sweep.answer.points[0] ? quality(sweep.answer.points[0].fidelity).label : '';

  return (
    <div className="prune-insights">
      {answer && q && (
        <p
          className="prune-estimate"
          data-testid="prune-estimate"
          data-gzip-bytes={answer.estimate.gzipBytes}
          data-sparsity={answer.estimate.sparsity}
          data-fidelity={q.value}
          data-busy={busy ? 'true' : 'false'}
          data-ms={Math.round(answer.ms)}
          title={`Estimated in ${Math.round(answer.ms)} ms on ${answer.fidelity.samples} ${answer.source === 'dataset' ? 'evaluation samples' : 'generated inputs'}`}
        >
          <span>
            gzip ≈ {formatBytes(answer.estimate.gzipBytes)}{' '}
            <span className="delta">(was {formatBytes(answer.estimate.originalGzipBytes)})</span>
          </span>{' '}
          <span>sparsity {formatPercent(answer.estimate.sparsity)}</span>{' '}
          <span>
            {q.label} {formatPercent(q.value)}
          </span>
          {busy && <span className="hint"> · updating…</span>}
        </p>
      )}
      {!answer && !error && <p className="hint">Estimating…</p>}
      {error && <p className="card-error">{error}</p>}
      <button
        type="button"
        className="btn btn-ghost btn-small"
        data-testid="prune-sweep"
        disabled={sweep.kind === 'running'}
        onClick={() => void runSweep()}
      >
        {sweep.kind === 'running' ? 'Sweeping…' : 'Sweep'}
      </button>
      {sweep.kind === 'error' && <p className="card-error">{sweep.error}</p>}
      {sweep.kind === 'done' && (
        <div className="sweep-chart" data-testid="sweep-chart" data-points={rows.length}>
          <p className="hint">
            {sweepLabel} vs sparsity ({sweep.answer.points[0]?.fidelity.samples ?? 0}{' '}
            {sweep.answer.source === 'dataset' ? 'evaluation samples' : 'generated inputs'},{' '}
            {(sweep.answer.ms / 1000).toFixed(1)} s)
          </p>
          <LineChart width={260} height={160} data={rows} margin={{ top: 6, right: 8, bottom: 4, left: -18 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="sparsity" type="number" domain={[0, 100]} unit="%" fontSize={10} />
            <YAxis domain={[0, 100]} unit="%" fontSize={10} />
            <Tooltip
              formatter={(v) => `${Number(v).toFixed(1)}%`}
              labelFormatter={(l) => `sparsity ${Number(l).toFixed(0)}%`}
            />
            <Line
              dataKey="value"
              name={sweepLabel}
              stroke="#dc2626"
              isAnimationActive={false}
              dot={(p: { cx?: number; cy?: number; index?: number; payload?: SweepRow }) => (
                <circle
                  key={p.index}
                  cx={p.cx}
                  cy={p.cy}
                  r={2.5}
                  fill="#dc2626"
                  data-testid="sweep-point"
                  data-sparsity={p.payload?.sparsity}
                  data-value={p.payload?.value}
                />
              )}
            />
          </LineChart>
        </div>
      )}
    </div>
  );
}
