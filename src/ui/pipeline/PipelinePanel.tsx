import { useRef } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { formatRecipe, parseRecipe } from '../../pipeline/recipe';
import { useStudio } from '../../store';
import { downloadBlob } from '../../store/download';
import { pipelineProblem, recipeOf } from '../../store/pipelineSteps';
import { formatMs } from '../../report/format';
import { PipelineList } from './PipelineList';
import { StagePalette } from './StagePalette';
import { RedoIcon, UndoIcon } from './icons';

function RecipeActions() {
  const input = useRef<HTMLInputElement>(null);
  const { steps, loadRecipe, showError, undo, redo, canUndo, canRedo } = useStudio(
    useShallow((s) => ({
      steps: s.steps,
      loadRecipe: s.loadRecipe,
      showError: s.showError,
      undo: s.undo,
      redo: s.redo,
      canUndo: s.past.length > 0,
      canRedo: s.future.length > 0,
    })),
  );
  return (
    <div className="panel-actions">
      <button
        type="button"
        className="icon-btn"
        data-testid="undo"
        disabled={!canUndo}
        onClick={undo}
        title="Undo (Ctrl+Z)"
        aria-label="Undo"
      >
        <UndoIcon />
      </button>
      <button
        type="button"
        className="icon-btn"
        data-testid="redo"
        disabled={!canRedo}
        onClick={redo}
        title="Redo (Ctrl+Shift+Z)"
        aria-label="Redo"
      >
        <RedoIcon />
      </button>
      <input
        ref={input}
        type="file"
        accept=".json,application/json"
        className="visually-hidden"
        data-testid="import-recipe"
        tabIndex={-1}
        onChange={async (e) => {
          const file = e.currentTarget.files?.[0];
          e.currentTarget.value = '';
          if (!file) return;
          try {
            loadRecipe(parseRecipe(await file.text()));
          } catch (err) {
            showError(`${file.name}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }}
      />
      <button
        type="button"
        className="btn btn-ghost btn-small"
        onClick={() => input.current?.click()}
        title="Replace the pipeline with a recipe (.json)"
      >
        Import
      </button>
      <button
        type="button"
        className="btn btn-ghost btn-small"
        data-testid="export-recipe"
        disabled={steps.length === 0}
        onClick={() =>
          downloadBlob(new Blob([formatRecipe(recipeOf(steps))], { type: 'application/json' }), 'recipe.json')
        }
        title="Download the pipeline as a recipe (for `npm run whittle -- optimize --recipe`)"
      >
        Export
      </button>
    </div>
  );
}

function RunBar() {
  const s = useStudio(
    useShallow((st) => ({
      state: st.pipelineState,
      hasModel: st.summary !== null && st.status === 'ready',
      steps: st.steps.length,
      problem: pipelineProblem(st.steps),
      runningIndex: st.runningIndex,
      progress: st.runningIndex !== null ? st.progress[st.runningIndex] : undefined,
      results: st.results,
      meta: st.resultsMeta,
      runError: st.runError,
      datasetReady: st.datasetStatus === 'ready',
      evaluation: st.datasetInfo?.splits.evaluation ?? 0,
      hasLabels: st.datasetInfo?.hasLabels ?? false,
      datasetName: st.datasetInfo?.name,
      runPipeline: st.runPipeline,
      cancelPipeline: st.cancelPipeline,
    })),
  );
  const running = s.state === 'running';
  const failed = s.results.find((r) => r.status === 'error');
  const total = s.steps + 1;
  let text: string;
  if (running)
    text =
      s.runningIndex === null || s.runningIndex === 0
        ? 'Measuring the original…'
        : `Stage ${Math.min(s.runningIndex, s.steps)} of ${s.steps}${s.progress?.note ? `: ${s.progress.note}` : '…'}`;
  else if (s.meta?.cancelled) text = 'Cancelled; earlier results kept.';
  else if (s.state === 'error')
    text = failed ? `Stage ${failed.index} failed: ${failed.title}.` : `The run failed: ${s.runError ?? ''}`;
  else if (s.state === 'done' && s.meta)
    text = `${s.results.filter((r) => r.status === 'done').length} of ${total} measured in ${formatMs(s.meta.ms)}${s.meta.live ? '' : ' (restored)'}.`;
  else text = 'Ready to run.';

  return (
    <div className="run-bar">
      <div className="run-bar-row">
        {running ? (
          <button
            type="button"
            className="btn btn-ghost"
            data-testid="cancel-pipeline"
            onClick={s.cancelPipeline}
          >
            Cancel
          </button>
        ) : null}
        <button
          type="button"
          className="btn btn-primary run-button"
          data-testid="run-pipeline"
          disabled={!s.hasModel || running || s.problem !== null}
          title={s.problem ?? undefined}
          onClick={() => void s.runPipeline()}
        >
          {running ? (
            <>
              <span className="spinner spinner-light" aria-hidden="true" /> Running…
            </>
          ) : (
            `Run ${s.steps ? `${s.steps} stage${s.steps > 1 ? 's' : ''}` : 'original only'}`
          )}
        </button>
      </div>
      <p
        className="pipeline-status"
        data-testid="pipeline-status"
        data-state={s.state}
        role="status"
        aria-live="polite"
      >
        <span
          className={`status-dot status-dot-${s.meta?.cancelled && !running ? 'cancelled' : s.state}`}
          aria-hidden="true"
        />
        {text}
      </p>
      {s.problem && !running && (
        <p className="field-error" data-testid="pipeline-invalid">
          Fix before running: {s.problem}
        </p>
      )}
      <p className="hint" data-testid="measure-note">
        {s.datasetReady && s.evaluation > 0
          ? `Measured on ${s.evaluation} evaluation samples of ${s.datasetName}${s.hasLabels ? '' : ' (no labels: accuracy not measured)'}.`
          : 'No dataset: fidelity is measured on generated inputs; accuracy needs labeled data.'}
      </p>
    </div>
  );
}

/** The pipeline editor: stage palette, the stages with their parameters, and the run controls. */
export function PipelinePanel() {
  return (
    <section className="panel pipeline-panel" aria-label="Pipeline">
      <header className="panel-header">
        <h2 className="panel-title">Pipeline</h2>
        <RecipeActions />
      </header>
      <div className="panel-body pipeline-body">
        <StagePalette />
        <PipelineList />
        <RunBar />
      </div>
    </section>
  );
}
