import { useStudio } from '../store';

/** The current error, above the workspace; the loaded model stays usable underneath. */
export function ErrorBanner() {
  const error = useStudio((s) => s.error);
  const dismiss = useStudio((s) => s.dismissError);
  if (!error) return null;
  return (
    <div className="error-banner" role="alert" data-testid="app-error">
      <span className="error-icon" aria-hidden="true">
        !
      </span>
      <p className="error-message">{error}</p>
      <button type="button" className="btn btn-ghost btn-small" onClick={dismiss} aria-label="Dismiss error">
        Dismiss
      </button>
    </div>
  );
}
