import type { Model } from '../onnx/ir';
import type { Dataset } from '../data/dataset';
import type { RtTensor, Runtime } from '../runtime/types';
import { generateInputs, type DimDefaults } from '../runtime/inputs';
import { summarizeModel } from '../onnx/summary';
import { addFidelity, argmax, fidelityResult, newFidelity, type Fidelity } from '../metrics/fidelity';

/** A few inputs to compare a model with another on: dataset samples when there are any, else generated ones. */
export interface ProbeSet {
  feeds: Record<string, RtTensor>[];
  labels?: (number | undefined)[];
  source: 'dataset' | 'generated';
}

/**
 * Up to `count` samples: the dataset's evaluation split (or its first samples when it has none),
 * else deterministic generated inputs for the model's input shapes.
 */
export function probeSet(model: Model, count: number, data?: Dataset, dims?: DimDefaults): ProbeSet {
  if (data && data.count > 0) {
    const pool = data.splits.evaluation.length
      ? data.splits.evaluation
      : Array.from({ length: data.count }, (_, i) => i);
    const samples = pool.slice(0, count).map((i) => data.sample(i));
    return {
      feeds: samples.map((s) => s.feeds),
      labels: data.hasLabels ? samples.map((s) => s.label) : undefined,
      source: 'dataset',
    };
  }
  const inputs = summarizeModel(model, 0).inputs;
  return {
    feeds: Array.from({ length: count }, (_, k) => generateInputs(inputs, dims, k + 1)),
    source: 'generated',
  };
}

/** Run a model on every sample; outputs in the session's output order. */
export async function runProbe(
  runtime: Runtime,
  model: Model | Uint8Array,
  set: ProbeSet,
  signal?: AbortSignal,
): Promise<RtTensor[][]> {
  const bytes = model instanceof Uint8Array ? model : model.encode();
  const external = model instanceof Uint8Array ? undefined : model.external;
  const session = await runtime.createSession(bytes, { externalData: external });
  try {
    const out: RtTensor[][] = [];
    for (const feeds of set.feeds) {
      signal?.throwIfAborted();
      const r = await session.run(feeds);
      out.push(session.outputNames.map((n) => r[n]));
    }
    return out;
  } finally {
    await session.release();
  }
}

export interface ProbeResult extends Fidelity {
  /** Top-1 accuracy on labeled samples (0–1), or null without labels. */
  accuracy: number | null;
  samples: number;
}

/** Fidelity of `candidate` outputs to `reference` ones, and accuracy when labels are known. */
export function compareProbe(
  reference: RtTensor[][],
  candidate: RtTensor[][],
  labels?: (number | undefined)[],
): ProbeResult {
  const acc = newFidelity();
  let correct = 0;
  let labeled = 0;
  candidate.forEach((out, i) => {
    addFidelity(acc, reference[i], out);
    const label = labels?.[i];
    if (label !== undefined && out[0] && !Array.isArray(out[0].data)) {
      labeled++;
      if (argmax(out[0].data as ArrayLike<number>) === label) correct++;
    }
  });
  return { ...fidelityResult(acc), accuracy: labeled ? correct / labeled : null, samples: candidate.length };
}

/** "agreement 100%, SQNR 41.2 dB" for notes. */
export function describeProbe(r: ProbeResult): string {
  const sqnr = Number.isFinite(r.sqnrDb) ? `${r.sqnrDb.toFixed(1)} dB` : '∞ dB';
  const accuracy = r.accuracy === null ? '' : `, accuracy ${(r.accuracy * 100).toFixed(1)}%`;
  return `top-1 agreement ${(r.agreement * 100).toFixed(1)}%, SQNR ${sqnr}, max abs error ${r.maxAbsError.toPrecision(3)}${accuracy} on ${r.samples} sample${r.samples === 1 ? '' : 's'}`;
}
