import { useCallback, useEffect, useMemo, useRef, useState, type RefObject } from 'react';
import {
  applyNodeChanges,
  Background,
  BackgroundVariant,
  ControlButton,
  Controls,
  getViewportForBounds,
  MarkerType,
  MiniMap,
  Panel,
  ReactFlow,
  useReactFlow,
  useStore,
  useStoreApi,
  type EdgeMouseHandler,
  type NodeChange,
  type NodeMouseHandler,
  type ReactFlowState,
} from '@xyflow/react';
import type { GraphLayout } from '../../layout/types';
import type { GraphOverlay } from '../../graph/overlayView';
import type { GraphSummary } from '../../onnx/summary';
import { Legend, OverlayLegend } from './Legend';
import { FrameNode } from './FrameNode';
import { FrameActionsContext, type FrameActions } from './frameActions';
import { IoNode } from './IoNode';
import { OpNode } from './OpNode';
import { RouteEdge } from './RouteEdge';
import { activeEdgeColor, toFlow } from './toFlow';
import { categoryColor } from './palette';
import { initialViewport } from './viewport';
import type { ItemCost } from './cost';
import { imageFrame, renderViewImage, type ViewImageFormat } from './exportView';
import type { TensorHighlight } from './tensorSelection';
import type { GraphFlowNode, RouteFlowEdge } from './flowTypes';

const nodeTypes = { op: OpNode, io: IoNode, frame: FrameNode };
const edgeTypes = { route: RouteEdge };
const activeMarker = { type: MarkerType.ArrowClosed, width: 14, height: 14, color: activeEdgeColor };
/** Colour of the edges of a selected tensor (as the producer's ring in graph.css). */
const tensorEdgeColor = '#0f766e';
const tensorMarker = { type: MarkerType.ArrowClosed, width: 14, height: 14, color: tensorEdgeColor };
/** The canvas colour, also the background of exported images. */
const canvasColor = '#f8f9fb';
/** Room on the right of an exported image for the cost labels drawn beside nodes. */
const costLabelWidth = 190;

/** Draws the whole current view (not only what is on screen) as an image. */
export type ViewExporter = (format: ViewImageFormat) => Promise<Blob>;

/** Below this zoom, text would be unreadably small: nodes drop names, badges and edge labels. */
const farZoom = 0.45;
const isFar = (s: ReactFlowState) => s.transform[2] < farZoom;
function miniMapColor(node: GraphFlowNode): string {
  if (node.type === 'frame') return 'rgba(148, 163, 184, 0.18)';
  return node.type === 'op' ? categoryColor[node.data.category] : '#9aa3ad';
}

/** The fit-view icon of React Flow's controls. */
function FitIcon() {
  return (
    <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 30" aria-hidden="true">
      <path d="M3.692 4.63c0-.53.4-.938.939-.938h5.215V0H4.708C2.13 0 0 2.054 0 4.63v5.216h3.692V4.631zM27.354 0h-5.2v3.692h5.17c.53 0 .984.4.984.939v5.215H32V4.631A4.624 4.624 0 0027.354 0zm.954 24.83c0 .532-.4.94-.939.94h-5.215v3.768h5.215c2.577 0 4.631-2.13 4.631-4.707v-5.139h-3.692v5.139zm-23.677.94c-.531 0-.939-.4-.939-.94v-5.138H0v5.139c0 2.577 2.13 4.707 4.708 4.707h5.138V25.77H4.631z" />
    </svg>
  );
}

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
  /** The selected tensor's ends and edges, highlighted (everything else dimmed). */
  tensorHighlight?: TensorHighlight | null;
  /** Called with the tensor of a clicked edge. */
  onSelectTensor?: (tensor: string) => void;
  /** MACs and parameters of the visible items, drawn beside them. */
  costs?: ReadonlyMap<string, ItemCost> | null;
  /** Receives the function that exports the view while the canvas is mounted. */
  exporterRef?: RefObject<ViewExporter | null>;
  /** Called with a group's id when the collapse button of its frame is clicked. */
  onCollapseGroup?: (groupId: string) => void;
}

