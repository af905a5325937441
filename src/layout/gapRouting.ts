import type { Point } from './types';

/** A connection that crosses the gap between two stacked bands: from the upper band's bottom to the lower band's top. */
export interface GapCrossing {
  key: string;
  fromX: number;
  toX: number;
}

/** Vertical distance between the horizontal tracks of gap crossings that jog sideways. */
export const gapTrackSpacing = 8;
/** Smallest gap between bands. */
export const minGapHeight = 32;

/**
 * Routes crossings through the gap between two bands orthogonally: straight down when the ends line
 * up, otherwise down, across on a track of its own, and down again. Crossings whose horizontal spans
 * overlap get different tracks (greedy interval colouring), so no two horizontal segments overlap.
 * Returns the gap height and, per crossing key, the bend points (both ends excluded).
 */
export function routeGap(crossings: readonly GapCrossing[]): {
  height: number;
  bends: Map<string, number[]>;
} {
  const jogs = crossings
    .filter((c) => Math.abs(c.fromX - c.toX) >= 1)
    .map((c) => ({ key: c.key, lo: Math.min(c.fromX, c.toX), hi: Math.max(c.fromX, c.toX) }))
    .sort((a, b) => a.lo - b.lo || a.hi - b.hi);
  const trackEnds: number[] = [];
  const trackOf = new Map<string, number>();
  for (const j of jogs) {
    let t = trackEnds.findIndex((end) => end + gapTrackSpacing <= j.lo);
    if (t < 0) t = trackEnds.push(j.hi) - 1;
    else trackEnds[t] = j.hi;
    trackOf.set(j.key, t);
  }
  const height = Math.max(minGapHeight, (trackEnds.length + 1) * gapTrackSpacing + 16);
  const top = (height - (trackEnds.length - 1) * gapTrackSpacing) / 2;
  const bends = new Map<string, number[]>();
  for (const [key, t] of trackOf) bends.set(key, [top + t * gapTrackSpacing]);
  return { height, bends };
}

/** Drops repeated points and middle points of straight runs, so routes have only real bends. */
export function simplifyRoute(points: readonly Point[]): Point[] {
  const out: Point[] = [];
  for (const p of points) {
    const last = out[out.length - 1];
    if (last && Math.abs(last.x - p.x) < 0.5 && Math.abs(last.y - p.y) < 0.5) continue;
    const prev = out[out.length - 2];
    if (
      prev &&
      last &&
      ((Math.abs(prev.x - last.x) < 0.5 && Math.abs(last.x - p.x) < 0.5) ||
        (Math.abs(prev.y - last.y) < 0.5 && Math.abs(last.y - p.y) < 0.5))
    )
      out[out.length - 1] = p;
    else out.push(p);
  }
  return out;
}
