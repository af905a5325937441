import { describe, expect, it } from 'vitest';
import { imageFrame } from './exportView';

/** Where a graph point lands in the image under a frame's `translate(x, y) scale(z)`. */
function place(transform: string, x: number, y: number): [number, number] {
  const m = /translate\((-?[\d.e-]+)px, (-?[\d.e-]+)px\) scale\(([\d.e-]+)\)/.exec(transform);
  if (!m) throw new Error(`unexpected transform ${transform}`);
  const [tx, ty, z] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return [tx + x * z, ty + y * z];
}

describe('image frame', () => {
  it('draws the nodes at zoom 1 with a margin around them', () => {
    const f = imageFrame({ x: -100, y: 50, width: 400, height: 300 }, { margin: 20 });
    expect([f.width, f.height]).toEqual([440, 340]);
    expect(f.transform).toMatch(/scale\(1\)$/);
    expect(place(f.transform, -100, 50)).toEqual([20, 20]);
    expect(place(f.transform, 300, 350)).toEqual([420, 320]);
  });

  it('leaves room on the right for labels beside nodes', () => {
    const f = imageFrame({ x: 0, y: 0, width: 100, height: 100 }, { margin: 10, extraRight: 50 });
    expect([f.width, f.height]).toEqual([170, 120]);
    expect(place(f.transform, 0, 0)).toEqual([10, 10]);
  });

  it('scales a graph too large for one image down to the longest side allowed', () => {
    const f = imageFrame({ x: 0, y: 0, width: 1000, height: 20_000 }, { margin: 0, maxSide: 4000 });
    expect(f.height).toBe(4000);
    expect(f.width).toBe(200);
    const [x, y] = place(f.transform, 1000, 20_000);
    expect(x).toBeCloseTo(200);
    expect(y).toBeCloseTo(4000);
  });
});
