import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { ReactFlowProvider } from '@xyflow/react';
import { useShallow } from 'zustand/react/shallow';
import type { GraphOverlay } from '../../graph/overlayView';
import type { GraphSummary } from '../../onnx/summary';
import {
  collapsedView,
  groupGraph,
  groupPath,
  initialExpanded,
  openGroups,
  type CollapsedView,
  type Grouping,
} from '../../graph/grouping';
import type { GraphLayout } from '../../layout/types';
import { revealMatch, searchGraph, stepMatch } from '../../graph/search';
import { useStudio } from '../../store';
import { downloadBlob } from '../../store/download';
import { modelService } from '../../worker/client';
import { CompareControls } from './CompareControls';
import { itemCosts } from './cost';
import type { ViewImageFormat } from './exportView';
import { FlowCanvas, type ViewExporter } from './FlowCanvas';
import { neighbourIndex, tensorHighlight } from './tensorSelection';
import { useGraphLayout } from './useGraphLayout';
import './graph.css';

export interface GraphViewProps {
  /** The graph to draw, from summarizeGraph (node ids `n<i>`, `in:<name>`, `out:<name>`). */
  summary: GraphSummary;
  selectedNodeId?: string | null;
  /** Called with an operator node's id when it is clicked, and with null when the empty canvas is clicked. */
  onSelectNode?: (id: string | null) => void;
  /** A stage's changes or a heatmap painted on the nodes (ids as in `summary`). */
  overlay?: GraphOverlay | null;
}

const groupings = new WeakMap<GraphSummary, Grouping>();
const initial = new WeakMap<Grouping, Set<string>>();
const views = new WeakMap<Grouping, Map<string, OpenView>>();

function groupingOf(summary: GraphSummary): Grouping {
  let g = groupings.get(summary);
  if (!g) groupings.set(summary, (g = groupGraph(summary)));
  return g;
}
function initialOf(grouping: Grouping): Set<string> {
  let e = initial.get(grouping);
  if (!e) initial.set(grouping, (e = initialExpanded(grouping)));
  return e;
}
/** A view of the graph: the key naming the groups drawn open (as frames), and what is drawn. */
interface OpenView {
  key: string;
  view: CollapsedView;
}

/**
 * One view object per set of open groups (groups expanded inside a closed one do not count), so that
 * going back to a view reuses it and its layout.
 */
function viewOf(summary: GraphSummary, grouping: Grouping, expanded: ReadonlySet<string>): OpenView {
  let byKey = views.get(grouping);
  if (!byKey) views.set(grouping, (byKey = new Map()));
  const open = openGroups(grouping, expanded);
  const key = open.join('\n');
  let v = byKey.get(key);
  if (!v) byKey.set(key, (v = { key, view: collapsedView(summary, grouping, new Set(open)) }));
  return v;
}

/** A view as drawn: the graph, what was drawn of it, and its layout. */
interface Drawn {
  summary: GraphSummary;
  view: CollapsedView;
  layout: GraphLayout;
}

interface Expansion {
  grouping: Grouping;
  expanded: Set<string>;
}

interface Focus {
  id: string;
  seq: number;
  highlight: boolean;
}

/** Per-node MACs of the graph on screen, fetched from the model worker while costs are shown. */
function useNodeMacs(summary: GraphSummary, enabled: boolean): Float64Array | null {
  const [macs, setMacs] = useState<{ summary: GraphSummary; macs: Float64Array } | null>(null);
  useEffect(() => {
    if (!enabled || macs?.summary === summary) return;
    let live = true;
    void modelService()
      .nodeCosts()
      .then((r) => {
        // The worker answers for the model it shows; a graph swapped meanwhile is asked again.
        if (live && r.ok && r.macs.length === summary.nodes.length) setMacs({ summary, macs: r.macs });
      });
    return () => {
      live = false;
    };
  }, [enabled, summary, macs]);
  return enabled && macs?.summary === summary ? macs.macs : null;
}

/** `digits-cnn.onnx` → `digits-cnn.graph.svg`. */
function imageName(modelFile: string | null, format: ViewImageFormat, suffix: string): string {
  const base = (modelFile ?? 'model.onnx').replace(/\.onnx$/i, '');
  return `${base}${suffix}.graph.${format}`;
}

