import { ReactFlowProvider } from '@xyflow/react';
import type { GraphSummary } from '../../onnx/summary';
import { FlowCanvas } from './FlowCanvas';
import { useGraphLayout } from './useGraphLayout';
import './graph.css';

export interface GraphViewProps {
  /** The graph to draw, from summarizeGraph (node ids `n<i>`, `in:<name>`, `out:<name>`). */
  summary: GraphSummary;
  selectedNodeId?: string | null;
  /** Called with an operator node's id when it is clicked, and with null when the empty canvas is clicked. */
  onSelectNode?: (id: string | null) => void;
}

/**
 * The model's graph as an interactive node editor: operators coloured by category with their
 * weights as badges, graph inputs and outputs as pills, edges labelled with tensor shapes, laid out
 * top to bottom by ELK in a Web Worker.
 */
export function GraphView({ summary, selectedNodeId = null, onSelectNode }: GraphViewProps) {
  const state = useGraphLayout(summary);
  return (
    <div className="wh-graph" data-testid="graph-view" data-state={state.status}>
      {state.status === 'ready' || state.status === 'partial' ? (
        <ReactFlowProvider key={summaryKey(summary)}>
          <FlowCanvas
            summary={summary}
            layout={state.layout}
            progress={state.status === 'partial' ? { done: state.done, total: state.total } : undefined}
            selectedNodeId={selectedNodeId}
            onSelectNode={onSelectNode}
          />
        </ReactFlowProvider>
      ) : state.status === 'pending' ? (
        <div className="wh-graph__status" role="status" aria-live="polite">
          <div className="wh-graph__spinner" aria-hidden="true" />
          <div>
            Laying out {summary.nodes.length.toLocaleString('en-US')} nodes…
            {state.total > 1 && (
              <progress className="wh-graph__progress" max={state.total} value={state.done}>
                {state.done}/{state.total}
              </progress>
            )}
          </div>
        </div>
      ) : (
        <div className="wh-graph__status wh-graph__status--error" role="status">
          Could not lay out the graph: {state.message}
        </div>
      )}
    </div>
  );
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
