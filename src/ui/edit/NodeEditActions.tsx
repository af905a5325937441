import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { GraphEdit } from '../../graph/edits';
import type { NodeDetails, ValueSummary } from '../../onnx/summary';
import { useStudio } from '../../store';
import { editStageId, graphEditsOf } from '../../store/pipelineSlice';
import { DimsForm } from './DimsForm';
import { EditError } from './EditError';
import { attributeEdit, attributeText, editableType, followRenames, nodeRef } from './editInput';
import './edit.css';

export interface NodeEditActionsProps {
  /** The inspected node (`n<index>` of the graph on screen). */
  nodeId: string;
}

/**
 * The inspector's edit actions for a node: rename, edit an attribute, bypass, delete, set the
 * dimensions of a graph input it reads, cut the graph at one of its outputs. Each action is
 * recorded in the pipeline's trailing `edit-graph` stage once the pipeline worker has checked it.
 */
export function NodeEditActions({ nodeId }: NodeEditActionsProps) {
  const details = useStudio((s) => s.nodeDetails);
  if (!details || details.node.id !== nodeId) return null;
  // A fresh panel per node: no form stays open on the next node.
  return <NodeEditPanel key={nodeId} details={details} />;
}

function NodeEditPanel({ details }: { details: NodeDetails }) {
  const { pending, addGraphEdit, graphInputs, steps } = useStudio(
    useShallow((s) => ({
      pending: s.editsPending > 0,
      addGraphEdit: s.addGraphEdit,
      graphInputs: (s.stageView?.graph ?? s.graph)?.inputs,
      steps: s.steps,
    })),
  );
  const { node } = details;
  // Earlier edits may have renamed this node or its tensors: new edits use the names they left.
  const renames = useMemo(
    () => followRenames(steps.filter((s) => s.enabled).flatMap((s) => graphEditsOf(s))),
    [steps],
  );
  const ref = renames.node(nodeRef(node));
  const renamed = ref !== nodeRef(node);
  /** The open form: 'rename' or `attr:<name>`. */
  const [open, setOpen] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const weights = new Set(node.weights.map((w) => w.name));
  const replacements = details.inputs.filter((v) => !weights.has(v.name));
  const [replacement, setReplacement] = useState('');
  const readsInputs = (graphInputs ?? []).filter((v) => node.inputs.includes(v.name));
  const editable = details.attributes.filter((a) => editableType(a) !== null);
  // A refusal is about the node it was asked for: it goes when another node is inspected.
  useEffect(
    () => () => {
      if (useStudio.getState().editError?.origin === 'inspector') useStudio.getState().dismissEditError();
    },
    [],
  );

  const record = async (edit: GraphEdit, what: string) => {
    setDone(null);
    const ok = await addGraphEdit(edit, 'inspector');
    if (!ok) return false;
    const { steps, editChecked } = useStudio.getState();
    const index = steps.findLastIndex((s) => s.stage === editStageId);
    const check = editChecked
      ? ` Checked on ${editChecked.basis}${editChecked.loaded ? ', and the result loads in onnxruntime' : ''}.`
      : '';
    setDone(`${what}: recorded in stage ${index + 1} (Edit graph).${check} Run the pipeline to apply it.`);
    setOpen(null);
    return true;
  };

  const openForm = (form: string, initial: string) => {
    setOpen(open === form ? null : form);
    setText(initial);
    setProblem(null);
  };

  return (
    <section className="panel-section edit-actions" data-testid="edit-actions" data-node={ref}>
      <h3 className="section-title">
        Edit{' '}
        {renamed && (
          <span className="edit-renamed" title="Renamed by an earlier edit: new edits use this name">
            as {ref}
          </span>
        )}
        {pending && (
          <span className="edit-pending" data-testid="edit-pending">
            checking…
          </span>
        )}
      </h3>
      <div className="edit-buttons">
        <button
          type="button"
          className="btn btn-ghost btn-small"
          data-testid="edit-rename"
          disabled={pending}
          aria-expanded={open === 'rename'}
          onClick={() => openForm('rename', node.name || ref)}
        >
          Rename
        </button>
        <button
          type="button"
          className="btn btn-ghost btn-small"
          data-testid="edit-bypass"
          disabled={pending || node.inputs.length === 0}
          title="Remove the node and connect its readers to its first input (same shape and type)"
          onClick={() => void record({ kind: 'bypass-node', node: ref, input: 0 }, `Bypass ${ref}`)}
        >
          Bypass
        </button>
        <button
          type="button"
          className="btn btn-ghost btn-small btn-danger-text"
          data-testid="edit-delete"
          disabled={pending}
          title={
            replacement
              ? `Delete the node; its readers read "${replacement}" instead`
              : 'Delete the node (only when nothing reads its outputs, or with a replacement)'
          }
          onClick={() =>
            void record(
              { kind: 'delete-node', node: ref, ...(replacement ? { replacement } : {}) },
              `Delete ${ref}`,
            )
          }
        >
          Delete
        </button>
        {replacements.length > 0 && (
          <label className="edit-replacement">
            <span>readers then read</span>
            <select
              data-testid="edit-delete-replacement"
              value={replacement}
              onChange={(e) => setReplacement(e.currentTarget.value)}
            >
              <option value="">nothing (no readers allowed)</option>
              {replacements.map((v) => (
                <option key={v.name} value={renames.tensor(v.name)}>
                  {renames.tensor(v.name)}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      {open === 'rename' && (
        <TextForm
          label={`New name of ${ref}`}
          text={text}
          testId="edit-rename"
          problem={problem}
          disabled={pending}
          onText={setText}
          onCancel={() => setOpen(null)}
          onSubmit={() => {
            const to = text.trim();
            if (!to) return setProblem('Give the node a name');
            void record({ kind: 'rename-node', node: ref, to }, `Rename ${ref}`);
          }}
        />
      )}

      {editable.length > 0 && (
        <Group title="Attributes">
          {editable.map((a) => {
            const isOpen = open === `attr:${a.name}`;
            return (
              <div key={a.name} className="edit-row" data-attr={a.name}>
                <div className="edit-row-head">
                  <span className="value-name">{a.name}</span>
                  <span className="edit-shape mono" title={a.type}>
                    {a.value}
                  </span>
                  <button
                    type="button"
                    className="btn btn-ghost btn-small"
                    data-testid="edit-attribute"
                    data-attr={a.name}
                    disabled={pending}
                    aria-expanded={isOpen}
                    onClick={() => openForm(`attr:${a.name}`, attributeText(a))}
                  >
                    Edit
                  </button>
                </div>
                {isOpen && (
                  <TextForm
                    label={`${a.name} (${a.type.toLowerCase()})`}
                    text={text}
                    testId="edit-attribute"
                    problem={problem}
                    disabled={pending}
                    onText={setText}
                    onCancel={() => setOpen(null)}
                    onSubmit={() => {
                      const r = attributeEdit(ref, a.name, editableType(a)!, text);
                      if ('error' in r) return setProblem(r.error);
                      void record(r.edit, `Set ${a.name} of ${ref}`);
                    }}
                  />
                )}
              </div>
            );
          })}
        </Group>
      )}

      {readsInputs.length > 0 && (
        <Group title="Graph inputs">
          {readsInputs.map((v) => (
            <DimsForm
              key={v.name}
              input={{ ...v, name: renames.tensor(v.name) }}
              disabled={pending}
              onEdit={(edit) => record(edit, `Set the dimensions of ${v.name}`)}
            />
          ))}
        </Group>
      )}

      <Group title="Outputs">
        {details.outputs.map((v: ValueSummary) => {
          const tensor = renames.tensor(v.name);
          return (
            <div key={v.name} className="edit-row">
              <div className="edit-row-head">
                <span className="value-name" title={tensor}>
                  {tensor}
                </span>
                <button
                  type="button"
                  className="btn btn-ghost btn-small"
                  data-testid="edit-cut"
                  data-tensor={v.name}
                  disabled={pending}
                  title={`Make "${tensor}" the graph's only output and drop what only the old outputs needed`}
                  onClick={() => void record({ kind: 'cut-graph', outputs: [tensor] }, `Cut at ${tensor}`)}
                >
                  Cut graph here
                </button>
              </div>
            </div>
          );
        })}
      </Group>

      <EditError origin="inspector" />
      {done && (
        <p className="hint edit-done" data-testid="edit-done">
          {done}
        </p>
      )}
    </section>
  );
}

function Group({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="edit-group">
      <h4 className="edit-group-title">{title}</h4>
      {children}
    </div>
  );
}

function TextForm(props: {
  label: string;
  text: string;
  testId: string;
  problem: string | null;
  disabled: boolean;
  onText(text: string): void;
  onSubmit(): void;
  onCancel(): void;
}) {
  return (
    <form
      className="edit-form"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      <input
        type="text"
        data-testid={`${props.testId}-input`}
        aria-label={props.label}
        value={props.text}
        autoFocus
        onChange={(e) => props.onText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') props.onCancel();
        }}
      />
      <div className="edit-form-actions">
        <button
          type="submit"
          className="btn btn-primary btn-small"
          data-testid={`${props.testId}-apply`}
          disabled={props.disabled}
        >
          Apply
        </button>
        <button type="button" className="btn btn-ghost btn-small" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
      {props.problem && <p className="field-error">{props.problem}</p>}
    </form>
  );
}
