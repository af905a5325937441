import { lazy, Suspense } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { GraphSummary, NodeDetails, ValueSummary, WeightDetails } from '../onnx/summary';
import { useStudio } from '../store';
import type { NodeDetailsWithQuant, QuantDetails } from '../worker/modelService';
import type { TensorStats } from '../onnx/tensor';
import { shownGraph } from './graph/compare';
import { categoryColor, categoryTitle } from './graph/palette';
import { neighbourIndex, tensorFacts } from './graph/tensorSelection';
import { formatCount, formatStat } from './format';
import { Shape } from './Shape';
import { NodeEditActions } from './edit/NodeEditActions';

// recharts is loaded with the first inspected weight, keeping it out of the first paint.
const WeightHistogram = lazy(() => import('./WeightHistogram'));

function TensorList({ title, values }: { title: string; values: ValueSummary[] }) {
  if (values.length === 0) return null;
  return (
    <section className="panel-section">
      <h3 className="section-title">{title}</h3>
      <ul className="value-list">
        {values.map((v, i) => (
          <li key={`${v.name}:${i}`} className="value-row">
            <span className="value-name" title={v.name}>
              {v.name}
            </span>
            <span className="value-type">{v.type}</span>
            <Shape shape={v.shape} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function WeightCard({ weight, color }: { weight: WeightDetails; color: string }) {
  const s = weight.stats;
  return (
    <li className="weight-card" data-testid="weight" data-name={weight.name}>
      <div className="weight-head">
        <span className="value-name" title={weight.name}>
          {weight.name}
        </span>
        <span className="value-type">{weight.dtype}</span>
        <Shape shape={weight.shape} />
      </div>
      {s ? (
        <>
          <dl className="stats-grid">
            <div>
              <dt>min</dt>
              <dd>{formatStat(s.min)}</dd>
            </div>
            <div>
              <dt>max</dt>
              <dd>{formatStat(s.max)}</dd>
            </div>
            <div>
              <dt>mean</dt>
              <dd>{formatStat(s.mean)}</dd>
            </div>
            <div>
              <dt>std</dt>
              <dd>{formatStat(s.std)}</dd>
            </div>
            <div>
              <dt>sparsity</dt>
              <dd title={`${formatCount(s.zeros)} of ${formatCount(s.count)} values are zero`}>
                {(s.sparsity * 100).toFixed(1)}%
              </dd>
            </div>
            <div>
              <dt>values</dt>
              <dd>{formatCount(s.count)}</dd>
            </div>
          </dl>
          {s.histogram.length > 0 && (
            <Suspense fallback={<div className="weight-histogram placeholder" />}>
              <WeightHistogram stats={s} color={color} />
            </Suspense>
          )}
        </>
      ) : (
        <p className="note">{weight.note ?? 'No statistics for this tensor.'}</p>
      )}
    </li>
  );
}

function StatsLine({ label, stats }: { label: string; stats: TensorStats }) {
  return (
    <p className="quant-stats" data-testid="quant-stats" data-kind={label}>
      <strong>{label}</strong> min {formatStat(stats.min)} · max {formatStat(stats.max)} · mean{' '}
      {formatStat(stats.mean)} · std {formatStat(stats.std)}
    </p>
  );
}

function QuantParams({ quant, color }: { quant: QuantDetails; color: string }) {
  return (
    <section className="panel-section" data-testid="quant-params" data-pairs={quant.params.length}>
      <h3 className="section-title">Quantization</h3>
      <table className="attr-table">
        <tbody>
          {quant.params.map((p) => (
            <tr key={p.role} data-role={p.role}>
              <th scope="row">{p.role}</th>
              <td className="mono" title={p.granularity}>
                {p.granularity}: scale{' '}
                {p.scale.count === 1
                  ? formatStat(p.scale.min)
                  : `${formatStat(p.scale.min)} … ${formatStat(p.scale.max)}`}
                {p.zeroPoint &&
                  `, zero point ${p.zeroPoint.dtype} ${p.zeroPoint.min === p.zeroPoint.max ? p.zeroPoint.min : `${p.zeroPoint.min} … ${p.zeroPoint.max}`}`}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {quant.quantized && (
        <>
          <StatsLine label="integer values" stats={quant.quantized} />
          <Suspense fallback={<div className="weight-histogram placeholder" />}>
            <WeightHistogram stats={quant.quantized} color={color} />
          </Suspense>
        </>
      )}
      {quant.dequantized && (
        <>
          <StatsLine label="dequantized" stats={quant.dequantized} />
          <Suspense fallback={<div className="weight-histogram placeholder" />}>
            <WeightHistogram stats={quant.dequantized} color={color} />
          </Suspense>
        </>
      )}
      {quant.original && (
        <>
          <StatsLine label={`original float (${quant.originalName ?? ''})`} stats={quant.original} />
          <Suspense fallback={<div className="weight-histogram placeholder" />}>
            <WeightHistogram stats={quant.original} color="#98a2b3" />
          </Suspense>
        </>
      )}
    </section>
  );
}

function Details({ details }: { details: NodeDetails }) {
  const { quant, macs } = details as NodeDetailsWithQuant;
  const { node } = details;
  const color = categoryColor[node.category];
  return (
    <div className="panel-body">
      <div className="inspector-op" data-testid="inspector-op">
        <span className="op-swatch" style={{ background: color }} />
        {node.opType}
      </div>
      <dl className="facts">
        <dt>Name</dt>
        <dd className="mono">{node.name || <span className="muted">unnamed</span>}</dd>
        <dt>Domain</dt>
        <dd className="mono">{node.domain || 'ai.onnx'}</dd>
        <dt>Category</dt>
        <dd>{categoryTitle[node.category]}</dd>
        <dt>Parameters</dt>
        <dd data-testid="inspector-params" data-params={node.parameters}>
          {formatCount(node.parameters)}
        </dd>
        {macs !== undefined && (
          <>
            <dt>MACs</dt>
            <dd
              data-testid="inspector-macs"
              data-macs={macs ?? ''}
              title="Multiply-accumulates for one sample (symbolic input dimensions at 1)"
            >
              {macs === null ? (
                <span className="muted">unknown (a shape is not known)</span>
              ) : (
                formatCount(macs)
              )}
            </dd>
          </>
        )}
      </dl>
      {details.docString && <p className="doc-string">{details.docString}</p>}
      {details.attributes.length > 0 && (
        <section className="panel-section">
          <h3 className="section-title">Attributes</h3>
          <table className="attr-table">
            <tbody>
              {details.attributes.map((a) => (
                <tr key={a.name}>
                  <th scope="row">{a.name}</th>
                  <td className="mono" title={a.type}>
                    {a.value}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {quant && <QuantParams quant={quant} color={color} />}
      <TensorList title="Inputs" values={details.inputs} />
      <TensorList title="Outputs" values={details.outputs} />
      {details.weights.length > 0 && (
        <section className="panel-section">
          <h3 className="section-title">
            Weights <span className="section-count">{details.weights.length}</span>
          </h3>
          <ul className="weight-list">
            {details.weights.map((w) => (
              <WeightCard key={w.name} weight={w} color={color} />
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

/** One end of a tensor: a node to jump to, or a graph input / output. */
function TensorEnd({ id, graph, role }: { id: string; graph: GraphSummary; role: 'producer' | 'consumer' }) {
  const selectNode = useStudio((s) => s.selectNode);
  const testId = role === 'producer' ? 'tensor-producer' : 'tensor-consumer';
  if (id.startsWith('in:') || id.startsWith('out:')) {
    const input = id.startsWith('in:');
    return (
      <li className="value-row" data-testid={testId} data-node-id={id}>
        <span className="muted" style={{ gridArea: 'name' }}>
          graph {input ? 'input' : 'output'}
        </span>
        <span className="value-name mono" style={{ gridArea: 'shape' }}>
          {id.slice(input ? 3 : 4)}
        </span>
      </li>
    );
  }
  const node = graph.nodes[Number(id.slice(1))];
  return (
    <li className="value-row" data-testid={testId} data-node-id={id}>
      <button
        type="button"
        className="btn btn-ghost btn-small tensor-end"
        style={{ gridArea: 'name', justifySelf: 'start' }}
        title={`Select ${node?.name || node?.opType || id}`}
        onClick={() => void selectNode(id)}
      >
        <span className="op-swatch" style={{ background: node ? categoryColor[node.category] : undefined }} />
        {node?.opType ?? id}
      </button>
      <span className="value-name mono" style={{ gridArea: 'shape' }} title={node?.name}>
        {node?.name}
      </span>
    </li>
  );
}

/** The selected tensor: type, shape, the node that writes it and the nodes that read it. */
function TensorInspector({ tensor }: { tensor: string }) {
  const graph = useStudio(shownGraph);
  const selectTensor = useStudio((s) => s.selectTensor);
  if (!graph) return null;
  const ends = neighbourIndex(graph).tensor(tensor);
  const facts = tensorFacts(graph, tensor);
  return (
    <section
      className="panel inspector-panel"
      data-testid="inspector-tensor"
      data-tensor={tensor}
      data-producer={ends.producer ?? ''}
      data-consumers={ends.consumers.join(' ')}
    >
      <header className="panel-header">
        <h2 className="panel-title">Inspector</h2>
        <button
          type="button"
          className="btn btn-ghost btn-small"
          aria-label="Close inspector"
          title="Close (Escape)"
          onClick={() => selectTensor(null)}
        >
          Close
        </button>
      </header>
      <div className="panel-body">
        <div className="inspector-op">Tensor</div>
        <dl className="facts">
          <dt>Name</dt>
          <dd className="mono">{tensor}</dd>
          <dt>Type</dt>
          <dd className="mono" data-testid="tensor-dtype">
            {facts.dtype ?? <span className="muted">unknown</span>}
          </dd>
          <dt>Shape</dt>
          <dd data-testid="tensor-shape">
            <Shape shape={facts.shape} />
          </dd>
        </dl>
        <section className="panel-section">
          <h3 className="section-title">Producer</h3>
          <ul className="value-list">
            {ends.producer ? (
              <TensorEnd id={ends.producer} graph={graph} role="producer" />
            ) : (
              <li className="muted">none (a weight or a missing value)</li>
            )}
          </ul>
        </section>
        <section className="panel-section">
          <h3 className="section-title">
            Consumers <span className="section-count">{ends.consumers.length}</span>
          </h3>
          <ul className="value-list">
            {ends.consumers.map((c) => (
              <TensorEnd key={c} id={c} graph={graph} role="consumer" />
            ))}
          </ul>
        </section>
      </div>
    </section>
  );
}

/** Details of the selected node (attributes, tensors, statistics of each weight) or tensor. */
export function Inspector() {
  const { selectedNodeId, details, selectNode, selectedTensor } = useStudio(
    useShallow((s) => ({
      selectedNodeId: s.selectedNodeId,
      details: s.nodeDetails,
      selectNode: s.selectNode,
      selectedTensor: s.selectedTensor,
    })),
  );
  if (!selectedNodeId && selectedTensor) return <TensorInspector tensor={selectedTensor} />;
  if (!selectedNodeId) {
    return (
      <section className="panel inspector-panel inspector-empty">
        <header className="panel-header">
          <h2 className="panel-title">Inspector</h2>
        </header>
        <p className="empty-note">Select a node in the graph to see its attributes, tensors and weights.</p>
      </section>
    );
  }
  return (
    <section
      className="panel inspector-panel"
      data-testid="inspector"
      data-node-id={selectedNodeId}
      data-op={details?.node.opType}
      data-details-id={details?.node.id}
    >
      <header className="panel-header">
        <h2 className="panel-title">Inspector</h2>
        <button
          type="button"
          className="btn btn-ghost btn-small"
          aria-label="Close inspector"
          onClick={() => void selectNode(null)}
        >
          Close
        </button>
      </header>
      {details ? <Details details={details} /> : <p className="empty-note">Loading…</p>}
      <NodeEditActions nodeId={selectedNodeId} />
    </section>
  );
}
