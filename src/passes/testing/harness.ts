import type { Model } from '../../onnx/ir';
import type { StageContext } from '../types';
import type { RtTensor } from '../../runtime/types';
import { createNodeRuntime } from '../../runtime/node';
import { generateInputs, type DimDefaults } from '../../runtime/inputs';
import { summarizeModel } from '../../onnx/summary';
import { runProbe } from '../probe';

/** A stage context on onnxruntime-node for tests. */
export function testContext(): StageContext {
  return {
    runtime: createNodeRuntime({ threads: 2 }),
    progress: () => {},
    signal: new AbortController().signal,
  };
}

/** Deterministic generated inputs for a model (uniform [0, 1) floats). */
export function feedsFor(model: Model, dims?: DimDefaults, seed = 1): Record<string, RtTensor> {
  return generateInputs(summarizeModel(model, 0).inputs, dims, seed);
}

/** Outputs of a model on one input set, in output order, as numbers. */
export async function outputs(
  ctx: StageContext,
  model: Model | Uint8Array,
  feeds: Record<string, RtTensor>,
): Promise<{ dims: readonly number[]; data: number[] }[]> {
  const [out] = await runProbe(ctx.runtime, model, { feeds: [feeds], source: 'generated' });
  return out.map((t) => ({ dims: t.dims, data: Array.from(t.data as ArrayLike<number>, Number) }));
}

/** Largest |a − b| over all outputs, relative to the largest |a| (at least 1e-3, so near-zero outputs compare absolutely). */
export function relativeError(a: { data: number[] }[], b: { data: number[] }[]): number {
  let diff = 0;
  let scale = 0;
  a.forEach((t, k) =>
    t.data.forEach((v, i) => {
      diff = Math.max(diff, Math.abs(v - b[k].data[i]));
      scale = Math.max(scale, Math.abs(v));
    }),
  );
  return diff / Math.max(scale, 1e-3);
}
