import { routeGap, simplifyRoute, type GapCrossing } from './gapRouting';
import { bandIds } from './plan';
import type {
  BandResult,
  Fanout,
  GraphLayout,
  LayoutEdge,
  LayoutLabel,
  LayoutNode,
  LayoutPlan,
  PlacedNode,
  Point,
  StitchedLayout,
} from './types';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const shift = (p: Point, o: Point): Point => ({ x: p.x + o.x, y: p.y + o.y });

/**
 * Stacks laid-out bands top to bottom, lining up the tensors that cross from one band to the next,
 * and joins each edge's pieces into one orthogonal route (down, across on a track of its own in the
 * gap, down). Given only the first bands (`bands` may end early or have holes after a prefix), it
 * returns the partial layout of that prefix: positions never change as more bands arrive.
 */
export function stitchLayout(
  plan: LayoutPlan,
  bands: readonly (BandResult | undefined)[],
  durationMs: number,
): GraphLayout {
  const stitched = stitchPlan(plan, bands, durationMs);
  return { ...stitched, nodes: stitched.nodes.filter(isDrawn), frames: [] };
}

function isDrawn(n: PlacedNode): n is LayoutNode {
  return n.kind === 'op' || n.kind === 'input' || n.kind === 'output';
}

/** {@link stitchLayout} keeping every planned node: frames, and the stubs of a group's inner layout. */
export function stitchPlan(
  plan: LayoutPlan,
  bands: readonly (BandResult | undefined)[],
  durationMs: number,
): StitchedLayout {
  let ready = 0;
  while (ready < plan.bandGraphs.length && bands[ready]) ready++;
  const done = bands.slice(0, ready) as BandResult[];
  const { bandOf } = plan;

  const exitPoint = (f: Fanout, b: number) => {
    const r = done[b].routes[b === f.band ? bandIds.exitEdge(f.port, b) : bandIds.passEdge(f.port, b)];
    return r[r.length - 1];
  };
  const entryPoint = (f: Fanout, b: number) => {
    const stub = done[b].nodes[bandIds.entryStub(f.port, b)];
    return { x: stub.x + 0.5, y: stub.y };
  };

  const offsets: Point[] = ready > 0 ? [{ x: 0, y: 0 }] : [];
  const gapBends: Map<string, number[]>[] = [];
  for (let b = 1; b < ready; b++) {
    const prev = offsets[b - 1];
    const crossing = plan.fanouts.filter((f) => f.band < b && f.lastBand >= b);
    const x =
      crossing.length > 0
        ? median(crossing.map((f) => prev.x + exitPoint(f, b - 1).x - entryPoint(f, b).x))
        : prev.x + (done[b - 1].width - done[b].width) / 2;
    const gap = routeGap(
      crossing.map((f): GapCrossing => ({
        key: f.port,
        fromX: prev.x + exitPoint(f, b - 1).x,
        toX: x + entryPoint(f, b).x,
      })),
    );
    gapBends.push(gap.bends);
    offsets.push({ x, y: prev.y + done[b - 1].height + gap.height });
  }

  const nodes: PlacedNode[] = [];
  const nodeById = new Map<string, PlacedNode>();
  for (const n of plan.nodes) {
    const b = bandOf[n.id];
    if (b >= ready) continue;
    const placed = done[b].nodes[n.id];
    const o = offsets[b];
    const node: PlacedNode = {
      id: n.id,
      kind: n.kind,
      x: placed.x + o.x,
      y: placed.y + o.y,
      width: n.width,
      height: n.height,
      ports: n.ports.map((p) => ({
        id: p.id,
        side: p.side,
        x: p.x ?? placed.ports[p.id]?.x ?? n.width / 2,
        y: p.side === 'top' ? 0 : n.height,
      })),
    };
    if (n.badges) node.badges = n.badges;
    nodes.push(node);
    nodeById.set(n.id, node);
  }

  const gapJoin = (f: Fanout, upper: number): Point[] => {
    const from = shift(exitPoint(f, upper), offsets[upper]);
    const to = shift(entryPoint(f, upper + 1), offsets[upper + 1]);
    const bend = gapBends[upper].get(f.port);
    if (!bend) return [from, to];
    const y = offsets[upper].y + done[upper].height + bend[0];
    return [from, { x: from.x, y }, { x: to.x, y }, to];
  };
  const bandRoute = (b: number, id: string) => (done[b].routes[id] ?? []).map((p) => shift(p, offsets[b]));

  const fanoutOf = new Map(plan.fanouts.map((f) => [f.port, f]));
  const labelled = new Set<string>();
  const edges: LayoutEdge[] = [];
  for (const e of plan.edges) {
    const f = fanoutOf.get(e.sourcePort)!;
    const tb = bandOf[e.target];
    if (f.band >= ready || tb >= ready) continue;
    let points: Point[] = [];
    if (tb === f.band) points = bandRoute(tb, e.id);
    else if (tb > f.band) {
      points = bandRoute(f.band, bandIds.exitEdge(f.port, f.band));
      for (let b = f.band + 1; b < tb; b++)
        points.push(...gapJoin(f, b - 1), ...bandRoute(b, bandIds.passEdge(f.port, b)));
      points.push(...gapJoin(f, tb - 1), ...bandRoute(tb, e.id));
    }
    if (points.length < 2) {
      // Only for edges against the topological order (a cycle in an invalid model): a straight line.
      const s = nodeById.get(e.source)!;
      const t = nodeById.get(e.target)!;
      const sp = s.ports.find((p) => p.id === e.sourcePort)!;
      const tp = t.ports.find((p) => p.id === e.targetPort)!;
      points = [shift(sp, s), shift(tp, t)];
    }
    const edge: LayoutEdge = { ...e, points: simplifyRoute(points) };
    if (!labelled.has(f.port)) {
      labelled.add(f.port);
      const l: LayoutLabel | undefined = done[f.band].labels[bandIds.label(f.port)];
      if (l) edge.label = { ...l, x: l.x + offsets[f.band].x, y: l.y + offsets[f.band].y };
    }
    edges.push(edge);
  }

  const minX = Math.min(0, ...offsets.map((o) => o.x));
  const maxX = Math.max(0, ...done.map((b, i) => b.width + offsets[i].x));
  const height = ready > 0 ? offsets[ready - 1].y + done[ready - 1].height : 0;
  return {
    nodes,
    edges,
    bounds: { x: minX, y: 0, width: maxX - minX, height },
    folded: plan.folded,
    bands: plan.bandGraphs.length,
    complete: ready === plan.bandGraphs.length,
    durationMs,
  };
}
