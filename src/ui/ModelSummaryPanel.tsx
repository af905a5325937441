import { useShallow } from 'zustand/react/shallow';
import { opCategory, type ModelSummary, type ValueSummary } from '../onnx/summary';
import { useStudio } from '../store';
import { categoryColor } from './graph/palette';
import { formatBytes, formatCompact, formatCount } from './format';
import { Shape } from './Shape';

function ValueTable({ title, values }: { title: string; values: ValueSummary[] }) {
  return (
    <section className="panel-section">
      <h3 className="section-title">
        {title} <span className="section-count">{values.length}</span>
      </h3>
      <ul className="value-list">
        {values.map((v) => (
          <li key={v.name} className="value-row">
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

function OperatorHistogram({ ops }: { ops: Record<string, number> }) {
  const rows = Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const max = rows[0]?.[1] ?? 1;
  return (
    <section className="panel-section">
      <h3 className="section-title">
        Operators <span className="section-count">{rows.length}</span>
      </h3>
      <ul className="op-histogram">
        {rows.map(([op, count]) => {
          const color = categoryColor[opCategory(op.split('.').pop() ?? op)];
          return (
            <li key={op} className="op-row">
              <span className="op-name" title={op}>
                {op}
              </span>
              <span className="op-bar-track">
                <span className="op-bar" style={{ width: `${(count / max) * 100}%`, background: color }} />
              </span>
              <span className="op-count">{count}</span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function Facts({ summary }: { summary: ModelSummary }) {
  const producer = [summary.producer, summary.producerVersion].filter(Boolean).join(' ') || '—';
  return (
    <dl className="facts">
      <dt>Producer</dt>
      <dd>{producer}</dd>
      <dt>IR version</dt>
      <dd>{summary.irVersion}</dd>
      <dt>Opsets</dt>
      <dd className="chips">
        {Object.entries(summary.opsets).map(([domain, version]) => (
          <span key={domain} className="chip">
            {domain} {version}
          </span>
        ))}
      </dd>
      <dt>Nodes</dt>
      <dd>
        {formatCount(summary.nodes)}
        {summary.nodesTotal !== summary.nodes && (
          <span className="muted"> ({formatCount(summary.nodesTotal)} with subgraphs)</span>
        )}
      </dd>
      <dt>Initializers</dt>
      <dd>{formatCount(summary.initializers)}</dd>
      <dt>Parameters</dt>
      <dd title={`${formatCount(summary.parameters)} parameters`}>
        {formatCount(summary.parameters)}
        {summary.parameters >= 1e4 && <span className="muted"> ({formatCompact(summary.parameters)})</span>}
      </dd>
      <dt>File size</dt>
      <dd title={`${formatCount(summary.bytes)} bytes`}>{formatBytes(summary.bytes)}</dd>
    </dl>
  );
}

/** The loaded model's facts: the numbers of `inspect --json`, inputs, outputs and the operator mix. */
export function ModelSummaryPanel() {
  const { status, summary, fileName, warnings, externalFiles } = useStudio(
    useShallow((s) => ({
      status: s.status,
      summary: s.summary,
      fileName: s.fileName,
      warnings: s.warnings,
      externalFiles: s.externalFiles,
    })),
  );
  const state = status === 'loading' ? 'loading' : status === 'ready' && summary ? 'ready' : 'error';
  const numbers =
    state === 'ready' && summary
      ? {
          'data-nodes': summary.nodes,
          'data-initializers': summary.initializers,
          'data-parameters': summary.parameters,
          'data-bytes': summary.bytes,
        }
      : {};

  return (
    <section className="panel summary-panel" data-testid="model-summary" data-state={state} {...numbers}>
      <header className="panel-header">
        <h2 className="panel-title">Model</h2>
        {state === 'loading' && <span className="spinner" aria-label="Loading" />}
      </header>
      {!summary ? (
        <p className="empty-note">
          {state === 'loading' ? 'Opening the model…' : 'No model is open. Drop an .onnx file anywhere.'}
        </p>
      ) : (
        <div className="panel-body">
          <div className="model-title" title={fileName ?? ''}>
            {fileName}
          </div>
          {summary.docString && <p className="doc-string">{summary.docString}</p>}
          <Facts summary={summary} />
          {externalFiles.length > 0 && <p className="note">External data: {externalFiles.join(', ')}</p>}
          {warnings.map((w) => (
            <p key={w} className="note note-warning">
              {w}
            </p>
          ))}
          <ValueTable title="Inputs" values={summary.inputs} />
          <ValueTable title="Outputs" values={summary.outputs} />
          <OperatorHistogram ops={summary.ops} />
        </div>
      )}
    </section>
  );
}
