import { useEffect, useRef, useState } from 'react';
import { excludeMostSensitive, type SensitivityResult } from '../../passes/sensitivity';
import type { GraphOverlay } from '../../graph/overlayView';
import type { GraphSummary } from '../../onnx/summary';
import { useStudio } from '../../store';
import { recipeOf } from '../../store/pipelineSteps';
import { startSensitivity, startSensitivityBudget } from '../../worker/pipelineClient';
import { SensitivityChart, sensitivityHeat } from '../charts/SensitivityChart';

export interface SensitivityPanelProps {
  /** Index of the quantization step in the pipeline. */
  index: number;
  /** The step's current exclude list. */
  exclude: readonly string[];
}

type PanelState =
  | { kind: 'idle' }
  | { kind: 'running'; done: number; total: number; note?: string }
  | { kind: 'done'; result: SensitivityResult; analysedModel: string; ms: number }
  | { kind: 'error'; message: string };

/** Evaluation samples per layer: enough to rank the layers, few enough to stay quick. */
const evaluationSamples = 200;

/** The sensitivity heatmap for the graph on screen: node names mapped to its `n<index>` ids. */
export function sensitivityOverlay(result: SensitivityResult, graph: GraphSummary | null): GraphOverlay {
  const heat = sensitivityHeat(result.layers);
  const ids = new Map<string, string>();
  for (const n of graph?.nodes ?? []) {
    if (n.name) ids.set(n.name, n.id);
    if (n.outputs[0] && !ids.has(n.outputs[0])) ids.set(n.outputs[0], n.id);
  }
  const entries: GraphOverlay['entries'] = {};
  for (const [i, l] of result.layers.entries()) {
    const id = ids.get(l.node);
    if (!id) continue;
    entries[id] = {
      kind: 'heat',
      heat: heat[i],
      label: l.loss.toFixed(2),
      title: `${l.node}: ${l.loss.toFixed(2)} ${result.metric} points lost when quantized alone (SQNR ${l.sqnrDb.toFixed(1)} dB)`,
    };
  }
  return { caption: 'Sensitivity', entries };
}

/**
 * "Analyze sensitivity" on a quantization card: quantizes one layer at a time in the pipeline worker,
 * charts the loss of each, paints the graph as a heatmap and fills the exclude list in one click.
 */
