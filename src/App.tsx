import { useEffect } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { startStudio } from './persist/studioSession';
import { useStudio } from './store';
import { DatasetPanel } from './ui/dataset/DatasetPanel';
import { DropOverlay } from './ui/DropOverlay';
import { ErrorBanner } from './ui/ErrorBanner';
import { shownGraph } from './ui/graph/compare';
import { GraphView } from './ui/graph/GraphView';
import { useStageOverlay } from './ui/graph/useStageOverlay';
import { Header } from './ui/Header';
import { Inspector } from './ui/Inspector';
import { ModelSummaryPanel } from './ui/ModelSummaryPanel';
import { PipelinePanel } from './ui/pipeline/PipelinePanel';
import { ResultsDock } from './ui/results/ResultsDock';
import { RunPanel } from './ui/RunPanel';
import { useUndoShortcuts } from './ui/pipeline/useUndoShortcuts';

/** Name a picked node goes into an include/exclude list by: its name, or its first output when unnamed. */
function nodeName(graph: { nodes: { id: string; name: string; outputs: string[] }[] } | null, id: string) {
  const node = graph?.nodes.find((n) => n.id === id);
  return node ? node.name || node.outputs[0] || null : null;
}

function GraphArea() {
  const { stageView, status, selectedNodeId, selectNode, picking, pickNode, selectResult, graphOverlay } =
    useStudio(
      useShallow((s) => ({
        stageView: s.stageView,
        status: s.status,
        selectedNodeId: s.selectedNodeId,
        selectNode: s.selectNode,
        picking: s.picking,
        pickNode: s.pickNode,
        selectResult: s.selectResult,
        graphOverlay: s.graphOverlay,
      })),
    );
  useStageOverlay();
  // While two stages are compared the view shows one of them; picked node names come from it.
  const shown = useStudio(shownGraph);
  if (!shown)
    return (
      <div className="canvas-empty">
        {status === 'loading' ? (
          <>
            <span className="spinner" aria-hidden="true" />
            <p>Opening the model…</p>
          </>
        ) : (
          <>
            <p className="canvas-empty-title">Open an ONNX model</p>
            <p>Drop an .onnx file anywhere on the page, or use “Open model”.</p>
          </>
        )}
      </div>
    );
  return (
    <div className="graph-area">
      <GraphView
        summary={shown}
        selectedNodeId={selectedNodeId}
        overlay={graphOverlay}
        onSelectNode={(id) => {
          const name = picking && id ? nodeName(shown, id) : null;
          if (name) pickNode(name);
          else void selectNode(id);
        }}
      />
      {(stageView || picking) && (
        <div className="graph-banner" data-testid="graph-banner">
          {picking ? (
            <span>
              Click nodes to add them to <strong>{picking.param}</strong>
            </span>
          ) : (
            <span>
              Showing <strong>{stageView!.title}</strong>
            </span>
          )}
          {stageView && !picking && (
            <button type="button" className="btn btn-ghost btn-small" onClick={() => void selectResult(null)}>
              Back to original
            </button>
          )}
        </div>
      )}
    </div>
  );
}

/** The studio: header; inspector, model, dataset and run panels; graph with results below; the pipeline. */
export function App() {
  const hasSelection = useStudio((s) => s.selectedNodeId !== null || s.selectedTensor !== null);
  useUndoShortcuts();

  useEffect(() => {
    void startStudio();
  }, []);

  return (
    <div className="app">
      <Header />
      <ErrorBanner />
      <main className="workspace">
        <aside className="sidebar sidebar-left">
          {hasSelection && <Inspector />}
          <ModelSummaryPanel />
          <DatasetPanel />
          <RunPanel />
        </aside>
        <section className="center" aria-label="Graph and results">
          <div className="canvas" aria-label="Graph">
            <GraphArea />
          </div>
          <ResultsDock />
        </section>
        <aside className="sidebar sidebar-right">
          <PipelinePanel />
        </aside>
      </main>
      <DropOverlay />
    </div>
  );
}
