import { lazy, Suspense, useEffect, useMemo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../../store';
import { formatDate, formatMs } from '../../report/format';
import { OperatorTiming } from './OperatorTiming';
import { ResultsTable } from './ResultsTable';
import { TrainingView } from '../training/TrainingView';

// recharts stays out of the first paint; it is fetched and compiled when the page is idle, so the
// first results do not wait for it.
const loadCharts = () => import('../charts/ResultCharts');
const ResultCharts = lazy(loadCharts);

/** Below the graph: the charts, the metrics table and per-operator timing of the run on screen. */
export function ResultsDock() {
  const s = useStudio(
    useShallow((st) => ({
      results: st.results,
      meta: st.resultsMeta,
      history: st.history,
      selected: st.selectedResult,
      opTimes: st.opTimes,
      state: st.pipelineState,
      dockSize: st.dockSize,
      setDockSize: st.setDockSize,
      selectResult: st.selectResult,
      loadOpTimes: st.loadOpTimes,
      clearHistory: st.clearHistory,
      exportReport: st.exportReport,
    })),
  );
  const measured = s.results.filter((r) => r.metrics);
  const focus = s.selected ?? 0;
  const focusResult = s.results.find((r) => r.index === focus && r.metrics);
  const live = s.meta?.live ?? false;
  const { loadOpTimes, state } = s;
  const metrics = measured[0]?.metrics;

  useEffect(() => {
    const idle = globalThis.requestIdleCallback ?? ((f: () => void) => setTimeout(f, 1500));
    idle(() => void loadCharts());
  }, []);

  useEffect(() => {
    if (!live || state === 'running' || !focusResult) return;
    void loadOpTimes(focus);
    if (focus > 0) void loadOpTimes(0);
  }, [live, state, focus, focusResult, loadOpTimes]);

  const collapsed = s.dockSize === 'collapsed';
  // Only runs of this model share the trade-off scatter.
  const modelName = s.meta?.modelName;
  const runsOfModel = useMemo(
    () => s.history.filter((h) => h.modelName === modelName),
    [s.history, modelName],
  );
  return (
    <section
      className={`results-dock dock-${s.dockSize}${measured.length === 0 ? ' dock-empty' : ''}`}
      data-testid="results"
      data-count={measured.length}
      aria-label="Results"
    >
      <header className="dock-header">
        <h2 className="panel-title">Results</h2>
        {s.meta && metrics && (
          <span className="dock-meta" data-testid="results-meta">
            {metrics.inputsSource === 'dataset'
              ? `${metrics.evaluatedSamples} evaluation samples of ${s.meta.datasetName ?? 'the dataset'}`
              : `${metrics.evaluatedSamples} generated inputs (no dataset: no accuracy)`}{' '}
            · {metrics.latency.backend}, {metrics.latency.threads} thread
            {metrics.latency.threads > 1 ? 's' : ''} · {formatMs(s.meta.ms)} · {formatDate(s.meta.at)}
            {!s.meta.live && ' · restored'}
          </span>
        )}
        <div className="dock-actions">
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="export-report"
            disabled={!live || s.state === 'running'}
            onClick={() => void s.exportReport()}
            title="Download a PDF report of this run: stages, metrics, charts, graph and recipe"
          >
            Report (PDF)
          </button>
          {s.history.length > 1 && (
            <button
              type="button"
              className="btn btn-ghost btn-small"
              onClick={s.clearHistory}
              title="Forget earlier runs (the scatter keeps this one)"
            >
              Clear history ({s.history.length})
            </button>
          )}
          <button
            type="button"
            className="icon-btn"
            aria-label={s.dockSize === 'max' ? 'Restore the results size' : 'Enlarge the results'}
            title={s.dockSize === 'max' ? 'Restore' : 'Enlarge'}
            onClick={() => s.setDockSize(s.dockSize === 'max' ? 'normal' : 'max')}
          >
            {s.dockSize === 'max' ? '▾' : '▴'}
          </button>
          <button
            type="button"
            className="icon-btn"
            aria-label={collapsed ? 'Show the results' : 'Hide the results'}
            title={collapsed ? 'Show' : 'Hide'}
            onClick={() => s.setDockSize(collapsed ? 'normal' : 'collapsed')}
          >
            {collapsed ? '+' : '–'}
          </button>
        </div>
      </header>
      {!collapsed && (
        <div className="dock-body">
          {measured.length === 0 ? (
            <p className="empty-note">
              {s.state === 'running'
                ? 'Measuring the original model…'
                : 'Run the pipeline to measure every stage the same way: size, compute, latency, accuracy and fidelity to the original.'}
            </p>
          ) : (
            <>
              <TrainingView />
              <Suspense fallback={<div className="charts-grid charts-loading" />}>
                <ResultCharts
                  results={s.results}
                  history={runsOfModel}
                  currentRunId={s.meta?.runId ?? null}
                  selected={s.selected}
                  onSelect={s.selectResult}
                />
              </Suspense>
              <ResultsTable results={s.results} selected={s.selected} onSelect={s.selectResult} />
              {focusResult && (
                <OperatorTiming
                  index={focus}
                  title={focusResult.title}
                  stage={s.opTimes[focus]}
                  original={s.opTimes[0]}
                  live={live}
                />
              )}
            </>
          )}
        </div>
      )}
    </section>
  );
}
