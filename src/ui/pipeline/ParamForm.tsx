import { useEffect, useState, type ReactNode } from 'react';
import type { ParamField } from './paramFields';
import { LayerPicker } from './LayerPicker';
import { pipelineService } from '../../worker/pipelineClient';

export interface ParamFormProps {
  fields: ParamField[];
  params: Record<string, unknown>;
  /** Problems by parameter name. */
  errors: Record<string, string>;
  stepKey: string;
  onChange(name: string, value: unknown): void;
}

/** A number shown without float noise (0.30000000000000004 → 0.3). */
function shortNumber(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : '';
}

function NumberInput({
  field,
  value,
  onChange,
}: {
  field: Extract<ParamField, { kind: 'number' }>;
  value: unknown;
  onChange(v: unknown): void;
}) {
  const shown = typeof value === 'number' ? shortNumber(value) : '';
  // Typed text stays as typed until it parses (e.g. "0." on the way to "0.5").
  const [text, setText] = useState(shown);
  useEffect(() => setText(shown), [shown]);
  return (
    <input
      type="number"
      className="param-number"
      data-param={field.name}
      aria-label={field.label}
      value={text}
      step={field.integer ? 1 : 'any'}
      {...(field.min !== undefined ? { min: field.min } : {})}
      {...(field.max !== undefined ? { max: field.max } : {})}
      placeholder={field.optional ? 'not set' : undefined}
      onChange={(e) => {
        const t = e.currentTarget.value;
        setText(t);
        if (t.trim() === '') onChange(field.optional ? undefined : NaN);
        else if (Number.isFinite(Number(t))) onChange(Number(t));
      }}
    />
  );
}

function StringListInput({
  name,
  label,
  value,
  onChange,
}: {
  name: string;
  label: string;
  value: string[];
  onChange(v: string[]): void;
}) {
  const shown = value.join(', ');
  const [text, setText] = useState(shown);
  useEffect(() => setText(shown), [shown]);
  return (
    <input
      type="text"
      className="param-text"
      data-param={name}
      aria-label={label}
      value={text}
      onChange={(e) => setText(e.currentTarget.value)}
      onBlur={() =>
        onChange(
          text
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        )
      }
    />
  );
}

