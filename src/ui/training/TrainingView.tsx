import { lazy, Suspense } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { findStage } from '../../passes/registry';
import { useStudio } from '../../store';
import { formatDuration, formatRate } from './format';
import './training.css';

// recharts is loaded with the view, not with the page.
const TrainingCharts = lazy(() => import('./TrainingCharts'));

type ViewState = 'running' | 'paused' | 'stopping' | 'done';

/**
 * Live training of the pipeline run on screen (a training stage runs in the pipeline worker, so the
 * page stays responsive): epoch, samples per second, time left, loss and accuracy curves for the
 * training and validation splits, and pause / resume / stop-and-keep-best. Stays up after the run.
 */
export function TrainingView() {
  const s = useStudio(
    useShallow((st) => ({
      runs: st.trainingRuns,
      focus: st.trainingFocus,
      paused: st.trainingPaused,
      stopping: st.trainingStopping,
      pipelineState: st.pipelineState,
      runningIndex: st.runningIndex,
      runSteps: st.runSteps,
      results: st.results,
      focusTraining: st.focusTraining,
      pause: st.pauseTraining,
      resume: st.resumeTraining,
      stop: st.stopTraining,
    })),
  );
  if (s.runs.length === 0) return null;
  const run = s.runs.find((r) => r.key === s.focus) ?? s.runs[s.runs.length - 1]!;
  const p = run.progress;
  const result = s.results.find((r) => r.index === run.index);
  const active = s.pipelineState === 'running' && s.runningIndex === run.index && !result;
  const state: ViewState = !active ? 'done' : s.stopping ? 'stopping' : s.paused ? 'paused' : 'running';
  const step = s.runSteps[run.index - 1];
  const title = result?.title ?? (step ? (findStage(step.stage)?.title ?? step.stage) : '');
  const last = p.history[p.history.length - 1];
  const seconds = p.history.reduce((t, h) => t + h.seconds, 0);
  const status =
    state === 'paused'
      ? 'paused'
      : state === 'stopping'
        ? 'stopping after this batch, keeping the best epoch…'
        : state === 'running'
          ? `${formatDuration(p.secondsLeft)} left`
          : result?.status === 'done'
            ? `finished: ${p.history.length} epoch${p.history.length === 1 ? '' : 's'} in ${formatDuration(seconds)}`
            : `ended (${result?.status ?? 'not finished'})`;

  return (
    <section className="training-view" data-testid="training-view" data-state={state} aria-label="Training">
      <header className="training-header">
        <h3 className="training-title">
          Training · stage {run.index} {title}
          {run.phase !== (step?.stage ?? '') && <span className="chip chip-muted">{run.phase}</span>}
        </h3>
        <dl className="training-stats">
          <div>
            <dt>Epoch</dt>
            <dd data-testid="training-epoch">
              {p.epoch}/{p.epochs}
            </dd>
          </div>
          <div>
            <dt>Batch</dt>
            <dd data-testid="training-batch">
              {p.batch}/{p.batches}
            </dd>
          </div>
          <div>
            <dt>Speed</dt>
            <dd data-testid="training-rate" data-value={p.samplesPerSecond}>
              {formatRate(p.samplesPerSecond)}
            </dd>
          </div>
          <div>
            <dt>Loss</dt>
            <dd>{Number.isFinite(p.loss) ? p.loss.toFixed(4) : '—'}</dd>
          </div>
          {last?.validationAccuracy !== undefined && (
            <div>
              <dt>Validation</dt>
              <dd data-testid="training-validation">{(last.validationAccuracy * 100).toFixed(1)} %</dd>
            </div>
          )}
        </dl>
        <span className="training-status" data-testid="training-status" role="status">
          {status}
        </span>
        {active && (
          <div className="training-actions">
            {s.paused ? (
              <button
                type="button"
                className="btn btn-ghost btn-small"
                data-testid="training-resume"
                disabled={s.stopping}
                onClick={() => void s.resume()}
              >
                Resume
              </button>
            ) : (
              <button
                type="button"
                className="btn btn-ghost btn-small"
                data-testid="training-pause"
                disabled={s.stopping}
                onClick={() => void s.pause()}
                title="Pause after the current batch"
              >
                Pause
              </button>
            )}
            <button
              type="button"
              className="btn btn-ghost btn-small"
              data-testid="training-stop"
              disabled={s.stopping}
              onClick={() => void s.stop()}
              title="Stop now and keep the weights of the best epoch on the validation split; the pipeline goes on"
            >
              Stop &amp; keep best
            </button>
          </div>
        )}
      </header>
      {s.runs.length > 1 && (
        <div className="training-runs" role="tablist" aria-label="Training runs">
          {s.runs.map((r) => (
            <button
              key={r.key}
              type="button"
              role="tab"
              aria-selected={r.key === run.key}
              className={`chip${r.key === run.key ? '' : ' chip-muted'}`}
              onClick={() => s.focusTraining(r.key)}
            >
              {r.index} · {r.phase}
            </button>
          ))}
        </div>
      )}
      <Suspense fallback={<div className="training-charts charts-loading" />}>
        <TrainingCharts history={p.history} batchLoss={run.batchLoss} epochs={p.epochs} />
      </Suspense>
    </section>
  );
}
