import { useEffect, useMemo, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../../store';
import { compareChoices, endComparison, showSide, startComparison } from './compare';

/**
 * Before/after of two stages of the last run: pick them (`compare-from`, `compare-to`), then
 * `compare-toggle` starts the comparison and flips between the two graphs, each with its
 * differences marked. Shown once a run has at least one finished stage.
 */
export function CompareControls() {
  const { results, resultsMeta, pipelineState, comparison, stageView, showError } = useStudio(
    useShallow((s) => ({
      results: s.results,
      resultsMeta: s.resultsMeta,
      pipelineState: s.pipelineState,
      comparison: s.comparison,
      stageView: s.stageView,
      showError: s.showError,
    })),
  );
  const choices = useMemo(() => compareChoices(results), [results]);
  const [picked, setPicked] = useState<{ from: number; to: number | null }>({ from: 0, to: null });
  const [busy, setBusy] = useState(false);
  const has = (i: number | null) => i !== null && choices.some((c) => c.index === i);
  const from = comparison?.from ?? (has(picked.from) ? picked.from : (choices[0]?.index ?? 0));
  const to = comparison?.to ?? (has(picked.to) ? picked.to! : (choices[choices.length - 1]?.index ?? 0));

  // A comparison belongs to its run, and gives way to a stage shown from the results.
  useEffect(() => {
    if (comparison && (!resultsMeta?.live || resultsMeta.runId !== comparison.runId)) void endComparison();
  }, [comparison, resultsMeta]);
  const shownStage = useRef(stageView);
  useEffect(() => {
    if (shownStage.current === stageView) return;
    shownStage.current = stageView;
    if (useStudio.getState().comparison) void endComparison();
  }, [stageView]);

  if (!resultsMeta?.live || pipelineState === 'running' || choices.length < 2) return null;

  const run = async (next: { from: number; to: number }) => {
    setBusy(true);
    const error = await startComparison(next.from, next.to);
    setBusy(false);
    if (error) showError(`Could not compare the stages: ${error}`);
  };
  const pick = (side: 'from' | 'to', index: number) => {
    const next = { from, to, [side]: index };
    setPicked(next);
    if (comparison) void run(next);
  };
  const toggle = () => {
    if (!comparison) void run({ from, to });
    else void showSide(comparison.side === 'from' ? 'to' : 'from');
  };
  const counts = comparison?.counts;
  return (
    <span
      className="wh-compare"
      data-testid="compare"
      data-state={busy ? 'loading' : comparison ? 'on' : 'off'}
    >
      <label>
        <span className="wh-compare__label">Compare</span>
        <select
          data-testid="compare-from"
          aria-label="Compare from stage"
          value={from}
          disabled={busy}
          onChange={(e) => pick('from', Number(e.target.value))}
        >
          {choices.map((c) => (
            <option key={c.index} value={c.index}>
              {c.label}
            </option>
          ))}
        </select>
      </label>
      <span aria-hidden="true">→</span>
      <select
        data-testid="compare-to"
        aria-label="Compare to stage"
        value={to}
        disabled={busy}
        onChange={(e) => pick('to', Number(e.target.value))}
      >
        {choices.map((c) => (
          <option key={c.index} value={c.index}>
            {c.label}
          </option>
        ))}
      </select>
      <button
        type="button"
        data-testid="compare-toggle"
        data-side={comparison?.side}
        aria-pressed={comparison !== null}
        disabled={busy || from === to}
        title={
          from === to
            ? 'Pick two different stages'
            : comparison
              ? 'Show the other graph'
              : 'Show the two graphs in turn, differences marked'
        }
        onClick={toggle}
      >
        {busy
          ? 'Comparing…'
          : !comparison
            ? 'Before/after'
            : comparison.side === 'from'
              ? 'Show after ▸'
              : '◂ Show before'}
      </button>
      {comparison && counts && (
        <>
          <span
            className="wh-compare__counts"
            data-testid="compare-summary"
            data-removed={counts.removed}
            data-added={counts.added}
            data-changed={counts.changed}
            title={`${counts.removed} removed, ${counts.added} added, ${counts.changed} changed, ${counts.unchanged} unchanged`}
          >
            −{counts.removed} +{counts.added} ~{counts.changed}
          </span>
          <button
            type="button"
            data-testid="compare-close"
            aria-label="End the comparison"
            title="End the comparison"
            onClick={() => void endComparison()}
          >
            ✕
          </button>
        </>
      )}
    </span>
  );
}
