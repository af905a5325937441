import { proxy, wrap, type Remote } from 'comlink';
import type {
  PipelineEvent,
  PipelineRunRequest,
  PipelineRunResult,
  PipelineService,
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
