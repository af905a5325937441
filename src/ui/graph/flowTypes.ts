import type { Edge, Node } from '@xyflow/react';
import type { BadgeText } from '../../layout/format';
import type { LayoutLabel, LayoutPort, Point } from '../../layout/types';
import type { GraphOverlayEntry } from '../../graph/overlayView';
import type { OpCategory } from '../../onnx/summary';
import type { ItemCost } from './cost';
import type { TensorRole } from './tensorSelection';

/** How a node relates to the selected tensor: one of its ends, or dimmed as unrelated. */
export type NodeHighlight = TensorRole | 'dim';

/** What an operator node shows (display data only: no callbacks, no IR). */
export interface OpNodeData extends Record<string, unknown> {
  opType: string;
  /** Domain-qualified op type for the tooltip (`com.microsoft.FusedConv`). */
  fullOpType: string;
  name: string;
  category: OpCategory;
  /** Weight badges in rows, as the layout sized them. */
  badges: BadgeText[][];
  subgraphs: number;
  ports: LayoutPort[];
  /** What an overlay (a stage's changes, a heatmap) paints on this node. */
  overlay?: GraphOverlayEntry;
  /** Set while a tensor is selected. */
  highlight?: NodeHighlight;
  /** MACs and parameters, when the view shows costs. */
  cost?: ItemCost;
}

/** What a graph input/output pill shows. */
export interface IoNodeData extends Record<string, unknown> {
  kind: 'input' | 'output';
  name: string;
  /** `float[1×3×224×224]`, for the tooltip. */
  typeText: string;
  ports: LayoutPort[];
  /** Set while a tensor is selected. */
  highlight?: NodeHighlight;
}

/** An edge drawn along the route the layout computed, with its tensor's shape as label. */
export interface RouteEdgeData extends Record<string, unknown> {
  points: Point[];
  label?: LayoutLabel;
  /** Tooltip: tensor name, element type and full shape. */
  title: string;
  /** The tensor the edge carries (the first one, for an edge into or out of a collapsed group). */
  tensor: string;
}

/** What the frame of an open group shows: its label and size, and a button that collapses it. */
export interface FrameNodeData extends Record<string, unknown> {
  label: string;
  kind: 'name' | 'repeat' | 'repetition';
  /** Operator nodes inside, at any depth. */
  size: number;
  /** Frames around this one. */
  depth: number;
}

export type OpFlowNode = Node<OpNodeData, 'op'>;
export type IoFlowNode = Node<IoNodeData, 'io'>;
export type FrameFlowNode = Node<FrameNodeData, 'frame'>;
export type GraphFlowNode = OpFlowNode | IoFlowNode | FrameFlowNode;
export type RouteFlowEdge = Edge<RouteEdgeData, 'route'>;