/** Structured parameters (lists of objects) as JSON text, checked by the stage's schema on commit. */
function JsonInput({
  name,
  label,
  value,
  onChange,
}: {
  name: string;
  label: string;
  value: unknown;
  onChange(v: unknown): void;
}) {
  const shown = JSON.stringify(value, null, 1);
  const [text, setText] = useState(shown);
  const [syntax, setSyntax] = useState<string | null>(null);
  useEffect(() => setText(shown), [shown]);
  return (
    <>
      <textarea
        className="param-json mono"
        data-param={name}
        aria-label={label}
        rows={Math.min(8, Math.max(2, text.split('\n').length))}
        value={text}
        spellCheck={false}
        onChange={(e) => setText(e.currentTarget.value)}
        onBlur={() => {
          try {
            onChange(JSON.parse(text));
            setSyntax(null);
          } catch (e) {
            setSyntax(`not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
          }
        }}
      />
      {syntax && <p className="field-error">{syntax}</p>}
    </>
  );
}

function asStrings(value: unknown, fallback: string[]): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : fallback;
}

function Field({
  field,
  value,
  error,
  stepKey,
  onChange,
}: {
  field: ParamField;
  value: unknown;
  error?: string;
  stepKey: string;
  onChange(v: unknown): void;
}) {
  let control: ReactNode;
  switch (field.kind) {
    case 'number':
      control = (
        <div className="param-number-row">
          {field.slider && (
            <input
              type="range"
              className="param-slider"
              data-param={field.name}
              aria-label={`${field.label} slider`}
              min={field.min}
              max={field.max}
              step={field.step}
              value={
                typeof value === 'number' && Number.isFinite(value) ? value : (field.default ?? field.min)
              }
              onChange={(e) => onChange(Number(e.currentTarget.value))}
            />
          )}
          <NumberInput field={field} value={value} onChange={onChange} />
        </div>
      );
      break;
    case 'enum':
      control = (
        <select
          data-param={field.name}
          aria-label={field.label}
          value={typeof value === 'string' ? value : (field.default ?? '')}
          onChange={(e) => onChange(e.currentTarget.value)}
        >
          {field.options.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      );
      break;
    case 'boolean':
      return (
        <div className={`param-field param-boolean${error ? ' has-error' : ''}`} title={field.description}>
          <label className="check">
            <input
              type="checkbox"
              data-param={field.name}
              checked={typeof value === 'boolean' ? value : (field.default ?? false)}
              onChange={(e) => onChange(e.currentTarget.checked)}
            />
            <span>{field.label}</span>
            {field.description && <InfoMark text={field.description} />}
          </label>
          {error && <FieldError name={field.name} message={error} />}
        </div>
      );
    case 'layers':
      control = (
        <LayerPicker
          param={field.name}
          stepKey={stepKey}
          value={asStrings(value, field.default)}
          onChange={onChange}
        />
      );
      break;
    case 'enumList': {
      const chosen = asStrings(value, field.default);
      control = (
        <div className="param-checks" data-param={field.name}>
          {field.options.map((o) => (
            <label key={o} className="check check-small">
              <input
                type="checkbox"
                checked={chosen.includes(o)}
                onChange={(e) =>
                  onChange(e.currentTarget.checked ? [...chosen, o] : chosen.filter((c) => c !== o))
                }
              />
              <span>{o}</span>
            </label>
          ))}
        </div>
      );
      break;
    }
    case 'stringList':
      control = (
        <StringListInput
          name={field.name}
          label={field.label}
          value={asStrings(value, field.default)}
          onChange={onChange}
        />
      );
      break;
    case 'text':
      control = (
        <>
          <input
            type="text"
            data-param={field.name}
            aria-label={field.label}
            value={typeof value === 'string' ? value : (field.default ?? '')}
            onChange={(e) => onChange(e.currentTarget.value)}
          />
          {/* Parameters naming a file (e.g. distill's studentFile) pick it here; the worker keeps the bytes. */}
          {field.name.endsWith('File') && <StageFilePicker param={field.name} onPicked={onChange} />}
        </>
      );
      break;
    case 'json':
      control = (
        <JsonInput
          name={field.name}
          label={field.label}
          value={value ?? field.default ?? null}
          onChange={onChange}
        />
      );
      break;
  }
  return (
    <div className={`param-field${error ? ' has-error' : ''}`} title={field.description}>
      <div className="param-label">
        <span>{field.label}</span>
        {field.description && <InfoMark text={field.description} />}
        {field.kind === 'number' && field.min !== undefined && field.max !== undefined && (
          <span className="param-range">
            {shortNumber(field.min)}–{shortNumber(field.max)}
          </span>
        )}
      </div>
      {control}
      {error && <FieldError name={field.name} message={error} />}
    </div>
  );
}

function StageFilePicker({ param, onPicked }: { param: string; onPicked(name: string): void }) {
  const [status, setStatus] = useState('');
  return (
    <label className="stage-file">
      <input
        type="file"
        accept=".onnx"
        data-testid={`stage-file-${param}`}
        onChange={async (e) => {
          const file = e.currentTarget.files?.[0];
          if (!file) return;
          try {
            await pipelineService().addStageFile({
              name: file.name,
              bytes: new Uint8Array(await file.arrayBuffer()),
            });
            setStatus(`${file.name} added`);
            onPicked(file.name);
          } catch (err) {
            setStatus(err instanceof Error ? err.message : String(err));
          }
        }}
      />
      {status && <span className="hint">{status}</span>}
    </label>
  );
}

function InfoMark({ text }: { text: string }) {
  return (
    <span className="info-mark" title={text} aria-label={text} role="img">
      ?
    </span>
  );
}

function FieldError({ name, message }: { name: string; message: string }) {
  return (
    <p className="field-error" data-testid="param-error" data-param={name}>
      {message}
    </p>
  );
}

/** The parameter form of one stage, generated from its schema (see paramFields). */
export function ParamForm({ fields, params, errors, stepKey, onChange }: ParamFormProps) {
  if (fields.length === 0) return <p className="hint">This stage has no parameters.</p>;
  return (
    <div className="param-form">
      {fields.map((f) => (
        <Field
          key={f.name}
          field={f}
          value={params[f.name]}
          error={errors[f.name]}
          stepKey={stepKey}
          onChange={(v) => onChange(f.name, v)}
        />
      ))}
      {Object.entries(errors)
        .filter(([name]) => !fields.some((f) => f.name === name))
        .map(([name, message]) => (
          <FieldError key={name} name={name} message={`${name}: ${message}`} />
        ))}
    </div>
  );
}
