import { useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { describeEdit } from '../../graph/edits';
import { useStudio } from '../../store';
import { graphEditsOf } from '../../store/pipelineSlice';
import type { PipelineStep } from '../../store/pipelineSteps';
import { DimsForm } from './DimsForm';
import { EditError } from './EditError';
import './edit.css';

export interface EditListProps {
  step: PipelineStep;
}

/**
 * The body of an `edit-graph` stage card: its edits in the order they apply, each with a remove
 * button, and the model's inputs with "Set dimensions". Edits made in the inspector land here.
 */
export function EditList({ step }: EditListProps) {
  const { pending, removeGraphEdit, addGraphEdit, inputs } = useStudio(
    useShallow((s) => ({
      pending: s.editsPending > 0,
      removeGraphEdit: s.removeGraphEdit,
      addGraphEdit: s.addGraphEdit,
      inputs: s.summary?.inputs,
    })),
  );
  const [showInputs, setShowInputs] = useState(false);
  const edits = graphEditsOf(step);
  const origin = `step:${step.key}` as const;
  return (
    <div className="edit-stage">
      {edits.length === 0 ? (
        <p className="hint edit-empty" data-testid="edit-list" data-count={0}>
          No edits yet: select a node in the graph and use the inspector's Edit section.
        </p>
      ) : (
        <ol className="edit-list" data-testid="edit-list" data-count={edits.length}>
          {edits.map((e, i) => (
            <li key={i} className="edit-item" data-testid="edit-item" data-kind={e.kind}>
              <span className="edit-item-number">{i + 1}</span>
              <span className="edit-item-text" title={describeEdit(e)}>
                {describeEdit(e)}
              </span>
              <button
                type="button"
                className="icon-btn icon-btn-danger"
                data-testid="edit-remove"
                aria-label={`Remove edit ${i + 1}`}
                title="Remove this edit"
                disabled={pending}
                onClick={() => void removeGraphEdit(step.key, i)}
              >
                ×
              </button>
            </li>
          ))}
        </ol>
      )}
      {pending && (
        <p className="edit-pending" data-testid="edit-pending">
          checking the edit…
        </p>
      )}
      <EditError origin={origin} />
      {inputs && inputs.length > 0 && (
        <div className="edit-group">
          <button
            type="button"
            className="btn btn-ghost btn-small"
            aria-expanded={showInputs}
            onClick={() => setShowInputs(!showInputs)}
          >
            {showInputs ? '▾' : '▸'} Input dimensions
          </button>
          {showInputs &&
            inputs.map((v) => (
              <DimsForm
                key={v.name}
                input={v}
                disabled={pending}
                onEdit={(edit) => addGraphEdit(edit, origin, step.key)}
              />
            ))}
        </div>
      )}
    </div>
  );
}
