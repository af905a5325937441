import { proxy, wrap, type Remote } from 'comlink';
import type {
  PipelineEvent,
  PipelineRunRequest,
  PipelineRunResult,
  PipelineService,
  PruneEstimateAnswer,
  PruneEstimateRequest,
  PruneSweepAnswer,
  PruneSweepRequest,
  SensitivityAnswer,
  SensitivityBudgetAnswer,
  SensitivityBudgetRequest,
  SensitivityEvent,
  SensitivityRequest,
} from './pipelineService';

let service: Remote<PipelineService> | undefined;

/** The page's handle on the pipeline worker, started on first use. */
export function pipelineService(): Remote<PipelineService> {
  if (!service) {
    const worker = new Worker(new URL('./pipeline.worker.ts', import.meta.url), {
      type: 'module',
      name: 'whittle-pipeline',
    });
    service = wrap<PipelineService>(worker);
  }
  return service;
}

let runSeq = 0;

/** A pipeline run in progress: its id, its result, and a way to cancel it. */
export interface RunningPipeline {
  runId: string;
  done: Promise<PipelineRunResult>;
  cancel(): void;
}

/**
 * Start a pipeline run in the worker. Events arrive through `onEvent`; `cancel()` sets the shared
 * cancel flag (seen even while the worker is busy) and asks the worker to abort.
 */
export function startPipelineRun(
  request: Omit<PipelineRunRequest, 'runId' | 'cancelFlag'>,
  onEvent: (event: PipelineEvent) => void,
): RunningPipeline {
  const runId = `run-${Date.now().toString(36)}-${++runSeq}`;
  const cancelFlag = globalThis.crossOriginIsolated
    ? new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT))
    : undefined;
  const remote = pipelineService();
  const done = remote.run({ ...request, runId, ...(cancelFlag ? { cancelFlag } : {}) }, proxy(onEvent));
  return {
    runId,
    done,
    cancel: () => {
      if (cancelFlag) Atomics.store(cancelFlag, 0, 1);
      void remote.cancel(runId);
    },
  };
}

/** A sensitivity analysis in progress. */
export interface RunningSensitivity {
  done: Promise<SensitivityAnswer>;
  cancel(): void;
}

/** Start a sensitivity analysis in the pipeline worker; progress arrives through `onEvent`. */
export function startSensitivity(
  request: Omit<SensitivityRequest, 'runId'>,
  onEvent: (event: SensitivityEvent) => void,
): RunningSensitivity {
  const runId = `sens-${Date.now().toString(36)}-${++runSeq}`;
  const remote = pipelineService();
  return {
    done: remote.sensitivity({ ...request, runId }, proxy(onEvent)),
    cancel: () => void remote.cancel(runId),
  };
}

/**
 * Live prune estimates for one slider: every call gets a new request id, the worker cancels the
 * estimate in progress, and the answer to anything but the latest request resolves to null.
 */
export function pruneEstimator(): (
  params: PruneEstimateRequest['params'],
  backend: string,
) => Promise<PruneEstimateAnswer | null> {
  let latest = 0;
  return async (params, backend) => {
    const requestId = ++latest;
    const answer = await pipelineService().estimatePrune({ requestId, params, backend });
    return answer.requestId === latest ? answer : null;
  };
}

/** Accuracy (or agreement) against sparsity for magnitude pruning of the opened model. */
export function sweepPrune(request: PruneSweepRequest): Promise<PruneSweepAnswer> {
  return pipelineService().sweepPrune(request);
}

/** Measure the exclude list that keeps a quantization step within a loss budget, in the pipeline worker. */
export function startSensitivityBudget(
  request: Omit<SensitivityBudgetRequest, 'runId'>,
  onEvent: (event: SensitivityEvent) => void,
): { done: Promise<SensitivityBudgetAnswer>; cancel(): void } {
  const runId = `budget-${Date.now().toString(36)}-${++runSeq}`;
  const remote = pipelineService();
  return {
    done: remote.sensitivityBudget({ ...request, runId }, proxy(onEvent)),
    cancel: () => void remote.cancel(runId),
  };
}

/** What the training view asks of the training in progress. */
export type TrainingAction = 'pause' | 'resume' | 'stop';

/**
 * Pause, resume, or stop-and-keep-best the training stage of a run in the pipeline worker. The
 * trainer yields between batches, so the call is answered within one batch; false when the run is over.
 */
export function controlTraining(runId: string, action: TrainingAction): Promise<boolean> {
  const remote = pipelineService();
  if (action === 'pause') return remote.pauseTraining(runId);
  if (action === 'resume') return remote.resumeTraining(runId);
  return remote.stopTraining(runId);
}
