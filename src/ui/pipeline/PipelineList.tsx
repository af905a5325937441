import { useMemo, useRef, useState, type DragEvent, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../../store';
import { matchingPrefix, stepIssues } from '../../store/pipelineSteps';
import { formatBytes, formatPercent } from '../../report/format';
import { StageCard, type CardRun } from './StageCard';
import { insertionIndex, isPipelineDrag, stageMime, stepMime } from './dnd';

/**
 * The pipeline: a drop target for palette stages and an ordered list of stage cards that reorder by
 * dragging. Each card shows its result while the run on screen still describes it.
 */
export function PipelineList() {
  const s = useStudio(
    useShallow((st) => ({
      steps: st.steps,
      expandedStep: st.expandedStep,
      runSteps: st.runSteps,
      results: st.results,
      progress: st.progress,
      runningIndex: st.runningIndex,
      pipelineState: st.pipelineState,
      selectedResult: st.selectedResult,
      addStage: st.addStage,
      moveStep: st.moveStep,
      removeStep: st.removeStep,
      duplicateStep: st.duplicateStep,
      toggleStep: st.toggleStep,
      setParam: st.setParam,
      resetParams: st.resetParams,
      toggleExpandedStep: st.toggleExpandedStep,
      cancelPipeline: st.cancelPipeline,
      selectResult: st.selectResult,
    })),
  );
  const list = useRef<HTMLOListElement>(null);
  const [dropAt, setDropAt] = useState<number | null>(null);

  const issues = useMemo(() => s.steps.map((step, i) => stepIssues(step, i)), [s.steps]);
  const prefix = matchingPrefix(s.steps, s.runSteps);
  const running = s.pipelineState === 'running';
  const original = s.results.find((r) => r.index === 0);

  const runOf = (key: string, i: number): CardRun => {
    const result = s.results.find((r) => r.index === i + 1);
    if (i < prefix) {
      if (result && !(running && s.runningIndex === i + 1)) return { kind: 'result', result, original };
      if (running)
        return s.runningIndex === i + 1
          ? { kind: 'running', progress: s.progress[i + 1] }
          : { kind: 'pending' };
      return { kind: 'none' };
    }
    return s.runSteps.some((r) => r.key === key) ? { kind: 'stale' } : { kind: 'none' };
  };

  const cards = () => Array.from(list.current?.querySelectorAll(':scope > .stage-card') ?? []);

  const onDragOver = (e: DragEvent) => {
    if (!isPipelineDrag(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = Array.from(e.dataTransfer.types).includes(stepMime) ? 'move' : 'copy';
    const at = insertionIndex(cards(), e.clientY);
    if (at !== dropAt) setDropAt(at);
  };

  const onDrop = (e: DragEvent) => {
    if (!isPipelineDrag(e)) return;
    e.preventDefault();
    const at = insertionIndex(cards(), e.clientY);
    setDropAt(null);
    const stageId = e.dataTransfer.getData(stageMime);
    const from = e.dataTransfer.getData(stepMime);
    if (stageId) s.addStage(stageId, at);
    else if (from !== '') {
      const i = Number(from);
      s.moveStep(i, i < at ? at - 1 : at);
    }
  };

  return (
    <ol
      ref={list}
      className={`pipeline-list${dropAt !== null ? ' is-drop-target' : ''}`}
      data-testid="pipeline"
      data-count={s.steps.length}
      onDragOver={onDragOver}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDropAt(null);
      }}
      onDrop={onDrop}
      onDragEnd={() => setDropAt(null)}
    >
      <li className={`pipeline-origin${s.selectedResult === 0 ? ' is-selected' : ''}`}>
        <span className="card-number">0</span>
        <span className="origin-title">Original model</span>
        {running && s.runningIndex === 0 ? (
          <span className="origin-progress" data-testid="original-progress">
            <span className="progress-track">
              <span
                className="progress-bar"
                style={{
                  width: `${s.progress[0] && s.progress[0].total > 0 ? (s.progress[0].done / s.progress[0].total) * 100 : 0}%`,
                }}
              />
            </span>
            <span className="progress-text">{s.progress[0]?.note ?? 'measuring'}</span>
          </span>
        ) : original?.metrics ? (
          <button
            type="button"
            className="origin-result"
            onClick={() => void s.selectResult(0)}
            title="Show the original's results"
          >
            {formatBytes(original.metrics.bytes)} ·{' '}
            {original.metrics.accuracy !== null
              ? `acc ${formatPercent(original.metrics.accuracy)}`
              : 'no labels'}
          </button>
        ) : null}
      </li>
      {s.steps.map((step, i) => (
        <StageCardSlot key={step.key} showDrop={dropAt === i}>
          <StageCard
            step={step}
            index={i}
            issues={issues[i]}
            expanded={s.expandedStep === step.key}
            run={runOf(step.key, i)}
            selected={s.selectedResult === i + 1 && i < prefix}
            onToggleExpand={s.toggleExpandedStep}
            onParam={s.setParam}
            onRemove={s.removeStep}
            onMove={s.moveStep}
            onDuplicate={s.duplicateStep}
            onToggle={s.toggleStep}
            onReset={s.resetParams}
            onCancel={s.cancelPipeline}
            onSelectResult={s.selectResult}
          />
        </StageCardSlot>
      ))}
      {dropAt === s.steps.length && <li className="drop-indicator" aria-hidden="true" />}
      {s.steps.length === 0 && (
        <li className="pipeline-empty">Drag stages here from the list above, or press + on a stage.</li>
      )}
    </ol>
  );
}

function StageCardSlot({ showDrop, children }: { showDrop: boolean; children: ReactNode }) {
  return (
    <>
      {showDrop && <li className="drop-indicator" aria-hidden="true" />}
      {children}
    </>
  );
}
