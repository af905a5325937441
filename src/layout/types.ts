import type { ElkNode } from 'elkjs/lib/elk-api';
import type { BadgeText } from './format';

/** A point in layout coordinates (CSS pixels, y grows downwards). */
export interface Point {
  x: number;
  y: number;
}

/** Operators (and collapsed groups, drawn as one box like an operator), and the pills drawn for graph inputs and outputs. */
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
  /** The open group whose frame holds the node (x and y stay absolute), if any. */
  parent?: string;
}

/** An open group drawn as a frame around its contents: a header with its label, then its inner layout. */
export interface LayoutFrame {
  /** The group's id (`g:/encoder/layer.3`, `r:…`). */
  id: string;
  label: string;
  kind: 'name' | 'repeat' | 'repetition';
  /** Operator nodes inside, at any depth. */
  size: number;
  /** The frame around this one, if nested. */
  parent?: string;
  /** Top-left corner (absolute) and size, header included. */
  x: number;
  y: number;
  width: number;
  height: number;
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
  /** Frames of open groups, each before the frames inside it (empty for a flat layout). */
  frames: LayoutFrame[];
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

/**
 * What a planned node is: a drawn node, a collapsed group's box, the frame of an open group (a fixed-size box with ports
 * fixed where its inner layout put them), or a stub where a tensor enters or leaves a group's inner
 * layout (first and last layer).
 */
export type PlannedNodeKind = LayoutNodeKind | 'group' | 'frame' | 'entry' | 'exit';

/** A port of a planned node; `x` fixes its position (frames), otherwise ELK places it along its side. */
export interface PlannedPort {
  id: string;
  side: 'top' | 'bottom';
  x?: number;
}

/** A placed node of any planned kind (frames and stubs included), as stitching returns it. */
export interface PlacedNode extends Omit<LayoutNode, 'kind'> {
  kind: PlannedNodeKind;
}

/** Stitched bands: like {@link GraphLayout}, with every planned node (frames and stubs too) and no frames list. */
export interface StitchedLayout extends Omit<GraphLayout, 'nodes' | 'frames'> {
  nodes: PlacedNode[];
}

/** A node as planned for ELK: its size, its ports and (operators) its badge rows. */
export interface PlannedNode {
  id: string;
  kind: PlannedNodeKind;
  width: number;
  height: number;
  badges?: BadgeText[][];
  ports: PlannedPort[];
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
