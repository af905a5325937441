import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkNode } from 'elkjs/lib/elk-api';
import type { BandResult, LayoutLabel, Point } from './types';

const elk = new ELK();

/** Runs ELK on one band of a {@link LayoutPlan} and keeps what stitching needs. */
export async function layoutBand(graph: ElkNode): Promise<BandResult> {
  const laid = await elk.layout(graph);
  const nodes: BandResult['nodes'] = {};
  for (const c of laid.children ?? []) {
    const ports: Record<string, Point> = {};
    for (const p of c.ports ?? []) ports[p.id] = { x: (p.x ?? 0) + (p.width ?? 0) / 2, y: p.y ?? 0 };
    nodes[c.id] = { x: c.x ?? 0, y: c.y ?? 0, ports };
  }
  const routes: Record<string, Point[]> = {};
  const labels: Record<string, LayoutLabel> = {};
  for (const e of laid.edges ?? []) {
    const points: Point[] = [];
    for (const s of e.sections ?? []) {
      if (points.length === 0) points.push({ x: s.startPoint.x, y: s.startPoint.y });
      for (const p of s.bendPoints ?? []) points.push({ x: p.x, y: p.y });
      points.push({ x: s.endPoint.x, y: s.endPoint.y });
    }
    routes[e.id] = points;
    for (const l of e.labels ?? [])
      if (l.id && l.text)
        labels[l.id] = { text: l.text, x: l.x ?? 0, y: l.y ?? 0, width: l.width ?? 0, height: l.height ?? 0 };
  }
  return { width: laid.width ?? 0, height: laid.height ?? 0, nodes, routes, labels };
}
