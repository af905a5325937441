import { seededRandom } from '../runtime/inputs';

/** A 1-D clustering: sorted centroids and, for every value, the index of its centroid. */
export interface KMeans1D {
  /** Centroids in ascending order (float32 values), at most k of them. */
  centroids: Float32Array;
  /** Centroid index of each input value. */
  assignments: Uint8Array | Uint16Array;
  iterations: number;
  /** Sum of squared distances of the values to their centroids. */
  inertia: number;
}

export interface KMeansOptions {
  /** Seed of the k-means++ seeding (same seed, same result). */
  seed?: number;
  maxIterations?: number;
  /** Keep one centroid at exactly 0, so zero weights (pruned ones) stay zero. */
  fixedZero?: boolean;
  /** Values the k-means++ seeding looks at (evenly spaced over the sorted values). */
  seedingSample?: number;
}

/** Index of the first element of sorted `a` greater than `x` (upper bound). */
function upperBound(a: Float64Array | Float32Array, x: number, lo = 0, hi = a.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** k-means++ seeding (D² sampling) over a sample of the sorted values. */
function seedCentroids(
  sorted: Float32Array,
  k: number,
  rand: () => number,
  sampleSize: number,
  fixedZero: boolean,
): number[] {
  const n = sorted.length;
  const m = Math.min(n, sampleSize);
  const sample = Float64Array.from(
    { length: m },
    (_, i) => sorted[Math.floor((i * (n - 1)) / Math.max(1, m - 1))],
  );
  const centroids: number[] = fixedZero ? [0] : [sample[Math.floor(rand() * m)]];
  const d2 = new Float64Array(m).fill(Infinity);
  const update = (c: number) => {
    for (let i = 0; i < m; i++) d2[i] = Math.min(d2[i], (sample[i] - c) ** 2);
  };
  update(centroids[0]);
  while (centroids.length < k) {
    let total = 0;
    for (let i = 0; i < m; i++) total += d2[i];
    if (total === 0) break;
    let r = rand() * total;
    let pick = m - 1;
    for (let i = 0; i < m; i++) {
      r -= d2[i];
      if (r <= 0) {
        pick = i;
        break;
      }
    }
    centroids.push(sample[pick]);
    update(sample[pick]);
  }
  return centroids.sort((a, b) => a - b);
}

/**
 * Lloyd's k-means on 1-D data, exact and fast: on sorted values each cluster is a contiguous range
 * between midpoints of neighbouring centroids, so an iteration costs O(k log n) with prefix sums.
 * When the data has at most k distinct values they become the centroids (lossless).
 */
export function kmeans1d(values: Float32Array, k: number, options: KMeansOptions = {}): KMeans1D {
  const n = values.length;
  const sorted = Float32Array.from(values).sort();
  const distinct: number[] = [];
  for (let i = 0; i < n && distinct.length <= k; i++)
    if (i === 0 || sorted[i] !== sorted[i - 1]) distinct.push(sorted[i]);
  let centroids: number[];
  let iterations = 0;
  if (distinct.length <= k) centroids = distinct;
  else {
    const prefix = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + sorted[i];
    const fixedZero = options.fixedZero ?? false;
    centroids = seedCentroids(
      sorted,
      k,
      seededRandom(options.seed ?? 0),
      options.seedingSample ?? 8192,
      fixedZero,
    );
    const maxIterations = options.maxIterations ?? 100;
    for (; iterations < maxIterations; iterations++) {
      let moved = false;
      let lo = 0;
      const next: number[] = [];
      for (let j = 0; j < centroids.length; j++) {
        const hi =
          j === centroids.length - 1 ? n : upperBound(sorted, (centroids[j] + centroids[j + 1]) / 2, lo);
        const c =
          fixedZero && centroids[j] === 0
            ? 0
            : hi > lo
              ? (prefix[hi] - prefix[lo]) / (hi - lo)
              : centroids[j];
        if (Math.abs(c - centroids[j]) > 1e-12 * Math.max(1, Math.abs(c))) moved = true;
        if (hi > lo || (fixedZero && c === 0)) next.push(c);
        else moved = true;
        lo = hi;
      }
      centroids = next;
      if (!moved) break;
    }
  }
  const codebook = Float32Array.from(new Set(centroids.map((c) => Math.fround(c)))).sort();
  const bounds = Float64Array.from(
    { length: Math.max(0, codebook.length - 1) },
    (_, j) => (codebook[j] + codebook[j + 1]) / 2,
  );
  const assignments = codebook.length <= 256 ? new Uint8Array(n) : new Uint16Array(n);
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const j = upperBound(bounds, v);
    assignments[i] = j;
    inertia += (v - codebook[j]) ** 2;
  }
  return { centroids: codebook, assignments, iterations, inertia };
}
