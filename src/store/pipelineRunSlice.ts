import { transfer } from 'comlink';
import type { OpTime } from '../metrics/measure';
import type { GraphSummary } from '../onnx/summary';
import { modelService } from '../worker/client';
import { pipelineService, startPipelineRun, type RunningPipeline } from '../worker/pipelineClient';
import type { StageResultSummary } from '../worker/pipelineService';
import { downloadBlob } from './download';
import { whenModelSynced } from './modelSync';
import { recipeOf, stepIssues, type PipelineStep } from './pipelineSteps';
import type { ResultsMeta, RunRecord } from './runTypes';
import type { SliceCreator } from './types';

export type PipelineState = 'idle' | 'running' | 'done' | 'error';

/** Progress of one stage (index 0 = measuring the original). */
export interface StageProgress {
  done: number;
  total: number;
  note?: string;
}

/** Per-operator timing of a stage: loading, the numbers, or why there are none. */
export type OpTimesState = 'loading' | OpTime[] | { error: string };

/** A stage model shown in the graph view instead of the opened model. */
export interface StageView {
  index: number;
  title: string;
  graph: GraphSummary;
}

/** Runs kept in the history. */
const historyLimit = 30;

/** Pipeline runs: state, progress, results of the last run, the run history and the selected stage. */
export interface PipelineRunSlice {
  pipelineState: PipelineState;
  /** Why the run failed as a whole (a stage's own error is on its result), or null. */
  runError: string | null;
  /** Index of the stage in progress. */
  runningIndex: number | null;
  progress: Record<number, StageProgress>;
  results: StageResultSummary[];
  /** The steps of the run on screen (running or finished); cards match results through them. */
  runSteps: PipelineStep[];
  resultsMeta: ResultsMeta | null;
  history: RunRecord[];
  selectedResult: number | null;
  stageView: StageView | null;
  opTimes: Record<number, OpTimesState>;
  /** SHA-256 of the model the pipeline worker holds. */
  modelSha256: string | null;
  /** Backend the pipeline measures latency on. */
  pipelineBackend: string;
  runPipeline(): Promise<void>;
  cancelPipeline(): void;
  selectResult(index: number | null): Promise<void>;
  loadOpTimes(index: number): Promise<void>;
  clearHistory(): void;
  /** Forget the results (another model was opened). */
  clearResults(): void;
  setModelSha256(sha256: string | null): void;
  /** Restore saved results and history (after a reload: metrics only, no stage models). */
  restoreResults(
    results: StageResultSummary[],
    meta: ResultsMeta | null,
    history: RunRecord[],
    selected: number | null,
  ): void;
  /** Download the selected stage's model (the original when none is selected). */
  exportSelectedModel(): Promise<void>;
  /** Download the PDF report of the last run. */
  exportReport(): Promise<void>;
}

let running: RunningPipeline | null = null;

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function record(meta: ResultsMeta, results: StageResultSummary[]): RunRecord {
  return {
    id: meta.runId,
    at: meta.at,
    modelName: meta.modelName,
    datasetName: meta.datasetName,
    label:
      meta.steps
        .filter((s) => s.enabled)
        .map((s) => s.stage)
        .join(' → ') || 'original only',
    points: results
      .filter((r) => r.status === 'done' && r.metrics)
      .map((r) => ({
        index: r.index,
        stage: r.stage,
        title: r.title,
        bytes: r.metrics!.bytes,
        gzipBytes: r.metrics!.gzipBytes,
        accuracy: r.metrics!.accuracy,
        agreement: r.metrics!.agreement,
        latencyMs: r.metrics!.latency.medianMs,
      })),
  };
}

