import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../../store';
import type { EditOrigin } from '../../store/pipelineSlice';

/** The edit-graph stage's refusal of the last edit asked for at `origin`, with a way to dismiss it. */
export function EditError({ origin }: { origin: EditOrigin }) {
  const { error, dismiss } = useStudio(
    useShallow((s) => ({ error: s.editError, dismiss: s.dismissEditError })),
  );
  if (!error || error.origin !== origin) return null;
  return (
    <div className="edit-error" role="alert" data-testid="edit-error">
      <p>
        {error.message}
        {error.basis && <span className="edit-basis">Checked on {error.basis}.</span>}
      </p>
      <button
        type="button"
        className="icon-btn"
        aria-label="Dismiss"
        title="Dismiss"
        data-testid="edit-error-dismiss"
        onClick={dismiss}
      >
        ×
      </button>
    </div>
  );
}
