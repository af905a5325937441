/** Integer arithmetic on host values (shape computations), with NumPy broadcasting. */

export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new Error(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Element-wise `f(a, b)` over broadcast shapes. */
export function hostBinary(
  a: { data: number[]; shape: number[] },
  b: { data: number[]; shape: number[] },
  f: (x: number, y: number) => number,
): { data: number[]; shape: number[] } {
  const shape = broadcastShapes(a.shape, b.shape);
  const count = shape.reduce((p, d) => p * d, 1);
  const outStrides = strides(shape);
  const index = (s: readonly number[], flat: number) => {
    const st = strides(s);
    let offset = 0;
    for (let i = 0; i < shape.length; i++) {
      const axis = i - (shape.length - s.length);
      if (axis < 0) continue;
      const coord = Math.floor(flat / outStrides[i]) % shape[i];
      offset += (s[axis] === 1 ? 0 : coord) * st[axis];
    }
    return offset;
  };
  const data = new Array<number>(count);
  for (let i = 0; i < count; i++) data[i] = f(a.data[index(a.shape, i)], b.data[index(b.shape, i)]);
  return { data, shape };
}

/** Take `indices` along `axis` of a host tensor. */
export function hostGather(
  data: number[],
  shape: number[],
  indices: number[],
  indicesShape: number[],
  axis: number,
): { data: number[]; shape: number[] } {
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const dim = shape[axis];
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const raw of indices) {
      const idx = raw < 0 ? raw + dim : raw;
      if (idx < 0 || idx >= dim) throw new Error(`Gather index ${raw} is outside a dimension of ${dim}`);
      for (let k = 0; k < inner; k++) out.push(data[(o * dim + idx) * inner + k]);
    }
  return { data: out, shape: [...shape.slice(0, axis), ...indicesShape, ...shape.slice(axis + 1)] };
}

/** Normalise a possibly negative axis. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) throw new Error(`axis ${axis} is outside rank ${rank}`);
  return a;
}

/** Resolve an ONNX Reshape target (0 copies a dimension unless allowzero, −1 is inferred). */
export function reshapeTarget(
  input: readonly number[],
  target: readonly number[],
  allowZero: boolean,
): number[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const total = input.reduce((p, d) => p * d, 1);
  return out.map((d) => (d === -1 ? (known === 0 ? 0 : total / known) : d));
}