export const createPipelineRunSlice: SliceCreator<PipelineRunSlice> = (set, get) => ({
  pipelineState: 'idle',
  runError: null,
  runningIndex: null,
  progress: {},
  results: [],
  runSteps: [],
  resultsMeta: null,
  history: [],
  selectedResult: null,
  stageView: null,
  opTimes: {},
  modelSha256: null,
  pipelineBackend: 'wasm',

  runPipeline: async () => {
    if (running) return;
    const { steps, fileName, datasetInfo, datasetStatus, backend, dims } = get();
    const invalid = steps.map((s, i) => stepIssues(s, i).message).find((m) => m !== null);
    if (invalid) {
      set({ error: `The pipeline cannot run: ${invalid}` });
      return;
    }
    const runSteps = structuredClone(steps);
    set({
      pipelineState: 'running',
      runError: null,
      runningIndex: 0,
      progress: {},
      results: [],
      runSteps,
      resultsMeta: null,
      opTimes: {},
      selectedResult: null,
      stageView: null,
      pipelineBackend: backend,
    });
    void modelService().view(null);
    await whenModelSynced();
    const run = startPipelineRun(
      { recipe: recipeOf(runSteps), backend, dims, latencyRuns: 20, maxEvalSamples: 1000 },
      (event) => {
        if (running?.runId !== event.runId) return;
        if (event.type === 'training') get().applyTrainingEvent(event);
        else if (event.type === 'progress')
          set({
            runningIndex: event.index,
            progress: {
              ...get().progress,
              [event.index]: {
                done: event.done,
                total: event.total,
                ...(event.note ? { note: event.note } : {}),
              },
            },
          });
        else
          set({
            results: [...get().results.filter((r) => r.index !== event.result.index), event.result],
            runningIndex: event.result.index + 1,
          });
      },
    );
    running = run;
    get().beginTraining(run.runId);
    try {
      const result = await run.done;
      if (!result.ok) {
        set({ pipelineState: 'error', runError: result.error, error: result.error });
        return;
      }
      const meta: ResultsMeta = {
        runId: result.runId,
        at: new Date().toISOString(),
        ms: result.ms,
        inputsSource: result.inputsSource,
        modelName: fileName ?? 'model.onnx',
        datasetName: datasetStatus === 'ready' ? (datasetInfo?.name ?? null) : null,
        backend,
        steps: runSteps,
        live: true,
        cancelled: result.cancelled,
      };
      const failed = result.results.some((r) => r.status === 'error');
      set({
        results: result.results,
        resultsMeta: meta,
        pipelineState: result.cancelled ? 'idle' : failed ? 'error' : 'done',
        history: result.cancelled
          ? get().history
          : [...get().history, record(meta, result.results)].slice(-historyLimit),
      });
    } catch (e) {
      set({ pipelineState: 'error', runError: errorMessage(e), error: errorMessage(e) });
    } finally {
      running = null;
      set({ runningIndex: null });
      get().endTraining();
    }
  },

  cancelPipeline: () => {
    running?.cancel();
  },

  selectResult: async (index) => {
    set({ selectedResult: index });
    const meta = get().resultsMeta;
    if (index === null || index === 0 || !meta?.live) {
      if (get().stageView) {
        await modelService().view(null);
        if (get().selectedResult !== index) return;
        set({ stageView: null });
        void get().selectNode(null);
      }
      if (index !== null && meta?.live) void get().loadOpTimes(index);
      return;
    }
    const stage = await pipelineService().stageModel(index);
    if (get().selectedResult !== index) return;
    if (!stage.ok) {
      set({ error: stage.error });
      return;
    }
    const shown = await modelService().view(
      transfer({ name: stage.fileName, bytes: stage.bytes }, [stage.bytes.buffer as ArrayBuffer]),
    );
    if (get().selectedResult !== index) return;
    if (!shown.ok) {
      set({ error: shown.error });
      return;
    }
    set({ stageView: { index, title: stage.fileName, graph: shown.graph } });
    void get().selectNode(null);
    void get().loadOpTimes(index);
  },

  loadOpTimes: async (index) => {
    const current = get().opTimes[index];
    if (current === 'loading' || Array.isArray(current)) return;
    if (!get().resultsMeta?.live || get().pipelineState === 'running') return;
    set({ opTimes: { ...get().opTimes, [index]: 'loading' } });
    const r = await pipelineService().profileStage(index, { runs: 20, dims: get().dims });
    set({ opTimes: { ...get().opTimes, [index]: r.ok ? r.opTimes : { error: r.error } } });
  },

  clearHistory: () => set({ history: [] }),

  clearResults: () =>
    set({
      results: [],
      runSteps: [],
      resultsMeta: null,
      selectedResult: null,
      stageView: null,
      opTimes: {},
      progress: {},
      pipelineState: get().pipelineState === 'running' ? 'running' : 'idle',
    }),

  setModelSha256: (sha256) => set({ modelSha256: sha256 }),

  restoreResults: (results, meta, history, selected) =>
    set({
      results,
      runSteps: meta?.steps ?? [],
      resultsMeta: meta ? { ...meta, live: false } : null,
      history,
      selectedResult: selected,
      pipelineState: results.length ? (results.some((r) => r.status === 'error') ? 'error' : 'done') : 'idle',
    }),

  exportSelectedModel: async () => {
    const index = get().selectedResult;
    if (index === null || index === 0) {
      await get().exportModel();
      return;
    }
    if (!get().resultsMeta?.live) {
      set({
        error: `Run the pipeline again to export stage ${index}: stage models are not kept across reloads.`,
      });
      return;
    }
    const r = await pipelineService().exportStage(index);
    if (!r.ok) {
      set({ error: r.error });
      return;
    }
    downloadBlob(new Blob([r.bytes as Uint8Array<ArrayBuffer>]), r.fileName);
  },

  exportReport: async () => {
    if (!get().resultsMeta?.live) {
      set({ error: 'Run the pipeline first: the report describes a run made in this session.' });
      return;
    }
    const r = await pipelineService().exportReport(navigator.userAgent);
    if (!r.ok) {
      set({ error: r.error });
      return;
    }
    downloadBlob(new Blob([r.bytes as Uint8Array<ArrayBuffer>], { type: 'application/pdf' }), r.fileName);
  },
});
