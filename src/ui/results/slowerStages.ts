import type { StageResultSummary } from '../../worker/pipelineService';

export interface SlowerStage {
  index: number;
  title: string;
  /** Median latency of the stage over that of the stage before it (> 1 means slower). */
  ratio: number;
  backend: string;
}

/**
 * Stages that were meant to speed the model up (quantization, structured pruning) but run slower
 * than the model they received, by more than `margin`: the user must be told, not left to guess.
 */
export function slowerStages(results: readonly StageResultSummary[], margin = 0.05): SlowerStage[] {
  const rows = [...results].filter((r) => r.metrics).sort((a, b) => a.index - b.index);
  const out: SlowerStage[] = [];
  for (let k = 1; k < rows.length; k++) {
    const r = rows[k];
    if (!r.stage || !/^(quantize-|prune-channels)/.test(r.stage)) continue;
    const before = rows[k - 1].metrics!.latency.medianMs;
    const ratio = r.metrics!.latency.medianMs / before;
    if (ratio > 1 + margin)
      out.push({ index: r.index, title: r.title, ratio, backend: r.metrics!.latency.backend });
  }
  return out;
}
