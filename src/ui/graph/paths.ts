/** A point in flow coordinates. */
export interface XY {
  x: number;
  y: number;
}

/**
 * An SVG path through orthogonal route points with rounded corners (radius capped at half of the
 * shorter neighbouring segment, so short jogs stay tidy).
 */
export function roundedPath(points: readonly XY[], radius = 6): string {
  if (points.length === 0) return '';
  const f = (n: number) => Math.round(n * 10) / 10;
  let d = `M${f(points[0].x)} ${f(points[0].y)}`;
  for (let i = 1; i < points.length - 1; i++) {
    const a = points[i - 1];
    const b = points[i];
    const c = points[i + 1];
    const lenIn = Math.hypot(b.x - a.x, b.y - a.y);
    const lenOut = Math.hypot(c.x - b.x, c.y - b.y);
    const r = Math.min(radius, lenIn / 2, lenOut / 2);
    if (r < 0.5) {
      d += ` L${f(b.x)} ${f(b.y)}`;
      continue;
    }
    const p = { x: b.x - ((b.x - a.x) / lenIn) * r, y: b.y - ((b.y - a.y) / lenIn) * r };
    const q = { x: b.x + ((c.x - b.x) / lenOut) * r, y: b.y + ((c.y - b.y) / lenOut) * r };
    d += ` L${f(p.x)} ${f(p.y)} Q${f(b.x)} ${f(b.y)} ${f(q.x)} ${f(q.y)}`;
  }
  const last = points[points.length - 1];
  return `${d} L${f(last.x)} ${f(last.y)}`;
}
