import { useState } from 'react';
import type { GraphEdit } from '../../graph/edits';
import type { ValueSummary } from '../../onnx/summary';
import { dimText, parseDims } from './editInput';

export interface DimsFormProps {
  input: ValueSummary;
  disabled: boolean;
  /** Record the edit; resolves to whether the stage took it. */
  onEdit(edit: GraphEdit): Promise<boolean>;
}

/**
 * "Set dimensions" of a graph input: one field per dimension, a size fixes it (a batch of 1), a
 * name makes it symbolic, an empty field leaves it unknown.
 */
export function DimsForm({ input, disabled, onEdit }: DimsFormProps) {
  const [texts, setTexts] = useState<string[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const shape = input.shape;
  return (
    <div className="edit-row edit-dims" data-input={input.name}>
      <div className="edit-row-head">
        <span className="value-name" title={input.name}>
          {input.name}
        </span>
        <span className="edit-shape mono">[{shape?.map((d) => d ?? '?').join(', ') ?? 'unknown'}]</span>
        <button
          type="button"
          className="btn btn-ghost btn-small"
          data-testid="edit-set-dims"
          data-input={input.name}
          disabled={disabled || !shape}
          title={shape ? 'Fix a size or name a symbolic dimension' : 'This input has no declared shape'}
          onClick={() => {
            setTexts(texts ? null : (shape ?? []).map(dimText));
            setProblem(null);
          }}
        >
          Set dimensions
        </button>
      </div>
      {texts && (
        <form
          className="edit-form"
          onSubmit={(e) => {
            e.preventDefault();
            const parsed = parseDims(texts);
            if ('error' in parsed) {
              setProblem(parsed.error);
              return;
            }
            setProblem(null);
            void onEdit({ kind: 'set-input-dims', input: input.name, dims: parsed.dims }).then(
              (done) => done && setTexts(null),
            );
          }}
        >
          <div className="edit-dim-fields">
            {texts.map((t, i) => (
              <input
                key={i}
                type="text"
                data-testid="edit-dim"
                data-index={i}
                aria-label={`${input.name} dimension ${i + 1}`}
                placeholder="?"
                value={t}
                onChange={(e) => {
                  const v = e.currentTarget.value;
                  setTexts((xs) => xs && xs.map((x, k) => (k === i ? v : x)));
                }}
              />
            ))}
          </div>
          <div className="edit-form-actions">
            <button
              type="submit"
              className="btn btn-primary btn-small"
              data-testid="edit-dims-apply"
              disabled={disabled}
            >
              Apply
            </button>
            <button type="button" className="btn btn-ghost btn-small" onClick={() => setTexts(null)}>
              Cancel
            </button>
          </div>
          {problem && <p className="field-error">{problem}</p>}
        </form>
      )}
    </div>
  );
}
