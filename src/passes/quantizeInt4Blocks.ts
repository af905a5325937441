/**
 * The arithmetic of 4-bit block-wise weights as onnxruntime's com.microsoft MatMulNBits reads them:
 * packing, the choice of each block's scale and zero point, and GPTQ (error-compensating rounding
 * that uses the layer's input statistics).
 */
import { roundHalfEven } from './qdq';

/** A [K, N] weight packed the way com.microsoft MatMulNBits reads it (bits = 4). */
export interface PackedInt4 {
  /** [N, blocks, blockSize / 2] bytes: column-major blocks, low nibble first. */
  data: Uint8Array;
  /** [N · blocks] float scales. */
  scales: Float32Array;
  /** [N · ceil(blocks / 2)] packed 4-bit zero points, or undefined for symmetric blocks (zero point 8). */
  zeroPoints?: Uint8Array;
  blocks: number;
}

/** Scale and zero point of one block: x ≈ (q − zp) · scale with q in 0 … 15. */
export interface BlockParams {
  scale: number;
  zp: number;
}

export function quantize4(v: number, scale: number, zp: number): number {
  return Math.min(15, Math.max(0, roundHalfEven(v / scale) + zp));
}

/** Shrink factors of the block range tried as starting points: 1 (the full range) down to 0.5. */
const CLIP_RATIOS = Array.from({ length: 11 }, (_, i) => 1 - i * 0.05);

/** Weighted squared error of a block at a scale and zero point. */
function blockError(block: Float64Array, weights: Float64Array, scale: number, zp: number): number {
  let error = 0;
  for (let i = 0; i < block.length; i++) {
    const d = (quantize4(block[i], scale, zp) - zp) * scale - block[i];
    error += weights[i] * d * d;
  }
  return error;
}

/**
 * The scale that fits the block best for the integers a scale gave it (weighted least squares:
 * Σ w·v·(q − zp) / Σ w·(q − zp)²), or 0 when every value rounds to the zero point.
 */
function refitScale(block: Float64Array, weights: Float64Array, scale: number, zp: number): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < block.length; i++) {
    const q = quantize4(block[i], scale, zp) - zp;
    num += weights[i] * block[i] * q;
    den += weights[i] * q * q;
  }
  return den > 0 ? Math.fround(num / den) : 0;
}

/**
 * Scale and zero point of one block with the smallest weighted squared error. Symmetric blocks have
 * zero point 8 (the grid is −8 … 7 around it; the sign of the scale puts the larger extreme on −8, as
 * onnxruntime's own quantizer does); asymmetric blocks span [min, max] with an integer zero point.
 * Mapping the full range is rarely best: clipping it gives most values a finer grid, so shrink factors
 * from 1 to 0.5 are tried, each followed by a least-squares refit of the scale to the integers it
 * produced, and the best of all wins (never worse than the plain full-range choice, which is tried).
 */
export function bestBlockParams(block: Float64Array, weights: Float64Array, symmetric: boolean): BlockParams {
  let lo = 0;
  let hi = 0;
  let extreme = 0;
  for (const v of block) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (Math.abs(v) > Math.abs(extreme)) extreme = v;
  }
  if (extreme === 0) return { scale: 0, zp: 8 };
  let best: BlockParams = { scale: 0, zp: 8 };
  let bestError = Infinity;
  const consider = (scale: number, zp: number) => {
    if (!(Math.abs(scale) > 0) || !Number.isFinite(scale)) return;
    const error = blockError(block, weights, scale, zp);
    if (error < bestError) {
      bestError = error;
      best = { scale, zp };
    }
  };
  for (const ratio of CLIP_RATIOS) {
    let scale: number;
    let zp: number;
    if (symmetric) {
      scale = Math.fround((extreme * ratio) / -8);
      zp = 8;
    } else {
      scale = Math.fround(((hi - lo) * ratio) / 15);
      zp = Math.min(15, Math.max(0, roundHalfEven((-lo * ratio) / scale)));
    }
    consider(scale, zp);
    consider(refitScale(block, weights, scale, zp), zp);
  }
  return best;
}

/** Writes 4-bit values and block parameters into MatMulNBits' layout. */
class Int4Packer {
  readonly packed: PackedInt4;
  private readonly blob: number;

