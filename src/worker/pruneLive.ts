import type { Dataset } from '../data/dataset';
import type { Model } from '../onnx/ir';
import {
  estimatePrune,
  pruneMagnitudeModel,
  sparsitySweep,
  type PruneEstimate,
  type PruneMagnitudeParams,
  type SweepPoint,
} from '../passes/pruneMagnitude';
import { compareProbe, probeSet, runProbe, type ProbeResult, type ProbeSet } from '../passes/probe';
import type { RtTensor, Runtime } from '../runtime/types';

/** Samples the live estimate measures fidelity on (the dataset's evaluation split, else generated). */
export const liveSamples = 64;

/** A live estimate for the prune-magnitude slider. Replies carry the request id so stale ones are dropped. */
export interface PruneEstimateRequest {
  requestId: number;
  params: Partial<PruneMagnitudeParams>;
  backend: string;
  /** Samples to measure fidelity on (default {@link liveSamples}). */
  samples?: number;
}

export type PruneEstimateAnswer =
  | {
      ok: true;
      requestId: number;
      estimate: Omit<PruneEstimate, 'layers'>;
      /** Fidelity of the pruned model to the unpruned one (and accuracy when the samples have labels). */
      fidelity: ProbeResult;
      source: ProbeSet['source'];
      /** Time from request to answer. */
      ms: number;
    }
  | { ok: false; requestId: number; error: string; cancelled: boolean };

export interface PruneSweepRequest {
  params: Partial<PruneMagnitudeParams>;
  sparsities: number[];
  backend: string;
  samples?: number;
}

export type PruneSweepAnswer =
  | { ok: true; points: Omit<SweepPoint, 'model'>[]; source: ProbeSet['source']; ms: number }
  | { ok: false; error: string };

interface Prepared {
  key: string;
  set: ProbeSet;
  reference: RtTensor[][];
}

/**
 * The worker side of the live pruning slider: a cheap size estimate plus the fidelity of the pruned
 * model on a few samples. A new request aborts the one in progress (the slider has moved on).
 */
export class PruneLive {
  private current: AbortController | undefined;
  private prepared: Prepared | undefined;

  private async prepare(
    key: string,
    model: Model,
    runtime: Runtime,
    data: Dataset | undefined,
    samples: number,
  ) {
    const k = `${key}:${samples}`;
    if (this.prepared?.key === k) return this.prepared;
    const set = probeSet(model, samples, data);
    const reference = await runProbe(runtime, model, set);
    return (this.prepared = { key: k, set, reference });
  }

  /** Estimate size and fidelity of `model` pruned with `request.params`; `key` names model + dataset. */
  async estimate(
    key: string,
    model: Model,
    runtime: Runtime,
    data: Dataset | undefined,
    request: PruneEstimateRequest,
  ): Promise<PruneEstimateAnswer> {
    this.current?.abort();
    const controller = new AbortController();
    this.current = controller;
    const started = performance.now();
    const { requestId } = request;
    try {
      const prepared = await this.prepare(key, model, runtime, data, request.samples ?? liveSamples);
      controller.signal.throwIfAborted();
      const { layers: _layers, ...estimate } = estimatePrune(model, request.params);
      const pruned = await pruneMagnitudeModel(model, { ...request.params, steps: 1 });
      controller.signal.throwIfAborted();
      const outputs = await runProbe(runtime, pruned.model, prepared.set, controller.signal);
      return {
        ok: true,
        requestId,
        estimate,
        fidelity: compareProbe(prepared.reference, outputs, prepared.set.labels),
        source: prepared.set.source,
        ms: performance.now() - started,
      };
    } catch (e) {
      const cancelled = controller.signal.aborted;
      return {
        ok: false,
        requestId,
        cancelled,
        error: cancelled ? 'Superseded by a newer estimate.' : e instanceof Error ? e.message : String(e),
      };
    } finally {
      if (this.current === controller) this.current = undefined;
    }
  }

  /** Accuracy (or agreement) against sparsity: prune at each sparsity and measure. */
  async sweep(
    model: Model,
    runtime: Runtime,
    data: Dataset | undefined,
    request: PruneSweepRequest,
  ): Promise<PruneSweepAnswer> {
    const started = performance.now();
    try {
      const samples = request.samples ?? liveSamples;
      const points = await sparsitySweep(
        model,
        request.sparsities,
        { runtime, data },
        { params: request.params, samples },
      );
      return {
        ok: true,
        points: points.map(({ model: _model, ...p }) => p),
        source: data && data.count > 0 ? 'dataset' : 'generated',
        ms: performance.now() - started,
      };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }
}
