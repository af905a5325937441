import { memo, useMemo } from 'react';
import { findStage } from '../../passes/registry';
import type { StageResultSummary } from '../../worker/pipelineService';
import type { PipelineStep, StepIssues } from '../../store/pipelineSteps';
import type { StageProgress } from '../../store/pipelineRunSlice';
import { formatBytes, formatChange, formatPercent } from '../../report/format';
import { ParamForm } from './ParamForm';
import { PruneInsights } from './PruneInsights';
import { LayerSparsityChart } from './LayerSparsityChart';
import { SensitivityPanel } from './SensitivityPanel';
import { paramFields } from './paramFields';
import { stepMime } from './dnd';
import { DuplicateIcon, RemoveIcon } from './icons';
import { EditList } from '../edit/EditList';
import { editStageId } from '../../store/pipelineSlice';

/** What the card shows about its stage's run. */
export type CardRun =
  | { kind: 'none' }
  | { kind: 'pending' }
  | { kind: 'running'; progress?: StageProgress }
  | { kind: 'result'; result: StageResultSummary; original?: StageResultSummary }
  /** The step changed after its result was measured. */
  | { kind: 'stale' };

export interface StageCardProps {
  step: PipelineStep;
  index: number;
  issues: StepIssues;
  expanded: boolean;
  run: CardRun;
  selected: boolean;
  onToggleExpand(key: string): void;
  onParam(index: number, name: string, value: unknown): void;
  onRemove(index: number): void;
  onMove(from: number, to: number): void;
  onDuplicate(index: number): void;
  onToggle(index: number): void;
  onReset(index: number): void;
  onCancel(): void;
  onSelectResult(index: number): void;
}

/** Quantization stages that offer a per-layer sensitivity analysis. */
const sensitivityStages = new Set(['quantize-static', 'quantize-dynamic', 'quantize-int4']);

function fraction(p?: StageProgress): number | null {
  if (!p || p.total <= 0) return null;
  return Math.max(0, Math.min(1, p.done / p.total));
}

function ResultLine({ result, original }: { result: StageResultSummary; original?: StageResultSummary }) {
  const m = result.metrics;
  const o = original?.metrics;
  if (!m) return null;
  return (
    <p className="card-result-line">
      <span className="status-chip status-chip-done" data-testid="stage-status">
        done
      </span>
      <span title="File size (change vs the original)">
        {formatBytes(m.bytes)} <span className="delta">{formatChange(o?.bytes, m.bytes)}</span>
      </span>
      <span
        title={m.accuracy !== null ? 'Accuracy on the evaluation split' : 'Top-1 agreement with the original'}
      >
        {m.accuracy !== null ? `acc ${formatPercent(m.accuracy)}` : `agree ${formatPercent(m.agreement)}`}
      </span>
      {result.cached && (
        <span
          className="chip chip-muted"
          title="Same input, stage and parameters as before: taken from the cache"
        >
          cached
        </span>
      )}
    </p>
  );
}

