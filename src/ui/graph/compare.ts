import { transfer } from 'comlink';
import { compareOverlays, overlayKey } from '../../graph/overlay';
import type { GraphSummary } from '../../onnx/summary';
import type { NodeChange } from '../../passes/types';
import { useStudio, type StudioState } from '../../store';
import type { StageComparison } from '../../store/uiSlice';
import { modelService } from '../../worker/client';
import type { OpenFile } from '../../worker/modelService';
import { pipelineService } from '../../worker/pipelineClient';
import type { StageResultSummary } from '../../worker/pipelineService';
import { stageGraphOverlay } from './overlayStyle';

/** A stage the compare selects offer. */
export interface CompareChoice {
  index: number;
  label: string;
}

/** The stages of a run that can be compared: the original and every stage that finished. */
export function compareChoices(results: readonly StageResultSummary[]): CompareChoice[] {
  return results
    .filter((r) => r.status === 'done')
    .sort((a, b) => a.index - b.index)
    .map((r) => ({ index: r.index, label: r.index === 0 ? 'Original' : `${r.index}: ${r.title}` }));
}

/**
 * The change records of the stages that turn stage `from` into stage `to` (none when going back:
 * the records describe forward steps only).
 */
export function changesBetween(
  results: readonly StageResultSummary[],
  from: number,
  to: number,
): NodeChange[] {
  if (from >= to) return [];
  return [...results]
    .filter((r) => r.index > from && r.index <= to)
    .sort((a, b) => a.index - b.index)
    .flatMap((r) => r.changes);
}

/** The node of `to` that stands for node `id` of `from` (same name, else first output), if any. */
export function matchingNode(
  from: StageComparison['graphs']['from'],
  to: StageComparison['graphs']['to'],
  id: string,
): string | null {
  const node = from.nodes[Number(id.slice(1))];
  if (!node || node.id !== id) return null;
  const key = overlayKey(node);
  return to.nodes.find((n) => overlayKey(n) === key)?.id ?? null;
}

let compareSeq = 0;

/** A stage's model for the model worker; the original is the model it already has (null). */
async function stageFile(index: number): Promise<OpenFile | null> {
  if (index === 0) return null;
  const r = await pipelineService().stageModel(index);
  if (!r.ok) throw new Error(r.error);
  return transfer({ name: r.fileName, bytes: r.bytes }, [r.bytes.buffer as ArrayBuffer]);
}

/**
 * Compare two stages of the last run in the graph: the model worker diffs their models, and the
 * view shows the `from` side with removed and changed nodes marked (toggle with {@link showSide}).
 * Returns an error message, or null.
 */
export async function startComparison(from: number, to: number): Promise<string | null> {
  const seq = ++compareSeq;
  const { results, resultsMeta } = useStudio.getState();
  if (!resultsMeta?.live)
    return 'Run the pipeline first: stage models are kept only for a run made in this session.';
  try {
    const [a, b] = [await stageFile(from), await stageFile(to)];
    const r = await modelService().compare(a, b);
    if (seq !== compareSeq) return null;
    if (!r.ok) return r.error;
    const title = (i: number) =>
      i === 0 ? 'original' : `stage ${i} (${results.find((x) => x.index === i)?.title ?? '?'})`;
    const marks = compareOverlays(r.from, r.to, r.diff, changesBetween(results, from, to));
    const comparison: StageComparison = {
      from,
      to,
      side: 'from',
      runId: resultsMeta.runId,
      graphs: { from: r.from, to: r.to },
      overlays: {
        from: stageGraphOverlay(`Before: ${title(from)}`, marks.before),
        to: stageGraphOverlay(`After: ${title(to)}`, marks.after),
      },
      counts: {
        removed: r.diff.removed.length,
        added: r.diff.added.length,
        changed: r.diff.changed.length,
        unchanged: r.diff.unchanged,
      },
    };
    const state = useStudio.getState();
    state.setComparison(comparison);
    void state.selectNode(null);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Show the other side of the comparison, keeping the selected node selected where it still exists. */
export async function showSide(side: StageComparison['side']): Promise<void> {
  const state = useStudio.getState();
  const c = state.comparison;
  if (!c || c.side === side) return;
  await modelService().compareSide(side);
  const now = useStudio.getState();
  if (now.comparison !== c) return;
  const selected = now.selectedNodeId;
  now.setComparison({ ...c, side });
  const other = side === 'from' ? 'to' : 'from';
  const next = selected ? matchingNode(c.graphs[other], c.graphs[side], selected) : null;
  if (selected || next) void now.selectNode(next);
}

/** Leave the comparison: the graph shows what it showed before. */
export async function endComparison(): Promise<void> {
  compareSeq++;
  if (!useStudio.getState().comparison) return;
  await modelService().compareSide(null);
  const state = useStudio.getState();
  state.setComparison(null);
  void state.selectNode(null);
}

/** The graph on screen: a compared side, a stage shown from the results, or the opened model's. */
export function shownGraph(s: Pick<StudioState, 'comparison' | 'stageView' | 'graph'>): GraphSummary | null {
  return s.comparison ? s.comparison.graphs[s.comparison.side] : (s.stageView?.graph ?? s.graph);
}
