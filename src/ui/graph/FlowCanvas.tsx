import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  applyNodeChanges,
  Background,
  BackgroundVariant,
  Controls,
  MarkerType,
  MiniMap,
  Panel,
  ReactFlow,
  useReactFlow,
  useStore,
  useStoreApi,
  type FitViewOptions,
  type NodeChange,
  type NodeMouseHandler,
  type ReactFlowState,
} from '@xyflow/react';
import type { GraphLayout } from '../../layout/types';
import type { GraphOverlay } from '../../graph/overlayView';
import type { GraphSummary } from '../../onnx/summary';
import { Legend, OverlayLegend } from './Legend';
import { IoNode } from './IoNode';
import { OpNode } from './OpNode';
import { RouteEdge } from './RouteEdge';
import { activeEdgeColor, toFlow } from './toFlow';
import { categoryColor } from './palette';
import { initialViewport } from './viewport';
import type { GraphFlowNode, RouteFlowEdge } from './flowTypes';

const nodeTypes = { op: OpNode, io: IoNode };
const edgeTypes = { route: RouteEdge };
const activeMarker = { type: MarkerType.ArrowClosed, width: 14, height: 14, color: activeEdgeColor };

/** Below this zoom, text would be unreadably small: nodes drop names, badges and edge labels. */
const farZoom = 0.45;
const isFar = (s: ReactFlowState) => s.transform[2] < farZoom;
function miniMapColor(node: GraphFlowNode): string {
  return node.type === 'op' ? categoryColor[node.data.category] : '#9aa3ad';
}

/** Fit everything (the Controls button); React Flow would otherwise fit only the nodes it has measured. */
const fitAll: FitViewOptions = { padding: 0.08, maxZoom: 1.1, includeHiddenNodes: true };

interface CanvasProps {
  summary: GraphSummary;
  /** The layout so far: complete, or the first bands of a large graph. */
  layout: GraphLayout;
  /** Bands done and in all while the rest of a large graph is still being laid out. */
  progress?: { done: number; total: number };
  selectedNodeId: string | null;
  onSelectNode?: (id: string | null) => void;
  /** A node to bring to the centre (a search match, the first child of an opened group); framed at mount too. */
  focusNodeId?: string | null;
  /** A node drawn with a highlight ring (the current search match). */
  highlightNodeId?: string | null;
  /** Changes whenever the view should move to the focus again, even to the same node. */
  focusSeq?: number;
  /** Badges, outlines or heat colours painted on the nodes, keyed by node id. */
  overlay?: GraphOverlay | null;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The React Flow canvas of one laid-out graph (inside a ReactFlowProvider). */
export function FlowCanvas({
  summary,
  layout,
  progress,
  selectedNodeId,
  onSelectNode,
  focusNodeId = null,
  highlightNodeId = null,
  focusSeq = 0,
  overlay = null,
}: CanvasProps) {
  const base = useMemo(() => toFlow(summary, layout), [summary, layout]);
  // Nodes the user dragged, for the layout they were dragged in (a grown layout starts afresh).
  const [dragged, setDragged] = useState<{ layout: GraphLayout; nodes: GraphFlowNode[] } | null>(null);
  const placed = dragged?.layout === layout ? dragged.nodes : base.nodes;
  const far = useStore(isFar);
  const { setCenter, getViewport, setViewport } = useReactFlow();
  const store = useStoreApi();

  const nodes = useMemo(
    () =>
      placed.map((n) => {
        const selected = n.id === selectedNodeId;
        const className = n.id === highlightNodeId ? 'wh-node--match' : undefined;
        // The overlay goes on last: dragged or measured nodes are copies made before it came.
        const entry = n.type === 'op' ? (overlay?.entries[n.id] ?? undefined) : undefined;
        const withOverlay =
          n.type === 'op' && n.data.overlay !== entry ? { ...n, data: { ...n.data, overlay: entry } } : n;
        return (withOverlay.selected ?? false) === selected && withOverlay.className === className
          ? withOverlay
          : { ...withOverlay, selected, className };
      }),
    [placed, selectedNodeId, highlightNodeId, overlay],
  );
  const edges = useMemo<RouteFlowEdge[]>(
    () =>
      selectedNodeId
        ? base.edges.map((e) =>
            e.source === selectedNodeId || e.target === selectedNodeId
              ? { ...e, className: 'wh-edge--active', markerEnd: activeMarker, zIndex: 1 }
              : e,
          )
        : base.edges,
    [base.edges, selectedNodeId],
  );

  // A click arrives both as onNodeClick and as a 'select' change (keyboard selection only as the
  // latter); report each choice once.
  const lastReported = useRef<string | null | undefined>(undefined);
  const report = useCallback(
    (id: string | null) => {
      if (lastReported.current === id) return;
      lastReported.current = id;
      queueMicrotask(() => (lastReported.current = undefined));
      onSelectNode?.(id);
    },
    [onSelectNode],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<GraphFlowNode>[]) => {
      for (const c of changes) if (c.type === 'select' && c.selected && c.id.startsWith('n')) report(c.id);
      const kept = changes.filter((c) => c.type === 'position' || c.type === 'dimensions');
      if (kept.length > 0)
        setDragged((d) => ({
          layout,
          nodes: applyNodeChanges(kept, d?.layout === layout ? d.nodes : base.nodes),
        }));
    },
    [report, layout, base.nodes],
  );
  const onNodeClick = useCallback<NodeMouseHandler<GraphFlowNode>>(
    (_, node) => {
      if (node.type === 'op') report(node.id);
    },
    [report],
  );
  const onPaneClick = useCallback(() => report(null), [report]);