/**
 * The model's graph as an interactive node editor: operators coloured by category with their
 * weights as badges, graph inputs and outputs as pills, edges labelled with tensor shapes, laid out
 * top to bottom by ELK in a Web Worker. Large graphs are grouped by the hierarchy in node names
 * (and repeated blocks); big groups start collapsed and open on click. A search box finds nodes
 * and tensors by name or op type and steps through the matches. A click on an edge selects its
 * tensor (producer and consumers highlighted, Escape clears); "Cost" labels nodes with their MACs
 * and parameters; two stages of a run can be compared in turn; the view exports as SVG or PNG.
 */
export function GraphView({
  summary: given,
  selectedNodeId = null,
  onSelectNode,
  overlay: givenOverlay = null,
}: GraphViewProps) {
  const { comparison, selectedTensor, selectTensor, showCost, setShowCost, fileName, showError } = useStudio(
    useShallow((s) => ({
      comparison: s.comparison,
      selectedTensor: s.selectedTensor,
      selectTensor: s.selectTensor,
      showCost: s.showCost,
      setShowCost: s.setShowCost,
      fileName: s.fileName,
      showError: s.showError,
    })),
  );
  // While two stages are compared, the view shows one of them with its differences marked.
  const summary = comparison ? comparison.graphs[comparison.side] : given;
  const overlay = comparison ? comparison.overlays[comparison.side] : givenOverlay;
  const grouping = groupingOf(summary);
  const [expansion, setExpansion] = useState<Expansion | null>(null);
  const expanded = expansion?.grouping === grouping ? expansion.expanded : initialOf(grouping);
  const shown = viewOf(summary, grouping, expanded);
  const { view } = shown;
  // The worker gets every expanded group: those hidden in a closed group tell it how that group
  // will look when opened, so it can lay it out ahead of time.
  const expandedList = useMemo(() => [...expanded], [expanded]);
  const state = useGraphLayout(summary, expandedList, shown.key);
  // While a new view is laid out, the last one drawn of the same graph stays on screen.
  const [lastDrawn, setLastDrawn] = useState<Drawn | null>(null);
  const ready = state.status === 'ready' ? state.layout : null;
  useEffect(() => {
    if (ready) setLastDrawn({ summary, view, layout: ready });
  }, [summary, view, ready]);
  const drawn: Drawn | null =
    state.status === 'ready' || state.status === 'partial'
      ? { summary, view, layout: state.layout }
      : state.status === 'pending' && lastDrawn?.summary === summary
        ? lastDrawn
        : null;
  const [focus, setFocus] = useState<Focus | null>(null);

  const expand = useCallback(
    (ids: readonly string[]) => {
      if (ids.every((id) => expanded.has(id))) return;
      setExpansion({ grouping, expanded: new Set([...expanded, ...ids]) });
    },
    [grouping, expanded],
  );
  // Groups open inside a collapsed one stay open (hidden): opening it again shows it as it was, and
  // its inner layout comes from the layout worker's cache.
  const collapse = useCallback(
    (id: string) => {
      if (!expanded.has(id)) return;
      const next = new Set(expanded);
      next.delete(id);
      setExpansion({ grouping, expanded: next });
      setFocus((f) => ({ id, seq: (f?.seq ?? 0) + 1, highlight: false }));
    },
    [grouping, expanded],
  );

  // A node selected elsewhere (inspector, results) inside a collapsed group: open its groups.
  useEffect(() => {
    if (selectedNodeId && view.itemOf(selectedNodeId) !== selectedNodeId)
      expand(groupPath(grouping, selectedNodeId));
    // Only a new selection opens groups: collapsing the selected node's group must stay collapsed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selectedNodeId, grouping]);

  const onSelect = useCallback(
    (id: string | null) => {
      if (id && view.groups.has(id)) {
        expand([id]);
        setFocus((f) => ({ id: firstNodeOf(grouping, id), seq: (f?.seq ?? 0) + 1, highlight: false }));
        return;
      }
      if (id === null) selectTensor(null);
      onSelectNode?.(id);
    },
    [view, grouping, expand, onSelectNode, selectTensor],
  );

  // A node selected anywhere ends the tensor selection; Escape ends it too.
  useEffect(() => {
    if (selectedNodeId && useStudio.getState().selectedTensor) selectTensor(null);
  }, [selectedNodeId, selectTensor]);
  useEffect(() => {
    if (!selectedTensor) return;
    const onKey = (e: globalThis.KeyboardEvent) => {
      const tag = (e.target as HTMLElement | null)?.tagName;
      if (e.key === 'Escape' && tag !== 'INPUT' && tag !== 'SELECT' && tag !== 'TEXTAREA') selectTensor(null);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [selectedTensor, selectTensor]);

  // Arrow keys walk the data flow from the selected node: up to a producer, down to a consumer,
  // left/right between readers of the same input. React Flow would move the node instead.
  const neighbours = neighbourIndex(summary);
  const highlight = useMemo(() => {
    if (!selectedTensor) return null;
    const h = tensorHighlight(neighbours, view, selectedTensor);
    return h.items.size > 0 ? h : null;
  }, [neighbours, view, selectedTensor]);

  const macs = useNodeMacs(summary, showCost);
  const costs = useMemo(() => (macs ? itemCosts(summary, macs, view.itemOf) : null), [summary, macs, view]);

  const exporter = useRef<ViewExporter | null>(null);
  const [exporting, setExporting] = useState<ViewImageFormat | null>(null);
  const exportImage = async (format: ViewImageFormat) => {
    if (!exporter.current || exporting) return;
    setExporting(format);
    try {
      const suffix = comparison ? `.stage${comparison[comparison.side]}` : '';
      downloadBlob(await exporter.current(format), imageName(fileName, format, suffix));
    } catch (e) {
      showError(
        `Could not export the graph as ${format.toUpperCase()}: ${e instanceof Error ? e.message : String(e)}`,
      );
    } finally {
      setExporting(null);
    }
  };
  const onKeyDownCapture = (e: KeyboardEvent<HTMLDivElement>) => {
    const direction = arrowDirections[e.key];
    if (!direction || !selectedNodeId || (e.target as HTMLElement).tagName === 'INPUT') return;
    e.preventDefault();
    e.stopPropagation();
    const next = neighbours.step(selectedNodeId, direction);
    if (next && !next.startsWith('in:') && !next.startsWith('out:')) {
      onSelectNode?.(next);
      setFocus((f) => ({ id: next, seq: (f?.seq ?? 0) + 1, highlight: false }));
    }
  };

  const [query, setQuery] = useState('');
  const [current, setCurrent] = useState(-1);
  const result = useMemo(() => searchGraph(summary, query, grouping), [summary, query, grouping]);
  const goTo = useCallback(
    (step: 1 | -1) => {
      const i = stepMatch(result, current, step);
      setCurrent(i);
      if (i < 0) return;
      const match = result.matches[i];
      const next = revealMatch(expanded, match);
      if (next.size !== expanded.size) setExpansion({ grouping, expanded: next });
      setFocus((f) => ({ id: match.nodeId, seq: (f?.seq ?? 0) + 1, highlight: true }));
    },
    [result, current, expanded, grouping],
  );
  const onSearchKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      goTo(e.shiftKey ? -1 : 1);
    } else if (e.key === 'Escape') {
      setQuery('');
      setCurrent(-1);
      setFocus(null);
    }
  };

  // The visible item that stands for the focused node: itself once its groups are open.
  const focusItem = focus ? view.itemOf(focus.id) : null;
  const pathOf = selectedNodeId ?? focus?.id;
  const pathGroups = pathOf ? openPrefix(groupPath(grouping, pathOf), expanded) : [];

  return (
    <div
      className="wh-graph"
      data-testid="graph-view"
      data-state={state.status}
      data-items={view.summary.nodes.length}
      data-tensor={highlight ? selectedTensor : undefined}
      data-show-cost={showCost || undefined}
      data-costs={costs ? 'ready' : undefined}
      data-compare-side={comparison?.side}
      onKeyDownCapture={onKeyDownCapture}
    >
      <div className="wh-graph__bar">
        <div className="wh-graph__tools" role="search">
          <input
            type="search"
            data-testid="graph-search"
            placeholder="Find node, tensor or op…"
            aria-label="Find node, tensor or op type"
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setCurrent(-1);
            }}
            onKeyDown={onSearchKey}
          />
          <span
            className="wh-graph__count"
            data-testid="graph-search-count"
            data-count={result.count}
            aria-live="polite"
          >
            {query.trim()
              ? `${current >= 0 ? `${current + 1} / ` : ''}${result.count.toLocaleString('en-US')}`
              : ''}
          </span>
          <button
            type="button"
            data-testid="graph-search-prev"
            aria-label="Previous match"
            disabled={result.count === 0}
            onClick={() => goTo(-1)}
          >
            ↑
          </button>
          <button
            type="button"
            data-testid="graph-search-next"
            aria-label="Next match"
            disabled={result.count === 0}
            onClick={() => goTo(1)}
          >
            ↓
          </button>
        </div>
        <div className="wh-graph__view-tools" role="toolbar" aria-label="Graph view">
          <button
            type="button"
            data-testid="graph-show-cost"
            aria-pressed={showCost}
            title="Label each node with its multiply-accumulates (one sample) and parameters"
            onClick={() => setShowCost(!showCost)}
          >
            Cost
          </button>
          <button
            type="button"
            data-testid="export-view-svg"
            title="Download the current view as SVG"
            disabled={exporting !== null || state.status === 'pending' || state.status === 'error'}
            onClick={() => void exportImage('svg')}
          >
            {exporting === 'svg' ? 'SVG…' : 'SVG'}
          </button>
          <button
            type="button"
            data-testid="export-view-png"
            title="Download the current view as PNG"
            disabled={exporting !== null || state.status === 'pending' || state.status === 'error'}
            onClick={() => void exportImage('png')}
          >
            {exporting === 'png' ? 'PNG…' : 'PNG'}
          </button>
          <CompareControls />
        </div>
      </div>
      <div className="wh-graph__canvas">
        {pathGroups.length > 0 && (
          <div className="wh-graph__path" data-testid="graph-path" aria-label="Open groups">
            {pathGroups.map((g) => (
              <button
                type="button"
                key={g}
                data-group={g}
                title={`Collapse ${grouping.groups.get(g)!.label}`}
                onClick={() => collapse(g)}
              >
                ▾ {grouping.groups.get(g)!.label}
              </button>
            ))}
          </div>
        )}
        {drawn ? (
          <ReactFlowProvider key={summaryKey(drawn.summary)}>
            <FlowCanvas
              summary={drawn.view.summary}
              layout={drawn.layout}
              progress={
                state.status === 'partial' || state.status === 'pending'
                  ? { done: state.done, total: state.total }
                  : undefined
              }
              selectedNodeId={selectedNodeId}
              onSelectNode={onSelect}
              focusNodeId={focusItem}
              focusSeq={focus?.seq ?? 0}
              highlightNodeId={focus?.highlight ? focusItem : null}
              overlay={overlay}
              tensorHighlight={highlight}
              onSelectTensor={selectTensor}
              costs={costs}
              exporterRef={exporter}
              onCollapseGroup={collapse}
            />
          </ReactFlowProvider>
        ) : state.status === 'pending' ? (
          <div className="wh-graph__status" role="status" aria-live="polite">
            <div className="wh-graph__spinner" aria-hidden="true" />
            <div>
              Laying out {view.summary.nodes.length.toLocaleString('en-US')} nodes…
              {state.total > 1 && (
                <progress className="wh-graph__progress" max={state.total} value={state.done}>
                  {state.done}/{state.total}
                </progress>
              )}
            </div>
          </div>
        ) : state.status === 'error' ? (
          <div className="wh-graph__status wh-graph__status--error" role="status">
            Could not lay out the graph: {state.message}
          </div>
        ) : null}
      </div>
    </div>
  );
}

