import type { PipelineStep } from './pipelineSteps';

/** What produced the results on screen. */
export interface ResultsMeta {
  runId: string;
  /** ISO time the run ended. */
  at: string;
  /** Wall time of the run, ms. */
  ms: number;
  inputsSource: 'dataset' | 'generated';
  modelName: string;
  datasetName: string | null;
  backend: string;
  /** The steps as they were run; a card's result counts only while its step is unchanged. */
  steps: PipelineStep[];
  /** The stage models are in the worker's memory (false after a reload: re-run to view or export them). */
  live: boolean;
  /** The run was cancelled part-way. */
  cancelled: boolean;
}

/** One measured stage of a run, as the history keeps it for the trade-off scatter. */
export interface RunPoint {
  index: number;
  stage: string | null;
  title: string;
  bytes: number;
  gzipBytes: number;
  accuracy: number | null;
  agreement: number;
  latencyMs: number;
}

/** A finished run in the history. */
export interface RunRecord {
  id: string;
  at: string;
  modelName: string;
  datasetName: string | null;
  /** Stage ids in order, for the legend. */
  label: string;
  points: RunPoint[];
}