function StageCardView(props: StageCardProps) {
  const { step, index, issues, expanded, run } = props;
  const stage = findStage(step.stage);
  // The edit-graph stage's one parameter, its list of edits, has its own editor (EditList).
  const fields = useMemo(() => (stage && stage.id !== editStageId ? paramFields(stage) : []), [stage]);
  const status =
    run.kind === 'result'
      ? run.result.status
      : run.kind === 'running'
        ? 'running'
        : run.kind === 'pending'
          ? 'pending'
          : run.kind === 'stale'
            ? 'changed'
            : null;
  const f = run.kind === 'running' ? fraction(run.progress) : null;
  const invalid = issues.message !== null;

  return (
    <li
      className={`stage-card${step.enabled ? '' : ' is-disabled'}${invalid ? ' is-invalid' : ''}${props.selected ? ' is-selected' : ''}${status ? ` status-${status}` : ''}`}
      data-testid="stage-card"
      data-stage={step.stage}
      data-index={index}
      data-key={step.key}
      data-status={status ?? 'none'}
      draggable
      tabIndex={0}
      onKeyDown={(e) => {
        // Alt+↑/↓ moves the focused card: reordering without a mouse.
        if (!e.altKey || (e.key !== 'ArrowUp' && e.key !== 'ArrowDown')) return;
        e.preventDefault();
        props.onMove(index, e.key === 'ArrowUp' ? index - 1 : index + 1);
      }}
      onDragStart={(e) => {
        // Dragging from inside a form control (a slider, a text box) is an edit, not a move.
        if ((e.target as HTMLElement).closest('input, select, textarea, button')) {
          e.preventDefault();
          return;
        }
        e.dataTransfer.setData(stepMime, String(index));
        e.dataTransfer.effectAllowed = 'move';
      }}
    >
      <div className="card-head">
        <span className="card-grip" aria-hidden="true" title="Drag to reorder">
          ⋮⋮
        </span>
        <span className="card-number">{index + 1}</span>
        <button
          type="button"
          className="card-title"
          aria-expanded={expanded}
          onClick={() => props.onToggleExpand(step.key)}
          title={`${stage?.description ?? `Unknown stage "${step.stage}"`} (Alt+↑/↓ moves it)`}
        >
          {stage?.title ?? step.stage}
        </button>
        <div className="card-actions">
          <label className="switch" title={step.enabled ? 'Disable this stage' : 'Enable this stage'}>
            <input
              type="checkbox"
              data-testid="stage-enabled"
              checked={step.enabled}
              onChange={() => props.onToggle(index)}
              aria-label={
                step.enabled
                  ? `Disable ${stage?.title ?? step.stage}`
                  : `Enable ${stage?.title ?? step.stage}`
              }
            />
            <span className="switch-track" aria-hidden="true" />
          </label>
          <button
            type="button"
            className="icon-btn"
            data-testid="stage-duplicate"
            aria-label="Duplicate"
            title="Duplicate"
            onClick={() => props.onDuplicate(index)}
          >
            <DuplicateIcon />
          </button>
          <button
            type="button"
            className="icon-btn icon-btn-danger"
            data-testid="stage-remove"
            aria-label="Remove"
            title="Remove"
            onClick={() => props.onRemove(index)}
          >
            <RemoveIcon />
          </button>
        </div>
      </div>

      {status && status !== 'running' && (status !== 'done' || run.kind !== 'result') && (
        <p className="card-status-line">
          <span className={`status-chip status-chip-${status}`} data-testid="stage-status">
            {status}
          </span>
          {run.kind === 'stale' && <span className="hint">changed since the last run</span>}
          {run.kind === 'result' && run.result.status === 'skipped' && (
            <span className="hint">{run.result.notes.join('; ') || run.result.error}</span>
          )}
        </p>
      )}
      {run.kind === 'running' && (
        <div className="card-progress" data-testid="stage-progress" data-fraction={f ?? ''}>
          <div className="progress-track">
            <div
              className={`progress-bar${f === null ? ' progress-indeterminate' : ''}`}
              style={f === null ? undefined : { width: `${f * 100}%` }}
            />
          </div>
          <span className="progress-text">
            {run.progress?.note ?? 'running'}
            {f !== null && ` · ${Math.round(f * 100)}%`}
          </span>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="stage-cancel"
            onClick={props.onCancel}
          >
            Cancel
          </button>
        </div>
      )}
      {run.kind === 'result' && run.result.error && run.result.status === 'error' && (
        <p className="card-error" data-testid="stage-error">
          {run.result.error}
        </p>
      )}
      {run.kind === 'result' && run.result.status === 'done' && (
        <button
          type="button"
          className="card-result"
          onClick={() => props.onSelectResult(index + 1)}
          title="Show this stage's model and results"
        >
          <ResultLine result={run.result} original={run.original} />
        </button>
      )}
      {step.stage === editStageId && <EditList step={step} />}
      {invalid && !expanded && (
        <p className="card-error" data-testid="stage-invalid">
          {issues.message}
        </p>
      )}
      {expanded && (
        <div className="card-body">
          {stage && <p className="card-description">{stage.description}</p>}
          {stage?.needs?.calibration && <p className="hint">Needs calibration samples from the dataset.</p>}
          <ParamForm
            fields={fields}
            params={step.params}
            errors={issues.fields}
            stepKey={step.key}
            onChange={(name, value) => props.onParam(index, name, value)}
          />
          {!stage && <p className="card-error">{issues.message}</p>}
          {sensitivityStages.has(step.stage) && (
            <SensitivityPanel
              index={index}
              exclude={
                Array.isArray(step.params.exclude)
                  ? step.params.exclude.filter((v): v is string => typeof v === 'string')
                  : []
              }
            />
          )}
          {step.stage === 'prune-magnitude' && <PruneInsights params={step.params} />}
          {(step.stage === 'prune-magnitude' || step.stage === 'prune-channels') &&
            run.kind === 'result' &&
            run.result.status === 'done' && <LayerSparsityChart changes={run.result.changes} />}
          {fields.length > 0 && (
            <button type="button" className="btn btn-ghost btn-small" onClick={() => props.onReset(index)}>
              Reset to defaults
            </button>
          )}
        </div>
      )}
    </li>
  );
}

/** One stage of the pipeline: title, switch, duplicate/remove, progress, result, parameter form. */
export const StageCard = memo(StageCardView);