const arrowDirections: Record<string, 'up' | 'down' | 'left' | 'right' | undefined> = {
  ArrowUp: 'up',
  ArrowDown: 'down',
  ArrowLeft: 'left',
  ArrowRight: 'right',
};

/** The open groups of a path, up to the first closed one. */
function openPrefix(path: string[], expanded: ReadonlySet<string>): string[] {
  const closed = path.findIndex((g) => !expanded.has(g));
  return closed < 0 ? path : path.slice(0, closed);
}

/** The first node inside a group (what the view centres on when the group opens). */
function firstNodeOf(grouping: Grouping, id: string): string {
  let g = grouping.groups.get(id);
  while (g) {
    const child = g.childGroups[0] ? grouping.groups.get(g.childGroups[0]) : undefined;
    const member = g.members[0];
    if (member && (!child || Number(member.slice(1)) < child.first)) return member;
    g = child;
  }
  return id;
}

const summaryKeys = new WeakMap<GraphSummary, number>();
let nextSummaryKey = 1;

/**
 * A stable key per summary object: a new graph remounts the canvas (fresh state, fit view), while a
 * large graph's layout growing band by band keeps the user's viewport.
 */
function summaryKey(summary: GraphSummary): number {
  let k = summaryKeys.get(summary);
  if (k === undefined) summaryKeys.set(summary, (k = nextSummaryKey++));
  return k;
}
