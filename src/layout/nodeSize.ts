import type { NodeSummary } from '../onnx/summary';
import { nodeBadges, type BadgeText, type ConstantInput } from './format';

/** Font families of the graph view; graph.css uses the same stacks. */
export const sansFamily = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
export const monoFamily =
  'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';

/** The kinds of text a node or edge shows, each with one CSS font. */
export type TextRole = 'op' | 'name' | 'badge' | 'pill' | 'edgeLabel';

/** CSS font shorthand per text role (graph.css mirrors these). */
export const textFonts: Record<TextRole, string> = {
  op: `600 12px ${sansFamily}`,
  name: `10.5px ${sansFamily}`,
  badge: `10px ${monoFamily}`,
  pill: `600 11px ${sansFamily}`,
  edgeLabel: `9px ${monoFamily}`,
};

/** Measures the width of a text in CSS pixels; the layout worker measures with an OffscreenCanvas. */
export type TextMeasure = (text: string, role: TextRole) => number;

/** Average advance per character, generous enough for wide UI fonts (DejaVu Sans) where nothing can measure. */
const charWidth: Record<TextRole, number> = { op: 8, name: 6.3, badge: 6.1, pill: 7.4, edgeLabel: 5.5 };

/** Width estimate from character counts, used where no canvas is available (Node). */
export const estimateTextWidth: TextMeasure = (text, role) => text.length * charWidth[role];

/**
 * Box metrics of the graph view's nodes, in CSS pixels. The layout sizes nodes with these numbers and
 * the node component draws with the same ones (graph.css mirrors them), so what ELK places is what
 * the page shows. Texts that still do not fit are ellipsised.
 */
export const nodeMetrics = {
  minWidth: 64,
  maxWidth: 240,
  paddingX: 8,
  headerHeight: 24,
  subgraphMarkerWidth: 34,
  bodyPaddingY: 4,
  nameHeight: 15,
  badgeHeight: 16,
  badgeGap: 4,
  badgeRowGap: 3,
  badgePaddingX: 4,
  /** Slack added to every measured text against sub-pixel rounding. */
  textSlack: 2,
  pillHeight: 22,
  pillPaddingX: 12,
  pillMinWidth: 44,
  pillMaxWidth: 200,
  edgeLabelHeight: 13,
  edgeLabelPaddingX: 3,
} as const;

export interface NodeSize {
  width: number;
  height: number;
}

/** The visible text of a badge: `W 16×1×3×3` or `W i8 16×1×3×3`. */
export function badgeString(b: BadgeText): string {
  return b.dtype ? `${b.label} ${b.dtype} ${b.shape}` : `${b.label} ${b.shape}`;
}

export function badgeWidth(b: BadgeText, measure: TextMeasure = estimateTextWidth): number {
  const m = nodeMetrics;
  return Math.ceil(measure(badgeString(b), 'badge') + m.textSlack + 2 * m.badgePaddingX);
}

const rowWidth = (widths: readonly number[]) =>
  widths.reduce((s, w, i) => s + w + (i > 0 ? nodeMetrics.badgeGap : 0), 0);

/**
 * Greedy packing of badges (given by width) into rows no wider than `innerWidth`; returns the number
 * of badges in each row. A badge wider than the row gets a row of its own (and is ellipsised).
 */
export function packBadges(widths: readonly number[], innerWidth: number): number[] {
  const rows: number[] = [];
  let count = 0;
  let used = 0;
  for (const w of widths) {
    if (count > 0 && used + nodeMetrics.badgeGap + w > innerWidth) {
      rows.push(count);
      count = 0;
      used = 0;
    }
    used += (count > 0 ? nodeMetrics.badgeGap : 0) + w;
    count++;
  }
  if (count > 0) rows.push(count);
  return rows;
}

/** How an operator node is drawn: its size and its weight badges in rows. */
export interface NodeBox extends NodeSize {
  badges: BadgeText[][];
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/**
 * Size of an operator node from its op type, name and weight badges (its initializers plus the
 * Constant nodes folded into it).
 */
export function nodeBox(
  node: NodeSummary,
  measure: TextMeasure = estimateTextWidth,
  constants: readonly ConstantInput[] = [],
): NodeBox {
  const m = nodeMetrics;
  const maxInner = m.maxWidth - 2 * m.paddingX;
  const badges = nodeBadges(node, constants);
  const widths = badges.map((b) => badgeWidth(b, measure));
  const header = measure(node.opType, 'op') + m.textSlack + (node.subgraphs > 0 ? m.subgraphMarkerWidth : 0);
  const name = node.name ? measure(node.name, 'name') + m.textSlack : 0;
  const oneRow = rowWidth(widths);
  const wanted = Math.max(header, name, ...widths, oneRow <= maxInner ? oneRow : 0);
  const inner = clamp(Math.ceil(wanted), m.minWidth - 2 * m.paddingX, maxInner);
  const rows = packBadges(widths, inner);
  const body =
    (node.name ? m.nameHeight : 0) +
    rows.length * m.badgeHeight +
    Math.max(0, rows.length - 1) * m.badgeRowGap +
    (node.name && rows.length > 0 ? m.badgeRowGap : 0);
  const rowsOfBadges: BadgeText[][] = [];
  let next = 0;
  for (const n of rows) rowsOfBadges.push(badges.slice(next, (next += n)));
  return {
    width: inner + 2 * m.paddingX,
    height: m.headerHeight + (body > 0 ? body + 2 * m.bodyPaddingY : 0),
    badges: rowsOfBadges,
  };
}

/** Size of the pill drawn for a graph input or output. */
export function pillSize(name: string, measure: TextMeasure = estimateTextWidth): NodeSize {
  const m = nodeMetrics;
  const text = measure(name, 'pill') + m.textSlack + 2 * m.pillPaddingX;
  return { width: Math.ceil(clamp(text, m.pillMinWidth, m.pillMaxWidth)), height: m.pillHeight };
}

/** Size of an edge's shape label. */
export function edgeLabelSize(text: string, measure: TextMeasure = estimateTextWidth): NodeSize {
  const m = nodeMetrics;
  return {
    width: Math.ceil(measure(text, 'edgeLabel') + m.textSlack + 2 * m.edgeLabelPaddingX),
    height: m.edgeLabelHeight,
  };
}

/**
 * Frame metrics of an open group, in CSS pixels (graph.css mirrors them): a header with the collapse
 * button and the label, above the group's inner layout (which brings its own padding).
 */
export const frameMetrics = {
  headerHeight: 24,
  buttonWidth: 20,
  paddingX: 8,
  /** Gap between label and the node count. */
  gap: 6,
} as const;

/** The header text of a frame: the group's label and its node count. */
export function frameTitle(label: string, size: number): { label: string; count: string } {
  return { label, count: `${size.toLocaleString('en-US')} nodes` };
}

/** The narrowest a frame can be: wide enough for its header. */
export function frameMinWidth(label: string, size: number, measure: TextMeasure = estimateTextWidth): number {
  const m = frameMetrics;
  const t = frameTitle(label, size);
  return Math.ceil(
    2 * m.paddingX +
      m.buttonWidth +
      m.gap +
      measure(t.label, 'pill') +
      m.gap +
      measure(t.count, 'name') +
      2 * nodeMetrics.textSlack,
  );
}