  constructor(
    k: number,
    readonly n: number,
    readonly blockSize: number,
    symmetric: boolean,
  ) {
    const blocks = Math.ceil(k / blockSize);
    this.blob = blockSize / 2;
    this.packed = {
      // Padding rows of the last block hold the zero point: 8 (0x88) when symmetric, set below otherwise.
      data: new Uint8Array(n * blocks * this.blob).fill(symmetric ? 0x88 : 0),
      scales: new Float32Array(n * blocks),
      zeroPoints: symmetric ? undefined : new Uint8Array(n * Math.ceil(blocks / 2)),
      blocks,
    };
  }

  setBlock(col: number, block: number, p: BlockParams): void {
    const { scales, zeroPoints, blocks, data } = this.packed;
    scales[col * blocks + block] = p.scale;
    if (!zeroPoints) return;
    zeroPoints[col * Math.ceil(blocks / 2) + (block >> 1)] |= block % 2 === 0 ? p.zp : p.zp << 4;
    const at = (col * blocks + block) * this.blob;
    data.fill(p.zp | (p.zp << 4), at, at + this.blob);
  }

  /** Value q (0 … 15) of row `row` in column `col`. */
  set(col: number, row: number, q: number): void {
    const block = Math.floor(row / this.blockSize);
    const i = row - block * this.blockSize;
    const at = (col * this.packed.blocks + block) * this.blob + (i >> 1);
    const byte = this.packed.data[at];
    this.packed.data[at] = i % 2 === 0 ? (byte & 0xf0) | q : (byte & 0x0f) | (q << 4);
  }
}

/**
 * Round-to-nearest block-wise 4-bit quantization of a row-major [K, N] weight: each column is cut
 * into blocks of `blockSize` along K (the last block padded with the zero point), each with the
 * parameters of {@link bestBlockParams}. `rowWeights` (one per row of K: the mean square of the input
 * feature it multiplies) weigh the squared error, so rows that meet large activations stay precise.
 */
export function packInt4(
  values: ArrayLike<number>,
  k: number,
  n: number,
  blockSize: number,
  symmetric: boolean,
  rowWeights?: ArrayLike<number>,
): PackedInt4 {
  const packer = new Int4Packer(k, n, blockSize, symmetric);
  const block = new Float64Array(blockSize);
  const weights = new Float64Array(blockSize);
  for (let col = 0; col < n; col++)
    for (let b = 0; b < packer.packed.blocks; b++) {
      const start = b * blockSize;
      const count = Math.min(k, start + blockSize) - start;
      for (let r = 0; r < count; r++) {
        block[r] = values[(start + r) * n + col];
        weights[r] = rowWeights ? rowWeights[start + r] : 1;
      }
      const p = bestBlockParams(block.subarray(0, count), weights.subarray(0, count), symmetric);
      packer.setBlock(col, b, p);
      for (let r = 0; r < count; r++)
        packer.set(col, start + r, p.scale === 0 ? p.zp : quantize4(block[r], p.scale, p.zp));
    }
  return packer.packed;
}

/** The float values MatMulNBits computes with for a packed weight, as a row-major [K, N] array. */
export function unpackInt4(p: PackedInt4, k: number, n: number, blockSize: number): Float32Array {
  const out = new Float32Array(k * n);
  const blob = blockSize / 2;
  for (let col = 0; col < n; col++)
    for (let b = 0; b < p.blocks; b++) {
      const zByte = p.zeroPoints?.[col * Math.ceil(p.blocks / 2) + (b >> 1)];
      const zp = zByte === undefined ? 8 : b % 2 === 0 ? zByte & 15 : zByte >> 4;
      const scale = p.scales[col * p.blocks + b];
      for (let i = 0; i < blockSize; i++) {
        const r = b * blockSize + i;
        if (r >= k) break;
        const byte = p.data[(col * p.blocks + b) * blob + (i >> 1)];
        const q = i % 2 === 0 ? byte & 15 : byte >> 4;
        out[r * n + col] = (q - zp) * scale;
      }
    }
  return out;
}

/**
 * In-place lower Cholesky factor of a symmetric positive definite k×k matrix (row-major; the upper
 * triangle is zeroed). Returns false when a pivot is not positive.
 */
function choleskyLower(a: Float64Array, k: number): boolean {
  for (let j = 0; j < k; j++) {
    let d = a[j * k + j];
    for (let p = 0; p < j; p++) d -= a[j * k + p] * a[j * k + p];
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    a[j * k + j] = ljj;
    for (let i = j + 1; i < k; i++) {
      let s = a[i * k + j];
      const ri = i * k;
      const rj = j * k;
      for (let p = 0; p < j; p++) s -= a[ri + p] * a[rj + p];
      a[ri + j] = s / ljj;
    }
    for (let i = 0; i < j; i++) a[i * k + j] = 0;
  }
  return true;
}

