import type { DimSummary, ValueSummary } from '../onnx/summary';
import { dtypeInfo, DataType } from '../onnx/dtype';
import type { RtTensor } from './types';

/** Sizes for symbolic or unknown dimensions, by name; `*` is the fallback for unnamed ones. */
export type DimDefaults = Record<string, number>;

export class InputGenerationError extends Error {
  override name = 'InputGenerationError';
}

/** The concrete shape used for an input: symbolic dims take their default (1 unless set). */
export function concreteShape(shape: DimSummary[] | null, defaults: DimDefaults = {}): number[] {
  if (!shape) return [];
  return shape.map((d) => (typeof d === 'number' && d >= 0 ? d : (defaults[d ?? '*'] ?? defaults['*'] ?? 1)));
}

/** Symbolic (or unknown) dimension names of the inputs, for the UI's editable defaults. */
export function symbolicDims(inputs: readonly ValueSummary[]): string[] {
  const names = new Set<string>();
  for (const v of inputs) for (const d of v.shape ?? []) if (typeof d !== 'number') names.add(d ?? '*');
  return [...names];
}

/** A deterministic pseudo-random generator (mulberry32), so generated inputs repeat run to run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Generated inputs matching the model's input types and shapes: floats uniform in [0, 1), integers
 * small non-negative values (valid as indices or sizes in most models), bools random.
 */
export function generateInputs(
  inputs: readonly ValueSummary[],
  defaults: DimDefaults = {},
  seed = 1,
): Record<string, RtTensor> {
  const rand = seededRandom(seed);
  const feeds: Record<string, RtTensor> = {};
  for (const v of inputs) {
    if (v.elemType === undefined)
      throw new InputGenerationError(`input "${v.name}" has type ${v.type}, which cannot be generated`);
    const info = dtypeInfo(v.elemType);
    const dims = concreteShape(v.shape, defaults);
    const count = dims.reduce((a, b) => a * b, 1);
    if (!info.ort || !info.raw)
      throw new InputGenerationError(
        `input "${v.name}" has element type ${info.name}, which onnxruntime-js cannot feed`,
      );
    const data = new info.raw(count);
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) data.fill(1n);
    else if (v.elemType === DataType.FLOAT16)
      for (let i = 0; i < count; i++) data[i] = 0x3800; // 0.5
    else if (info.float) for (let i = 0; i < count; i++) data[i] = rand();
    else if (v.elemType === DataType.BOOL) for (let i = 0; i < count; i++) data[i] = rand() < 0.5 ? 0 : 1;
    else for (let i = 0; i < count; i++) data[i] = Math.floor(rand() * 4);
    feeds[v.name] = { type: info.ort, dims, data };
  }
  return feeds;
}
