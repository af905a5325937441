import { MarkerType, Position, type NodeHandle } from '@xyflow/react';
import type { GraphLayout, LayoutNode } from '../../layout/types';
import { formatShape } from '../../layout/format';
import type { GraphSummary, ValueSummary } from '../../onnx/summary';
import type { GraphFlowNode, RouteFlowEdge } from './flowTypes';

/** Colour of edges and their arrowheads; edges of the selected node use {@link activeEdgeColor}. */
export const edgeColor = '#98a2b0';
export const activeEdgeColor = '#c97a06';

/**
 * Handles at exactly the ports the layout placed, given to React Flow up front so edges can be drawn
 * for nodes it has not measured (with onlyRenderVisibleElements most nodes are never mounted).
 */
function handlesOf(n: LayoutNode): NodeHandle[] {
  return n.ports.map((p) =>
    p.side === 'top'
      ? { id: p.id, type: 'target', position: Position.Top, x: p.x - 0.5, y: 0, width: 1, height: 1 }
      : {
          id: p.id,
          type: 'source',
          position: Position.Bottom,
          x: p.x - 0.5,
          y: n.height - 1,
          width: 1,
          height: 1,
        },
  );
}

function typeText(v: ValueSummary | undefined): string {
  if (!v) return '';
  const shape = formatShape(v.shape);
  return shape ? `${v.type}[${shape}]` : v.type;
}

/**
 * React Flow nodes and edges for a laid-out graph summary. Open groups become frame nodes (a
 * sub-flow): the nodes inside have the frame as parent and positions relative to it.
 */
export function toFlow(
  summary: GraphSummary,
  layout: GraphLayout,
): { nodes: GraphFlowNode[]; edges: RouteFlowEdge[] } {
  const ops = new Map(summary.nodes.map((n) => [n.id, n]));
  const inputs = new Map(summary.inputs.map((v) => [`in:${v.name}`, v]));
  const outputs = new Map(summary.outputs.map((v) => [`out:${v.name}`, v]));
  const nodes: GraphFlowNode[] = [];
  // Frames first, each before the frames inside it: React Flow places children after their parent.
  const frameAt = new Map<string, { x: number; y: number; depth: number }>();
  for (const f of layout.frames) {
    const parent = f.parent ? frameAt.get(f.parent) : undefined;
    const depth = parent ? parent.depth + 1 : 0;
    frameAt.set(f.id, { x: f.x, y: f.y, depth });
    nodes.push({
      id: f.id,
      type: 'frame',
      position: parent ? { x: f.x - parent.x, y: f.y - parent.y } : { x: f.x, y: f.y },
      ...(parent ? { parentId: f.parent, extent: 'parent' as const } : {}),
      width: f.width,
      height: f.height,
      selectable: false,
      draggable: false,
      focusable: false,
      connectable: false,
      ariaLabel: `Group ${f.label}`,
      data: { label: f.label, kind: f.kind, size: f.size, depth },
    });
  }
  for (const n of layout.nodes) {
    const parent = n.parent ? frameAt.get(n.parent) : undefined;
    const common = {
      id: n.id,
      position: parent ? { x: n.x - parent.x, y: n.y - parent.y } : { x: n.x, y: n.y },
      ...(parent ? { parentId: n.parent, extent: 'parent' as const } : {}),
      width: n.width,
      height: n.height,
      handles: handlesOf(n),
      connectable: false,
    };
    const op = ops.get(n.id);
    if (op) {
      nodes.push({
        ...common,
        type: 'op',
        ariaLabel: op.name ? `${op.opType} ${op.name}` : op.opType,
        data: {
          opType: op.opType,
          fullOpType: op.domain ? `${op.domain}.${op.opType}` : op.opType,
          name: op.name,
          category: op.category,
          badges: n.badges ?? [],
          subgraphs: op.subgraphs,
          ports: n.ports,
        },
      });
    } else {
      const value = inputs.get(n.id) ?? outputs.get(n.id);
      nodes.push({
        ...common,
        type: 'io',
        selectable: false,
        ariaLabel: `${n.kind === 'output' ? 'Output' : 'Input'} ${n.id.replace(/^(in|out):/, '')}`,
        data: {
          kind: n.kind === 'output' ? 'output' : 'input',
          name: n.id.replace(/^(in|out):/, ''),
          typeText: typeText(value),
          ports: n.ports,
        },
      });
    }
  }
  const tensorOf = new Map(summary.edges.map((e) => [e.id, e.tensor]));
  const titleOf = new Map(
    summary.edges.map((e) => {
      const shape = formatShape(e.shape);
      const type = e.dtype ? `${e.dtype}${shape ? `[${shape}]` : ''}` : (shape ?? '');
      return [e.id, type ? `${e.tensor}: ${type}` : e.tensor];
    }),
  );
  const edges: RouteFlowEdge[] = layout.edges.map((e) => ({
    id: e.id,
    type: 'route',
    source: e.source,
    target: e.target,
    sourceHandle: e.sourcePort,
    targetHandle: e.targetPort,
    selectable: false,
    focusable: false,
    markerEnd: { type: MarkerType.ArrowClosed, width: 14, height: 14, color: edgeColor },
    data: {
      points: e.points,
      label: e.label,
      title: titleOf.get(e.id) ?? '',
      tensor: tensorOf.get(e.id) ?? '',
    },
  }));
  return { nodes, edges };
}
