import { Model } from '../onnx/ir';
import { valueInfo } from '../onnx/builder';
import type { RtTensor, Runtime } from '../runtime/types';
import { measureLatency, type LatencyResult } from '../runtime/latency';
import { sizeMetrics, type SizeMetrics } from './size';
import { computeMetrics } from './compute';
import { addFidelity, argmax, fidelityResult, newFidelity, type Fidelity } from './fidelity';

/** The inputs every stage is measured on: the evaluation split, or generated inputs without data. */
export interface EvaluationSet {
  feeds: Record<string, RtTensor>[];
  /** Class labels per sample, when the data has them. */
  labels?: (number | undefined)[];
  source: 'dataset' | 'generated';
}

/** Every number the studio shows for one stage (CONTRACT.md `stage-result`, plus more). */
export interface StageMetrics extends SizeMetrics, Fidelity {
  macs: number;
  peakActivationBytes: number;
  latency: LatencyResult & { backend: string; threads: number };
  /** Top-1 accuracy on labeled evaluation samples (0–1), null without labels. */
  accuracy: number | null;
  evaluatedSamples: number;
  inputsSource: EvaluationSet['source'];
}

export interface MeasureOptions {
  latencyRuns?: number;
  warmup?: number;
  signal?: AbortSignal;
  progress?: (done: number, total: number, note: string) => void;
}

/** A copy of the model whose inputs declare the shapes actually fed, so symbolic dims resolve. */
function withConcreteInputs(model: Model, feeds: Record<string, RtTensor>): Model {
  const copy = new Model(model.toProto(), model.external);
  copy.graph.inputs = copy.graph.inputs.map((v) => {
    const t = feeds[v.name];
    const elemType = copy.graph.valueElemType(v.name);
    return t && elemType !== undefined ? valueInfo(v.name, elemType, t.dims) : v;
  });
  copy.graph.invalidate();
  return copy;
}

const floatOutputs = (outputs: Record<string, RtTensor>, names: readonly string[]) =>
  names.map((n) => outputs[n]);

/**
 * Measure a model the same way whatever stage produced it: size, compute, latency, accuracy and
 * fidelity to `reference` (the original model's outputs on the same evaluation set). Returns the
 * outputs too, so the original's become the reference.
 */
export async function measureModel(
  model: Model,
  bytes: Uint8Array,
  runtime: Runtime,
  evaluation: EvaluationSet,
  reference: RtTensor[][] | undefined,
  options: MeasureOptions = {},
): Promise<{ metrics: StageMetrics; outputs: RtTensor[][] }> {
  const size = sizeMetrics(model, bytes);
  const compute = computeMetrics(withConcreteInputs(model, evaluation.feeds[0] ?? {}).graph);
  const session = await runtime.createSession(bytes, { externalData: model.external });
  try {
    const outputs: RtTensor[][] = [];
    const fidelity = newFidelity();
    let correct = 0;
    let labeled = 0;
    const total = evaluation.feeds.length;
    for (let i = 0; i < total; i++) {
      options.signal?.throwIfAborted();
      const out = floatOutputs(await session.run(evaluation.feeds[i]), session.outputNames);
      outputs.push(out);
      if (reference) addFidelity(fidelity, reference[i], out);
      const label = evaluation.labels?.[i];
      if (label !== undefined && out[0] && !Array.isArray(out[0].data)) {
        labeled++;
        if (argmax(out[0].data as ArrayLike<number>) === label) correct++;
      }
      if (i % 50 === 0) options.progress?.(i, total, 'evaluating');
    }
    options.progress?.(total, total, 'measuring latency');
    const latency = await measureLatency(session, evaluation.feeds[0], {
      runs: options.latencyRuns ?? 20,
      warmup: options.warmup ?? 3,
      signal: options.signal,
    });
    const f = reference ? fidelityResult(fidelity) : { agreement: 1, sqnrDb: Infinity, maxAbsError: 0 };
    return {
      outputs,
      metrics: {
        ...size,
        macs: compute.macs,
        peakActivationBytes: compute.peakActivationBytes,
        latency: { ...latency, backend: runtime.backend, threads: runtime.threads },
        accuracy: labeled ? correct / labeled : null,
        ...f,
        evaluatedSamples: total,
        inputsSource: evaluation.source,
      },
    };
  } finally {
    await session.release();
  }
}