  // Bring a node selected from elsewhere (inspector, search) into view when it is off screen; the
  // initial fit already shows the node selected at mount.
  const initialSelection = useRef<string | null | undefined>(selectedNodeId);
  useEffect(() => {
    if (selectedNodeId === initialSelection.current) return;
    initialSelection.current = undefined;
    if (!selectedNodeId) return;
    const n = placed.find((p) => p.id === selectedNodeId);
    if (!n || n.width === undefined || n.height === undefined) return;
    const { x, y, zoom } = getViewport();
    const { width, height } = store.getState();
    const left = n.position.x * zoom + x;
    const top = n.position.y * zoom + y;
    const visible =
      left >= 0 && top >= 0 && left + n.width * zoom <= width && top + n.height * zoom <= height;
    if (!visible)
      void setCenter(n.position.x + n.width / 2, n.position.y + n.height / 2, {
        zoom: Math.max(zoom, 0.8),
        duration: 250,
      });
    // Only a change of selection should move the view, not a dragged node.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selectedNodeId]);

  // Centre a focus set from outside (search, an opened group) whenever it is asked for again.
  // The focus at mount is framed by the first view below; later ones are centred here.
  const initialFocus = useRef<string | null>(focusNodeId);
  const focusMounted = useRef(false);
  useEffect(() => {
    if (!focusMounted.current) {
      focusMounted.current = true;
      return;
    }
    const n = focusNodeId ? placed.find((p) => p.id === focusNodeId) : undefined;
    if (!n || n.width === undefined || n.height === undefined) return;
    void setCenter(n.position.x + n.width / 2, n.position.y + n.height / 2, {
      zoom: Math.max(getViewport().zoom, 0.8),
      duration: 250,
    });
    // Only a new focus request should move the view.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [focusNodeId, focusSeq]);

  // First view once the canvas has a size: see initialViewport (fit when readable, else the top).
  const canvasWidth = useStore((s) => s.width);
  const canvasHeight = useStore((s) => s.height);
  const framed = useRef(false);
  useEffect(() => {
    if (framed.current || !canvasWidth || !canvasHeight) return;
    framed.current = true;
    const top = Math.min(...layout.nodes.map((n) => n.y));
    const topRow = layout.nodes.filter((n) => n.y < top + 120);
    const anchorX = topRow.reduce((s, n) => s + n.x + n.width / 2, 0) / Math.max(1, topRow.length);
    // A focus asked for (an opened group, a search match) is newer than the selection.
    const focus =
      layout.nodes.find((n) => n.id === initialFocus.current) ??
      layout.nodes.find((n) => n.id === initialSelection.current);
    void setViewport(initialViewport(layout.bounds, canvasWidth, canvasHeight, anchorX, focus));
  }, [canvasWidth, canvasHeight, layout, setViewport]);

  return (
    <ReactFlow<GraphFlowNode, RouteFlowEdge>
      className={far ? 'wh-flow wh-flow--far' : 'wh-flow'}
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      edgeTypes={edgeTypes}
      onNodesChange={onNodesChange}
      onNodeClick={onNodeClick}
      onPaneClick={onPaneClick}
      minZoom={0.03}
      maxZoom={2.5}
      onlyRenderVisibleElements
      nodesConnectable={false}
      edgesFocusable={false}
      edgesReconnectable={false}
      elevateNodesOnSelect={false}
      deleteKeyCode={null}
      selectionKeyCode={null}
      multiSelectionKeyCode={null}
      colorMode="light"
    >
      <Background variant={BackgroundVariant.Dots} gap={22} size={1.2} color="#d3d8df" />
      <MiniMap<GraphFlowNode>
        pannable
        zoomable
        nodeColor={miniMapColor}
        nodeStrokeWidth={0}
        nodeBorderRadius={3}
        maskColor="rgba(236, 239, 243, 0.72)"
        ariaLabel="Graph overview"
      />
      <Controls showInteractive={false} fitViewOptions={fitAll} />
      <Panel position="top-left">
        <Legend summary={summary} />
        {overlay && <OverlayLegend overlay={overlay} />}
      </Panel>
      <Panel position="top-right" className="wh-graph__facts" data-testid="graph-facts">
        {summary.nodes.length.toLocaleString('en-US')} nodes ·{' '}
        {progress ? (
          <span role="status">
            laying out… {progress.done}/{progress.total} bands
          </span>
        ) : (
          `laid out in ${formatDuration(layout.durationMs)}`
        )}
      </Panel>
    </ReactFlow>
  );
}
