import type { ElkNode } from 'elkjs/lib/elk-api';
import type { BadgeText } from './format';

/** A point in layout coordinates (CSS pixels, y grows downwards). */
export interface Point {
  x: number;
  y: number;
}

/** Operators, and the pills drawn for graph inputs and outputs. */
export type LayoutNodeKind = 'op' | 'input' | 'output';

/** Where edges meet a node: a point on its top (inputs) or bottom (outputs) border, relative to the node. */
export interface LayoutPort {
  id: string;
  side: 'top' | 'bottom';
  x: number;
  y: number;
}

export interface LayoutNode {
  /** The summary's id: `n<i>`, `in:<name>` or `out:<name>`. */
  id: string;
  kind: LayoutNodeKind;
  /** Top-left corner. */
  x: number;
  y: number;
  width: number;
  height: number;
  ports: LayoutPort[];
  /** Operators: weight badges in rows, as the layout sized them (initializers and folded Constant nodes). */
  badges?: BadgeText[][];
}

/** An edge's tensor-shape label, placed by the layout beside its edge, clear of nodes. */
export interface LayoutLabel {
  text: string;
  /** Top-left corner. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LayoutEdge {
  /** The summary's edge id. */
  id: string;
  source: string;
  target: string;
  sourcePort: string;
  targetPort: string;
  /** The route from the source port to the target port: start, bends, end (orthogonal segments). */
  points: Point[];
  /** Only on one edge per produced tensor: the tensor's other consumers show the same shape. */
  label?: LayoutLabel;
}

export interface GraphLayout {
  nodes: LayoutNode[];
  edges: LayoutEdge[];
  /** Bounding box of everything drawn (x may be negative when bands are stacked). */
  bounds: { x: number; y: number; width: number; height: number };
  /** Number of bands the graph was cut into (1 unless it is large). */
  bands: number;
  /**
   * Constant nodes (Constant, ConstantOfShape without graph inputs) drawn as weight badges on their
   * consumers instead of as boxes: they and their edges are not in `nodes` and `edges`.
   */
  folded: string[];
  /** False for a partial layout: the first bands only, and the edges among them. */
  complete: boolean;
  /** Wall time of the layout in milliseconds. */
  durationMs: number;
}

/** A node as planned for ELK: its size, its ports and (operators) its badge rows. */
export interface PlannedNode {
  id: string;
  kind: LayoutNodeKind;
  width: number;
  height: number;
  badges?: BadgeText[][];
  ports: { id: string; side: 'top' | 'bottom' }[];
}

/** An edge of the summary with the ports it leaves and enters by. */
export interface PlannedEdge {
  id: string;
  source: string;
  target: string;
  sourcePort: string;
  targetPort: string;
}

/** Everything leaving one output port (one tensor of one producer), and the bands it spans. */
export interface Fanout {
  port: string;
  source: string;
  band: number;
  lastBand: number;
  label?: string;
  edges: string[];
}

/**
 * A layout cut into bands along the topological order: each band is an ELK graph of its own (with
 * stub nodes where edges enter from above or leave downwards), laid out independently (in any
 * order, in parallel) and stacked by {@link stitchLayout}. Plain data: it crosses worker boundaries.
 */
export interface LayoutPlan {
  nodes: PlannedNode[];
  /** Constant nodes drawn as badges on their consumers (see {@link GraphLayout.folded}). */
  folded: string[];
  edges: PlannedEdge[];
  fanouts: Fanout[];
  /** Band index of each node id. */
  bandOf: Record<string, number>;
  /** One ELK input graph per band (elkjs JSON). */
  bandGraphs: ElkNode[];
}

/** A band as ELK placed it, in band coordinates. */
export interface BandResult {
  width: number;
  height: number;
  nodes: Record<string, { x: number; y: number; ports: Record<string, Point> }>;
  routes: Record<string, Point[]>;
  labels: Record<string, LayoutLabel>;
}
