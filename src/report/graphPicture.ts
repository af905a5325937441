import { toBinary } from '@bufbuild/protobuf';
import { rgb, type RGB } from 'pdf-lib';
import type { Model, Node } from '../onnx/ir';
import { AttributeProtoSchema } from '../onnx/proto/onnx_pb';
import { summarizeGraph, type OpCategory } from '../onnx/summary';
import { tensorBytes } from '../onnx/tensor';
import type { NodeChange } from '../passes/types';
import { layoutGraph } from '../layout/layoutGraph';
import type { NodeSize } from '../layout/nodeSize';
import type { Box, Painter, Point } from './painter';
import { colors } from './theme';

/** A node of the graph picture, in picture coordinates (points at scale 1). */
export interface PictureNode {
  id: string;
  kind: 'op' | 'input' | 'output';
  /** Operator type, or the input/output name. */
  label: string;
  /** Node name (operators). */
  name: string;
  category: OpCategory;
  /** Added or changed by the pipeline. */
  changed: boolean;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A small picture of the final graph: laid-out boxes and edge routes, and what changed. */
export interface GraphPicture {
  nodes: PictureNode[];
  edges: { points: Point[] }[];
  width: number;
  height: number;
  /** Operators of the final graph. */
  total: number;
  /** Final operators that are new or differ from the original's. */
  changed: number;
  /** Original operators that are gone. */
  removed: number;
}

/** Larger graphs get no picture: a page cannot show them legibly. */
export const graphPictureLimit = 400;

const opSize = { height: 24, min: 44, max: 124 };
const pillHeight = 15;
/** Rough Helvetica advances (em) for sizing boxes before any PDF font exists; drawing fits text exactly. */
const boldEm = 0.62;
const regularEm = 0.52;
export const pictureFont = { op: 7, name: 5.5, pill: 6 };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

const nodeIdentity = (n: Node) => n.name || `→${n.outputs.join('|')}`;

function attributesBytes(n: Node): Uint8Array[] {
  return n.proto.attribute.map((a) => toBinary(AttributeProtoSchema, a));
}

/** Whether a final node equals its original counterpart: same op, wiring, attributes and weights. */
function sameNode(original: Model, a: Node, final: Model, b: Node): boolean {
  if (a.opType !== b.opType || a.domain !== b.domain) return false;
  if (
    a.inputs.join('\u0000') !== b.inputs.join('\u0000') ||
    a.outputs.join('\u0000') !== b.outputs.join('\u0000')
  )
    return false;
  const aa = attributesBytes(a);
  const ba = attributesBytes(b);
  if (aa.length !== ba.length || aa.some((x, i) => !sameBytes(x, ba[i]))) return false;
  for (const name of b.inputs) {
    const tb = final.graph.initializers.get(name);
    const ta = original.graph.initializers.get(name);
    if (!tb && !ta) continue;
    if (!tb || !ta || ta.dataType !== tb.dataType || ta.dims.join(',') !== tb.dims.join(',')) return false;
    try {
      if (!sameBytes(tensorBytes(ta, original.external), tensorBytes(tb, final.external))) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Which operators of the final graph the pipeline added or changed (compared with the original by
 * name, wiring, attributes and weight bytes, plus what the stages reported), and how many of the
 * original's are gone.
 */
export function diffGraphs(
  original: Model,
  final: Model,
  changes: readonly NodeChange[] = [],
): { changed: boolean[]; removed: number } {
  const byIdentity = new Map<string, Node>();
  for (const n of original.graph.nodes) byIdentity.set(nodeIdentity(n), n);
  const reported = new Set(changes.filter((c) => c.kind !== 'removed').map((c) => c.node));
  const kept = new Set<string>();
  const changed = final.graph.nodes.map((n) => {
    const id = nodeIdentity(n);
    const o = byIdentity.get(id);
    if (o) kept.add(id);
    return !o || reported.has(n.name) || !sameNode(original, o, final, n);
  });
  const removed = [...byIdentity.keys()].filter((id) => !kept.has(id)).length;
  return { changed, removed };
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * Lay out the final graph for the report with the studio's ELK layout (compact boxes: op type and
 * name), marking changed operators. Returns a note instead for graphs too large to show.
 */
export async function computeGraphPicture(
  original: Model,
  final: Model,
  stages: readonly { changes: readonly NodeChange[] }[],
): Promise<GraphPicture | { note: string }> {
  const summary = summarizeGraph(final.graph);
  if (summary.nodes.length > graphPictureLimit)
    return {
      note: `The final graph has ${summary.nodes.length} operators, too many to draw legibly on a page; open the model in the studio to explore it.`,
    };
  const { changed, removed } = diffGraphs(
    original,
    final,
    stages.flatMap((s) => s.changes),
  );
  const sizes: Record<string, NodeSize> = {};
  for (const n of summary.nodes) {
    const op = n.opType.length * boldEm * pictureFont.op;
    const name = Math.min(n.name.length * regularEm * pictureFont.name, opSize.max);
    sizes[n.id] = {
      width: Math.ceil(clamp(Math.max(op, name) + 12, opSize.min, opSize.max)),
      height: opSize.height,
    };
  }
  for (const v of summary.inputs)
    sizes[`in:${v.name}`] = {
      width: Math.ceil(clamp(v.name.length * boldEm * pictureFont.pill + 16, 36, 110)),
      height: pillHeight,
    };
  for (const v of summary.outputs)
    sizes[`out:${v.name}`] = {
      width: Math.ceil(clamp(v.name.length * boldEm * pictureFont.pill + 16, 36, 110)),
      height: pillHeight,
    };
  const layout = await layoutGraph(summary, { sizes, edgeLabels: false, effort: 'auto' });
  const ox = layout.bounds.x;
  const oy = layout.bounds.y;
  const byId = new Map(summary.nodes.map((n, i) => [n.id, { n, i }]));
  const nodes: PictureNode[] = layout.nodes.map((ln) => {
    const hit = byId.get(ln.id);
    const io = ln.id.replace(/^(in|out):/, '');
    return {
      id: ln.id,
      kind: ln.kind,
      label: hit ? hit.n.opType : io,
      name: hit ? hit.n.name : '',
      category: hit ? hit.n.category : 'io',
      changed: hit ? changed[hit.i] : false,
      x: ln.x - ox,
      y: ln.y - oy,
      width: ln.width,
      height: ln.height,
    };
  });
  return {
    nodes,
    edges: layout.edges.map((e) => ({ points: e.points.map((p) => ({ x: p.x - ox, y: p.y - oy })) })),
    width: layout.bounds.width,
    height: layout.bounds.height,
    total: summary.nodes.length,
    changed: changed.filter(Boolean).length,
    removed,
  };
}

/** Fill per operator group, pale so that labels and the changed marking stand out. */
const categoryFill: Partial<Record<OpCategory, RGB>> = {
  conv: rgb(0.89, 0.93, 0.99),
  linear: rgb(0.89, 0.93, 0.99),
  activation: rgb(0.91, 0.96, 0.92),
  normalization: rgb(0.95, 0.93, 0.98),
  pool: rgb(0.91, 0.96, 0.97),
  quantize: rgb(0.99, 0.96, 0.88),
};

/** How a picture is cut into side-by-side columns (a tall chain reads better in several columns). */
export interface PicturePlan {
  /** Picture y positions where one column ends and the next begins (between nodes). */
  cuts: number[];
  /** Picture x range drawn in each column. */
  columns: { left: number; right: number }[];
  scale: number;
  /** Height the drawing takes on the page. */
  height: number;
}

const columnGap = 22;

/** Y positions between node rows where the picture can be cut without cutting a node. */
function freeCuts(picture: GraphPicture): number[] {
  const spans = picture.nodes.map((n) => [n.y, n.y + n.height] as const).sort((a, b) => a[0] - b[0]);
  const cuts: number[] = [];
  let reach = -Infinity;
  for (const [top, bottom] of spans) {
    if (reach > -Infinity && top > reach + 4) cuts.push((reach + top) / 2);
    reach = Math.max(reach, bottom);
  }
  return cuts;
}

/**
 * The number of columns (1–6) and the cuts that draw the picture largest inside `width` × `height`;
 * fewer columns win unless more give a clearly larger scale.
 */
export function planPicture(picture: GraphPicture, width: number, height: number): PicturePlan {
  const free = freeCuts(picture);
  let best: PicturePlan | undefined;
  for (let k = 1; k <= 6 && k <= free.length + 1; k++) {
    const cuts: number[] = [];
    for (let i = 1; i < k; i++) {
      const target = (picture.height * i) / k;
      const c = free.reduce((a, b) => (Math.abs(b - target) < Math.abs(a - target) ? b : a), free[0]);
      if (!cuts.includes(c) && (cuts.length === 0 || c > cuts[cuts.length - 1])) cuts.push(c);
    }
    const bounds = [0, ...cuts, picture.height];
    const tallest = Math.max(...bounds.slice(1).map((b, i) => b - bounds[i]));
    const columns = columnExtents(picture, bounds);
    const sum = columns.reduce((n, c) => n + (c.right - c.left), 0);
    const scale = Math.min(
      (width - (columns.length - 1) * columnGap) / Math.max(1, sum),
      height / Math.max(1, tallest),
      1.3,
    );
    if (!best || scale > best.scale * 1.12) best = { cuts, columns, scale, height: tallest * scale };
  }
  return best ?? { cuts: [], columns: [{ left: 0, right: picture.width }], scale: 1, height: picture.height };
}

/** The x range each column's nodes and edges take (columns keep only what they draw). */
function columnExtents(picture: GraphPicture, bounds: readonly number[]): { left: number; right: number }[] {
  const cols = bounds.length - 1;
  const ext = Array.from({ length: cols }, () => ({ left: Infinity, right: -Infinity }));
  const grow = (c: number, x0: number, x1: number) => {
    ext[c].left = Math.min(ext[c].left, x0);
    ext[c].right = Math.max(ext[c].right, x1);
  };
  for (const n of picture.nodes) grow(columnIndex(bounds, n.y + n.height / 2), n.x, n.x + n.width);
  for (const e of picture.edges)
    for (let c = 0; c < cols; c++)
      for (const part of clipToBand(e.points, bounds[c], bounds[c + 1]))
        for (const p of part) grow(c, p.x - 4, p.x + 4);
  return ext.map((e) => (e.left <= e.right ? e : { left: 0, right: 1 }));
}

function columnIndex(bounds: readonly number[], y: number): number {
  for (let c = 0; c + 1 < bounds.length; c++) if (y <= bounds[c + 1] + 1e-6) return c;
  return bounds.length - 2;
}

/** The parts of an orthogonal polyline inside the horizontal band y0 ≤ y ≤ y1. */
function clipToBand(points: readonly Point[], y0: number, y1: number): Point[][] {
  const parts: Point[][] = [];
  let current: Point[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i];
    const b = points[i + 1];
    const lo = Math.min(a.y, b.y);
    const hi = Math.max(a.y, b.y);
    if (hi < y0 || lo > y1) {
      if (current.length) parts.push(current);
      current = [];
      continue;
    }
    const clampY = (p: Point) => ({ x: p.x, y: Math.min(y1, Math.max(y0, p.y)) });
    const start = clampY(a);
    const end = clampY(b);
    const last = current[current.length - 1];
    if (!last || last.x !== start.x || last.y !== start.y) {
      if (current.length) parts.push(current);
      current = [start];
    }
    current.push(end);
    if (end.y !== b.y) {
      parts.push(current);
      current = [];
    }
  }
  if (current.length > 1) parts.push(current);
  return parts.filter((p) => p.length > 1);
}

/**
 * Draw the picture in `plan`'s columns starting at `box`'s top, centred. Changed operators get an
 * orange fill, border and side bar; labels are dropped when the scale makes them illegible; edges
 * cut between columns end in a small open circle and continue at the top of the next column.
 */
export function drawGraphPicture(
  painter: Painter,
  pageIndex: number,
  picture: GraphPicture,
  box: Box,
  plan: PicturePlan,
): void {
  const { scale } = plan;
  const bounds = [0, ...plan.cuts, picture.height];
  const cols = bounds.length - 1;
  const widths = plan.columns.map((c) => (c.right - c.left) * scale);
  const totalW = widths.reduce((a, b) => a + b, 0) + (cols - 1) * columnGap;
  const starts: number[] = [];
  let cx = box.x + Math.max(0, (box.width - totalW) / 2);
  for (const w of widths) {
    starts.push(cx);
    cx += w + columnGap;
  }
  const lineWidth = clamp(0.7 * scale, 0.25, 0.8);
  const columnOf = (y: number) => columnIndex(bounds, y);
  const at = (p: Point, c: number) => ({
    x: starts[c] + (p.x - plan.columns[c].left) * scale,
    y: box.y + (p.y - bounds[c]) * scale,
  });
  for (const e of picture.edges) {
    if (e.points.length < 2) continue;
    const end = e.points[e.points.length - 1];
    for (let c = 0; c < cols; c++) {
      for (const part of clipToBand(e.points, bounds[c], bounds[c + 1])) {
        const pts = part.map((p) => at(p, c));
        painter.polyline(pageIndex, pts, { color: colors.faint, width: lineWidth });
        const tail = part[part.length - 1];
        const head = part[0];
        if (c + 1 < cols && Math.abs(tail.y - bounds[c + 1]) < 1e-6)
          painter.circle(pageIndex, pts[pts.length - 1], 1.3, {
            fill: colors.white,
            stroke: colors.faint,
            lineWidth: 0.5,
          });
        if (c > 0 && Math.abs(head.y - bounds[c]) < 1e-6)
          painter.circle(pageIndex, pts[0], 1.3, {
            fill: colors.white,
            stroke: colors.faint,
            lineWidth: 0.5,
          });
        if (tail.x === end.x && tail.y === end.y && pts.length >= 2) {
          const q = pts[pts.length - 1];
          const prev = pts[pts.length - 2];
          const len = Math.hypot(q.x - prev.x, q.y - prev.y) || 1;
          const ux = (q.x - prev.x) / len;
          const uy = (q.y - prev.y) / len;
          const s = clamp(3.2 * scale, 1.2, 3.5);
          painter.polygon(
            pageIndex,
            [
              q,
              { x: q.x - ux * s * 1.6 - uy * s, y: q.y - uy * s * 1.6 + ux * s },
              { x: q.x - ux * s * 1.6 + uy * s, y: q.y - uy * s * 1.6 - ux * s },
            ],
            colors.faint,
          );
        }
      }
    }
  }
  const opSizeScaled = pictureFont.op * scale;
  const showLabels = opSizeScaled >= 3.5;
  const showNames = pictureFont.name * scale >= 3.8;
  for (const n of picture.nodes) {
    const c = columnOf(n.y + n.height / 2);
    const p = at(n, c);
    const b = { x: p.x, y: p.y, width: n.width * scale, height: n.height * scale };
    if (n.kind === 'op') {
      const fill = n.changed ? colors.changedFill : (categoryFill[n.category] ?? colors.white);
      painter.rect(pageIndex, b, {
        fill,
        stroke: n.changed ? colors.changed : colors.faint,
        lineWidth: n.changed ? clamp(1.4 * scale, 0.6, 1.5) : 0.5,
      });
      if (n.changed)
        painter.rect(
          pageIndex,
          { x: b.x, y: b.y, width: clamp(3 * scale, 1, 3), height: b.height },
          { fill: colors.changed },
        );
      if (showLabels) {
        const withName = showNames && n.name !== '';
        const top = withName ? b.y + b.height * 0.2 : b.y + (b.height - opSizeScaled) / 2;
        painter.text(pageIndex, n.label, b.x + b.width / 2, top, {
          role: 'bold',
          size: opSizeScaled,
          color: colors.ink,
          align: 'center',
          maxWidth: b.width - 5 * scale,
        });
        if (withName)
          painter.text(pageIndex, n.name, b.x + b.width / 2, top + opSizeScaled * 1.15, {
            size: pictureFont.name * scale,
            color: colors.muted,
            align: 'center',
            maxWidth: b.width - 5 * scale,
            ellipsis: 'middle',
          });
      }
    } else {
      painter.rect(pageIndex, b, { fill: colors.headerFill, stroke: colors.original, lineWidth: 0.5 });
      if (pictureFont.pill * scale >= 3.5)
        painter.text(pageIndex, n.label, b.x + b.width / 2, b.y + (b.height - pictureFont.pill * scale) / 2, {
          role: 'bold',
          size: pictureFont.pill * scale,
          color: colors.muted,
          align: 'center',
          maxWidth: b.width - 6 * scale,
          ellipsis: 'middle',
        });
    }
  }
}
