import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkNode } from 'elkjs/lib/elk-api';
import type { BandResult, LayoutLabel, Point } from './types';

const elk = new ELK();

/** The in-thread worker elk.bundled.js talks to (its `dispatcher` runs a command at once). */
interface InThreadElk {
  dispatcher?: { saveDispatch?: (message: { data: unknown }) => void };
  onmessage?: ((message: { data: unknown }) => void) | null;
}

interface ElkAnswer {
  data?: ElkNode;
  error?: { message?: string } | string;
}

/**
 * ELK's promise API posts every call through two `setTimeout(0)` hops, even in-thread; in a worker
 * that runs layouts back to back, browsers clamp those to 4 ms each, which dominates small graphs
 * (a group's inside). This calls the in-thread dispatcher directly instead, once ELK has registered
 * its algorithms; null when this elkjs build does not have that shape (then the promise API is used).
 */
const direct: Promise<((graph: ElkNode) => ElkNode) | null> = elk.knownLayoutAlgorithms().then(() => {
  const inner = (elk as unknown as { worker?: { worker?: InThreadElk } }).worker?.worker;
  const dispatch = inner?.dispatcher?.saveDispatch;
  if (!inner || !dispatch) return null;
  return (graph: ElkNode) => {
    let answer: ElkAnswer | undefined;
    const previous = inner.onmessage;
    inner.onmessage = (m) => (answer = m.data as ElkAnswer);
    try {
      dispatch({ data: { cmd: 'layout', id: -1, graph, layoutOptions: {}, options: {} } });
    } finally {
      inner.onmessage = previous;
    }
    if (!answer) throw new Error('ELK gave no answer');
    if (answer.error !== undefined)
      throw new Error(
        typeof answer.error === 'string' ? answer.error : (answer.error.message ?? 'ELK layout failed'),
      );
    return answer.data!;
  };
});

/** Runs ELK on one band of a {@link LayoutPlan} and keeps what stitching needs. */
export async function layoutBand(graph: ElkNode): Promise<BandResult> {
  const run = await direct;
  return bandResult(run ? run(graph) : await elk.layout(graph));
}

/** {@link layoutBand} through ELK's promise API (for benchmarks that compare with it). */
export async function layoutBandAsync(graph: ElkNode): Promise<BandResult> {
  return bandResult(await elk.layout(graph));
}

function bandResult(laid: ElkNode): BandResult {
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