/** Resolves after the browser has painted `count` more frames. */
function frames(count: number): Promise<void> {
  return new Promise((resolve) => {
    const step = (left: number) => (left <= 0 ? resolve() : requestAnimationFrame(() => step(left - 1)));
    step(count);
  });
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
  tensorHighlight = null,
  onSelectTensor,
  costs = null,
  exporterRef,
  onCollapseGroup,
}: CanvasProps) {
  const base = useMemo(() => toFlow(summary, layout), [summary, layout]);
  // Where the layout put each node, in absolute coordinates (a flow node inside a frame has a relative position).
  const placedAt = useMemo(() => new Map(layout.nodes.map((n) => [n.id, n])), [layout]);
  const frameActions = useMemo<FrameActions>(
    () => ({ collapse: (id) => onCollapseGroup?.(id) }),
    [onCollapseGroup],
  );
  // Nodes the user dragged, for the layout they were dragged in (a grown layout starts afresh).
  const [dragged, setDragged] = useState<{ layout: GraphLayout; nodes: GraphFlowNode[] } | null>(null);
  const placed = dragged?.layout === layout ? dragged.nodes : base.nodes;
  const far = useStore(isFar);
  const { setCenter, getViewport, setViewport, getNodes, getNodesBounds } = useReactFlow<
    GraphFlowNode,
    RouteFlowEdge
  >();
  const store = useStoreApi();

  const nodes = useMemo(
    () =>
      placed.map((n) => {
        if (n.type === 'frame') return n;
        const selected = n.id === selectedNodeId;
        const className = n.id === highlightNodeId ? 'wh-node--match' : undefined;
        // Overlay, highlight and cost go on last: dragged or measured nodes are copies made before.
        const highlight = tensorHighlight ? (tensorHighlight.items.get(n.id) ?? 'dim') : undefined;
        let painted: GraphFlowNode = n;
        if (n.type === 'op') {
          const entry = overlay?.entries[n.id] ?? undefined;
          const cost = costs?.get(n.id);
          if (n.data.overlay !== entry || n.data.highlight !== highlight || n.data.cost !== cost)
            painted = { ...n, data: { ...n.data, overlay: entry, highlight, cost } };
        } else if (n.data.highlight !== highlight) painted = { ...n, data: { ...n.data, highlight } };
        return (painted.selected ?? false) === selected && painted.className === className
          ? painted
          : { ...painted, selected, className };
      }),
    [placed, selectedNodeId, highlightNodeId, overlay, tensorHighlight, costs],
  );
  const edges = useMemo<RouteFlowEdge[]>(() => {
    if (tensorHighlight)
      return base.edges.map((e) =>
        tensorHighlight.edges.has(e.id)
          ? { ...e, className: 'wh-edge--tensor', markerEnd: tensorMarker, zIndex: 1 }
          : { ...e, className: 'wh-edge--dim' },
      );
    return selectedNodeId
      ? base.edges.map((e) =>
          e.source === selectedNodeId || e.target === selectedNodeId
            ? { ...e, className: 'wh-edge--active', markerEnd: activeMarker, zIndex: 1 }
            : e,
        )
      : base.edges;
  }, [base.edges, selectedNodeId, tensorHighlight]);

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
      // A click on a frame's empty inside is a click on the canvas.
      if (node.type === 'op') report(node.id);
      else if (node.type === 'frame') report(null);
    },
    [report],
  );
  const onPaneClick = useCallback(() => report(null), [report]);
  // Fit everything: React Flow's own fit waits for every node to be measured, which culling prevents.
  const fitAll = useCallback(() => {
    const { width, height } = store.getState();
    const bounds = getNodesBounds(getNodes());
    void setViewport(getViewportForBounds(bounds, width, height, 0.03, 1.1, 0.08), { duration: 200 });
  }, [store, getNodes, getNodesBounds, setViewport]);

  const onEdgeClick = useCallback<EdgeMouseHandler<RouteFlowEdge>>(
    (_, edge) => {
      if (edge.data?.tensor) onSelectTensor?.(edge.data.tensor);
    },
    [onSelectTensor],
  );

  // Export draws every item of the current view: culling is off (and text shown) while it runs.
  const wrapper = useRef<HTMLDivElement>(null);
  const [exporting, setExporting] = useState(false);
  const exportView = useCallback<ViewExporter>(
    async (format) => {
      setExporting(true);
      try {
        const all = getNodes();
        for (let i = 0; i < 120; i++) {
          await frames(1);
          const drawn = wrapper.current?.querySelectorAll('.react-flow__node').length ?? 0;
          if (drawn >= all.length) break;
        }
        const viewport = wrapper.current?.querySelector<HTMLElement>('.react-flow__viewport');
        if (!viewport) throw new Error('The graph is not on screen.');
        const frame = imageFrame(getNodesBounds(all), { extraRight: costs ? costLabelWidth : 0 });
        return await renderViewImage(viewport, frame, format, canvasColor);
      } finally {
        setExporting(false);
      }
    },
    [getNodes, getNodesBounds, costs],
  );
  useEffect(() => {
    if (!exporterRef) return;
    exporterRef.current = exportView;
    return () => {
      if (exporterRef.current === exportView) exporterRef.current = null;
    };
  }, [exporterRef, exportView]);

  // Bring a node selected from elsewhere (inspector, search) into view when it is off screen; the
  // initial fit already shows the node selected at mount.
  const initialSelection = useRef<string | null | undefined>(selectedNodeId);
  useEffect(() => {
    if (selectedNodeId === initialSelection.current) return;
    initialSelection.current = undefined;
    if (!selectedNodeId) return;
    const n = placedAt.get(selectedNodeId);
    if (!n) return;
    const { x, y, zoom } = getViewport();
    const { width, height } = store.getState();
    const left = n.x * zoom + x;
    const top = n.y * zoom + y;
    const visible =
      left >= 0 && top >= 0 && left + n.width * zoom <= width && top + n.height * zoom <= height;
    if (!visible)
      void setCenter(n.x + n.width / 2, n.y + n.height / 2, {
        zoom: Math.max(zoom, 0.8),
        duration: 250,
      });
    // Only a change of selection should move the view, not a dragged node.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selectedNodeId]);

  // Centre a focus set from outside (search, an opened group, a collapsed one) whenever it is asked
  // for again. The focus at mount is framed by the first view below; later ones are centred here,
  // as soon as the layout that draws the node is on screen (the canvas stays mounted across views).
  const initialFocus = useRef<string | null>(focusNodeId);
  const centredSeq = useRef(focusSeq);
  useEffect(() => {
    if (centredSeq.current === focusSeq) return;
    const n = focusNodeId ? placedAt.get(focusNodeId) : undefined;
    if (!n) return;
    centredSeq.current = focusSeq;
    // A search match is jumped to (stepping through matches should not wait on animations, and a
    // click right after lands where the match is); other moves glide.
    void setCenter(n.x + n.width / 2, n.y + n.height / 2, {
      zoom: Math.max(getViewport().zoom, 0.8),
      duration: highlightNodeId === focusNodeId ? 0 : 250,
    });
    // The highlight comes with the focus request: only a new request (or its node drawn) moves the view.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [focusNodeId, focusSeq, placedAt, setCenter, getViewport]);

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
    <FrameActionsContext.Provider value={frameActions}>
      <ReactFlow<GraphFlowNode, RouteFlowEdge>
        ref={wrapper}
        className={far && !exporting ? 'wh-flow wh-flow--far' : 'wh-flow'}
        data-exporting={exporting || undefined}
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onNodesChange={onNodesChange}
        onNodeClick={onNodeClick}
        onPaneClick={onPaneClick}
        onEdgeClick={onEdgeClick}
        minZoom={0.03}
        maxZoom={2.5}
        onlyRenderVisibleElements={!exporting}
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
        <Controls showInteractive={false} showFitView={false}>
          <ControlButton
            className="react-flow__controls-fitview"
            onClick={fitAll}
            title="Fit view"
            aria-label="Fit view"
          >
            <FitIcon />
          </ControlButton>
        </Controls>
        <Panel position="top-left">
          <Legend summary={summary} />
          {overlay && <OverlayLegend overlay={overlay} />}
        </Panel>
        <Panel position="top-right" className="wh-graph__facts" data-testid="graph-facts">
          {summary.nodes.length.toLocaleString('en-US')} nodes ·{' '}
          {progress ? (
            <span role="status">
              laying out…{progress.total > 1 ? ` ${progress.done}/${progress.total} bands` : ''}
            </span>
          ) : (
            `laid out in ${formatDuration(layout.durationMs)}`
          )}
        </Panel>
      </ReactFlow>
    </FrameActionsContext.Provider>
  );
}