export function SensitivityPanel({ index, exclude }: SensitivityPanelProps) {
  const [state, setState] = useState<PanelState>({ kind: 'idle' });
  const [keepCount, setKeepCount] = useState(1);
  const [budget, setBudget] = useState(1);
  const running = useRef<{ cancel(): void } | null>(null);
  const [measuring, setMeasuring] = useState<{ done: number; total: number; note?: string } | null>(null);
  const [budgetNote, setBudgetNote] = useState<string | null>(null);
  const pipelineState = useStudio((s) => s.pipelineState);
  const graph = useStudio((s) => s.stageView?.graph ?? s.graph);
  const setGraphOverlay = useStudio((s) => s.setGraphOverlay);
  const setParam = useStudio((s) => s.setParam);

  useEffect(() => () => running.current?.cancel(), []);
  // Painted once when the analysis finishes ("Show on graph" paints it again): selecting a stage
  // afterwards may replace it with that stage's overlay.
  useEffect(() => {
    if (state.kind === 'done') {
      const { stageView, graph } = useStudio.getState();
      setGraphOverlay(sensitivityOverlay(state.result, stageView?.graph ?? graph));
    }
  }, [state, setGraphOverlay]);

  const analyze = () => {
    const { steps, pipelineBackend, dims } = useStudio.getState();
    setState({ kind: 'running', done: 0, total: 0 });
    const job = startSensitivity(
      {
        recipe: recipeOf(steps),
        stepIndex: index,
        backend: pipelineBackend,
        samples: evaluationSamples,
        dims,
      },
      (e) => setState({ kind: 'running', done: e.done, total: e.total, note: e.note }),
    );
    running.current = job;
    void job.done.then((answer) => {
      if (running.current !== job) return;
      running.current = null;
      setState(
        answer.ok
          ? { kind: 'done', result: answer.result, analysedModel: answer.analysedModel, ms: answer.ms }
          : { kind: 'error', message: answer.error },
      );
    });
  };

  const keepWithinBudget = (result: SensitivityResult) => {
    const { steps, pipelineBackend, dims } = useStudio.getState();
    setMeasuring({ done: 0, total: 0 });
    setBudgetNote(null);
    const job = startSensitivityBudget(
      {
        recipe: recipeOf(steps),
        stepIndex: index,
        backend: pipelineBackend,
        samples: evaluationSamples,
        dims,
        result,
        points: budget,
      },
      (e) => setMeasuring({ done: e.done, total: e.total, note: e.note }),
    );
    running.current = job;
    void job.done.then((answer) => {
      if (running.current !== job) return;
      running.current = null;
      setMeasuring(null);
      if (!answer.ok) {
        setBudgetNote(answer.error);
        return;
      }
      fill(answer.exclude);
      setBudgetNote(
        `${answer.exclude.length} layer${answer.exclude.length === 1 ? '' : 's'} in float: ${answer.loss.toFixed(2)} points lost (measured)`,
      );
    });
  };

  const cancel = () => {
    running.current?.cancel();
  };

  const fill = (names: string[]) => setParam(index, 'exclude', names);
  const fraction = state.kind === 'running' && state.total > 0 ? state.done / state.total : null;

  return (
    <div className="sensitivity-panel" data-testid="sensitivity-panel" data-state={state.kind}>
      <div className="sensitivity-actions">
        <button
          type="button"
          className="btn btn-small"
          data-testid="analyze-sensitivity"
          disabled={state.kind === 'running' || pipelineState === 'running'}
          onClick={analyze}
          title="Quantize one layer at a time and measure what each costs"
        >
          Analyze sensitivity
        </button>
        {state.kind === 'done' && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="sensitivity-show"
            onClick={() => setGraphOverlay(sensitivityOverlay(state.result, graph))}
          >
            Show on graph
          </button>
        )}
        {state.kind === 'done' && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={() => {
              setGraphOverlay(null);
              setState({ kind: 'idle' });
            }}
          >
            Clear
          </button>
        )}
      </div>
      {state.kind === 'running' && (
        <div className="card-progress" data-testid="sensitivity-progress" data-fraction={fraction ?? ''}>
          <div className="progress-track">
            <div
              className={`progress-bar${fraction === null ? ' progress-indeterminate' : ''}`}
              style={fraction === null ? undefined : { width: `${fraction * 100}%` }}
            />
          </div>
          <span className="progress-text">
            {state.note ?? 'calibrating'}
            {fraction !== null && ` · ${Math.round(fraction * 100)}%`}
          </span>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="sensitivity-cancel"
            onClick={cancel}
          >
            Cancel
          </button>
        </div>
      )}
      {state.kind === 'error' && (
        <p className="card-error" data-testid="sensitivity-error">
          {state.message}
        </p>
      )}
      {state.kind === 'done' && (
        <>
          <p className="hint" data-testid="sensitivity-summary">
            {state.result.layers.length} layers of {state.analysedModel}, {state.result.samples} samples
            {state.result.baselineAccuracy !== null &&
              `, float accuracy ${(state.result.baselineAccuracy * 100).toFixed(1)}%`}{' '}
            ({(state.ms / 1000).toFixed(1)} s)
            {state.result.layers.every((l) => l.loss <= 0) &&
              '. No layer alone costs a measurable point here: ranked by SQNR.'}
          </p>
          <SensitivityChart layers={state.result.layers} metric={state.result.metric} excluded={exclude} />
          <div className="sensitivity-fill">
            <label>
              <input
                type="number"
                min={0}
                max={state.result.layers.length}
                step={1}
                value={keepCount}
                data-testid="keep-count"
                style={{ width: '4.5em' }}
                aria-label="Layers to keep in float"
                onChange={(e) => setKeepCount(Math.max(0, Math.floor(Number(e.target.value) || 0)))}
              />
            </label>
            <button
              type="button"
              className="btn btn-small"
              data-testid="keep-most-sensitive"
              onClick={() => fill(excludeMostSensitive(state.result.layers, keepCount))}
            >
              Keep {keepCount} most sensitive in float
            </button>
          </div>
          <div className="sensitivity-fill">
            <label>
              <input
                type="number"
                min={0}
                step={0.1}
                value={budget}
                data-testid="loss-budget"
                style={{ width: '4.5em' }}
                aria-label="Points of loss allowed"
                onChange={(e) => setBudget(Math.max(0, Number(e.target.value) || 0))}
              />
            </label>
            <button
              type="button"
              className="btn btn-small"
              data-testid="keep-within-budget"
              title="Starts from the summed per-layer losses, then measures the whole model until it holds"
              disabled={measuring !== null}
              onClick={() => keepWithinBudget(state.result)}
            >
              Keep as many as needed within {budget} points
            </button>
          </div>
          {measuring && (
            <div className="card-progress" data-testid="budget-progress">
              <span className="progress-text">
                {measuring.note ?? 'measuring'}
                {measuring.total > 0 && ` · ${Math.round((measuring.done / measuring.total) * 100)}%`}
              </span>
              <button type="button" className="btn btn-ghost btn-small" onClick={cancel}>
                Cancel
              </button>
            </div>
          )}
          {budgetNote && (
            <p className="hint" data-testid="budget-note">
              {budgetNote}
            </p>
          )}
        </>
      )}
    </div>
  );
}
