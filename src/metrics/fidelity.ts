import type { RtTensor } from '../runtime/types';

export interface FidelityAccumulator {
  samples: number;
  agree: number;
  signal: number;
  noise: number;
  maxAbsError: number;
}

export function newFidelity(): FidelityAccumulator {
  return { samples: 0, agree: 0, signal: 0, noise: 0, maxAbsError: 0 };
}

function numbers(t: RtTensor): ArrayLike<number> {
  if (Array.isArray(t.data)) return [];
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) return Array.from(t.data, Number);
  return t.data as ArrayLike<number>;
}

/** Index of the largest value (the predicted class for logits or probabilities). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Add one sample's outputs (candidate vs reference, same output order) to the accumulator: top-1
 * agreement uses the first output; SQNR and max abs error use every float output.
 */
export function addFidelity(acc: FidelityAccumulator, reference: RtTensor[], candidate: RtTensor[]): void {
  acc.samples++;
  if (reference.length && candidate.length && argmax(numbers(reference[0])) === argmax(numbers(candidate[0])))
    acc.agree++;
  reference.forEach((r, k) => {
    const a = numbers(r);
    const b = numbers(candidate[k]);
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const d = a[i] - b[i];
      acc.signal += a[i] * a[i];
      acc.noise += d * d;
      const e = Math.abs(d);
      if (e > acc.maxAbsError || Number.isNaN(e)) acc.maxAbsError = Number.isNaN(e) ? Infinity : e;
    }
  });
}

export interface Fidelity {
  /** Fraction of samples whose top-1 class matches the reference (0–1). */
  agreement: number;
  /** Signal-to-quantization-noise ratio in dB; Infinity when outputs are identical. */
  sqnrDb: number;
  maxAbsError: number;
}

export function fidelityResult(acc: FidelityAccumulator): Fidelity {
  return {
    agreement: acc.samples ? acc.agree / acc.samples : NaN,
    sqnrDb: acc.noise === 0 ? Infinity : 10 * Math.log10(acc.signal / acc.noise),
    maxAbsError: acc.maxAbsError,
  };
}