/** H⁻¹ from its lower Cholesky factor L (H = L·Lᵀ): L⁻ᵀ·L⁻¹, row-major. */
function inverseFromCholesky(l: Float64Array, k: number): Float64Array {
  // Rows of L⁻¹ by forward substitution, stored transposed so that both products below read rows.
  const inv = new Float64Array(k * k);
  for (let c = 0; c < k; c++) {
    // Column c of L⁻¹: solve L·x = e_c (x[i] = 0 for i < c).
    inv[c * k + c] = 1 / l[c * k + c];
    for (let i = c + 1; i < k; i++) {
      let s = 0;
      for (let p = c; p < i; p++) s -= l[i * k + p] * inv[c * k + p];
      inv[c * k + i] = s / l[i * k + i];
    }
  }
  // (L⁻ᵀ·L⁻¹)[i][j] = Σ_p L⁻¹[p][i]·L⁻¹[p][j] = Σ_p col_i[p]·col_j[p] (columns stored as rows of inv).
  const out = new Float64Array(k * k);
  for (let i = 0; i < k; i++)
    for (let j = i; j < k; j++) {
      let s = 0;
      for (let p = Math.max(i, j); p < k; p++) s += inv[i * k + p] * inv[j * k + p];
      out[i * k + j] = s;
      out[j * k + i] = s;
    }
  return out;
}

/**
 * GPTQ (Frantar et al., 2022) for a row-major [K, N] weight whose layer reads inputs with second
 * moments `hessian` = E[x·xᵀ] (K×K, row-major): the rows of K are rounded one after another, and
 * each row's rounding error is pushed onto the rows not yet rounded in the proportions that cancel it
 * best in the layer's output for those inputs. Block parameters are chosen (by
 * {@link bestBlockParams}, weighted by the diagonal) when the first row of a block is reached, from
 * the weights as updated so far. Costs O(K³ + K²·N); returns undefined when the statistics are
 * degenerate even after damping.
 */
export function packInt4Gptq(
  values: ArrayLike<number>,
  k: number,
  n: number,
  blockSize: number,
  symmetric: boolean,
  hessian: Float64Array,
  damping = 0.01,
): PackedInt4 | undefined {
  const w = Float64Array.from(values);
  const h = Float64Array.from(hessian);
  let meanDiagonal = 0;
  for (let i = 0; i < k; i++) meanDiagonal += h[i * k + i] / k;
  if (!(meanDiagonal > 0)) return undefined;
  for (let i = 0; i < k; i++) {
    // A feature that is always zero: its weights never matter.
    if (h[i * k + i] === 0) {
      h[i * k + i] = meanDiagonal;
      w.fill(0, i * n, (i + 1) * n);
    }
    h[i * k + i] += damping * meanDiagonal;
  }
  const diagonal = Float64Array.from({ length: k }, (_, i) => h[i * k + i]);
  if (!choleskyLower(h, k)) return undefined;
  // U = upper Cholesky factor of H⁻¹ (H⁻¹ = Uᵀ·U): row r of U drives the updates after row r.
  const u = inverseFromCholesky(h, k);
  if (!choleskyLower(u, k)) return undefined;
  const packer = new Int4Packer(k, n, blockSize, symmetric);
  const params: BlockParams[] = new Array<BlockParams>(n);
  const block = new Float64Array(blockSize);
  const err = new Float64Array(n);
  for (let r = 0; r < k; r++) {
    if (r % blockSize === 0) {
      const b = r / blockSize;
      const count = Math.min(k, r + blockSize) - r;
      const weights = diagonal.subarray(r, r + count);
      for (let col = 0; col < n; col++) {
        for (let i = 0; i < count; i++) block[i] = w[(r + i) * n + col];
        params[col] = bestBlockParams(block.subarray(0, count), weights, symmetric);
        packer.setBlock(col, b, params[col]);
      }
    }
    // u is lower (Uᵀ) after the in-place factorization: U[r][j] = u[j][r].
    const urr = u[r * k + r];
    for (let col = 0; col < n; col++) {
      const { scale, zp } = params[col];
      const v = w[r * n + col];
      const q = scale === 0 ? zp : quantize4(v, scale, zp);
      packer.set(col, r, q);
      err[col] = (v - (q - zp) * scale) / urr;
    }
    for (let j = r + 1; j < k; j++) {
      const f = u[j * k + r];
      if (f === 0) continue;
      const row = j * n;
      for (let col = 0; col < n; col++) w[row + col] -= f * err[col];
    }
  }
  return packer.packed;
}
