import { describe, expect, it } from 'vitest';
import { initialViewport, readableZoom } from './viewport';

describe('initialViewport', () => {
  it('fits and centres a graph that is readable when fitted', () => {
    const v = initialViewport({ x: 0, y: 0, width: 300, height: 600 }, 800, 800, 150);
    expect(v.zoom).toBeCloseTo(Math.min(752 / 300, 752 / 600, 1.1));
    expect(v.x + 150 * v.zoom).toBeCloseTo(400);
    expect(v.y + 300 * v.zoom).toBeCloseTo(400);
  });

  it('shows the top of a tall graph at a readable zoom instead of shrinking it to a sliver', () => {
    const v = initialViewport({ x: -50, y: 0, width: 400, height: 60_000 }, 800, 600, 120);
    expect(v.zoom).toBe(1);
    expect(v.y).toBe(24);
    // The whole width fits, so the graph is centred horizontally.
    expect(v.x + (-50 + 200) * v.zoom).toBeCloseTo(400);
  });

  it('centres the top nodes of a graph too wide to show whole', () => {
    const v = initialViewport({ x: 0, y: 0, width: 5000, height: 60_000 }, 800, 600, 2600);
    expect(v.zoom).toBe(readableZoom);
    expect(v.x + 2600 * v.zoom).toBeCloseTo(400);
  });

  it('centres a node selected before the layout finished', () => {
    const v = initialViewport({ x: 0, y: 0, width: 400, height: 9000 }, 800, 600, 200, {
      x: 100,
      y: 5000,
      width: 120,
      height: 40,
    });
    expect(v).toEqual({ zoom: 1, x: 400 - 160, y: 300 - 5020 });
  });
});
