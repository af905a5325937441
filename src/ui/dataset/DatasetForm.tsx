import { useEffect, useState } from 'react';
import type { DatasetManifest } from '../../data/dataset';
import type { ValueSummary } from '../../onnx/summary';
import type { DatasetInfo } from '../../worker/pipelineService';

type Preprocess = NonNullable<DatasetManifest['preprocess']>;
type Split = NonNullable<DatasetManifest['split']>;

/** A text box that commits on Enter or when it loses focus (each commit reloads the dataset). */
function CommitInput({
  value,
  onCommit,
  label,
  testId,
  placeholder,
  type = 'text',
}: {
  value: string;
  onCommit(text: string): void;
  label: string;
  testId?: string;
  placeholder?: string;
  type?: 'text' | 'number';
}) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  const commit = () => {
    if (text !== value) onCommit(text);
  };
  return (
    <input
      type={type}
      aria-label={label}
      data-testid={testId}
      value={text}
      placeholder={placeholder}
      onChange={(e) => setText(e.currentTarget.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === 'Enter') commit();
      }}
    />
  );
}

/** "0.5, 0.5" → [0.5, 0.5]; anything unparseable stays as NaN so the manifest check names the field. */
function numberList(text: string): number[] {
  return text
    .split(/[,\s]+/)
    .filter(Boolean)
    .map(Number);
}

const listText = (v: readonly number[] | undefined) => (v ? v.join(', ') : '');

export interface DatasetFormProps {
  manifest: DatasetManifest;
  info: DatasetInfo | null;
  inputs: ValueSummary[];
  onChange(manifest: DatasetManifest): void;
}

/** Preprocessing, labels, input and split sizes of the dataset manifest, edited in place. */
export function DatasetForm({ manifest, info, inputs, onChange }: DatasetFormProps) {
  const p: Preprocess = manifest.preprocess ?? {};
  const split: Split = manifest.split ?? { train: 0 };
  const setPre = (patch: Partial<Preprocess>) => onChange({ ...manifest, preprocess: { ...p, ...patch } });
  const setSplit = (patch: Partial<Split>) => onChange({ ...manifest, split: { ...split, ...patch } });
  const count = info?.count;
  const lower = manifest.samples.toLowerCase();
  const labelChoices = info?.choices.csvColumns ?? info?.choices.npzKeys;
  const image = (info?.input.shape.length ?? 4) === 4;

  return (
    <div className="dataset-form" data-testid="dataset-form">
      {inputs.length > 1 && (
        <label className="field">
          <span className="field-label">Model input</span>
          <select
            value={manifest.input ?? ''}
            onChange={(e) => onChange({ ...manifest, input: e.currentTarget.value })}
          >
            {inputs.map((v) => (
              <option key={v.name} value={v.name}>
                {v.name}
              </option>
            ))}
          </select>
        </label>
      )}
      <label className="field">
        <span className="field-label">
          Labels {lower.endsWith('.csv') ? '(column)' : lower.endsWith('.npz') ? '(array)' : ''}
        </span>
        {labelChoices ? (
          <select
            data-testid="dataset-labels"
            value={manifest.labels ?? ''}
            onChange={(e) => {
              const v = e.currentTarget.value;
              const { labels: _old, ...rest } = manifest;
              onChange(v ? { ...rest, labels: v } : rest);
            }}
          >
            <option value="">(none)</option>
            {labelChoices.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        ) : (
          <span className="field-value" data-testid="dataset-labels">
            {manifest.labels ??
              (lower.endsWith('.zip') || lower.endsWith('/') ? 'class folder names' : 'none')}
          </span>
        )}
      </label>

      <h3 className="section-title">Preprocessing</h3>
      <div className="field-grid field-grid-2">
        <label
          className="field"
          title="Memory order of the model input: channels first (NCHW) or last (NHWC)"
        >
          <span className="field-label">Layout</span>
          <select
            data-testid="preprocess-layout"
            value={p.layout ?? 'NCHW'}
            onChange={(e) => setPre({ layout: e.currentTarget.value as Preprocess['layout'] })}
          >
            <option value="NCHW">NCHW</option>
            <option value="NHWC">NHWC</option>
          </select>
        </label>
        <label className="field" title="Channel order of colour images fed to the model">
          <span className="field-label">Channels</span>
          <select
            data-testid="preprocess-channels"
            value={p.channels ?? ''}
            disabled={!image}
            onChange={(e) => {
              const v = e.currentTarget.value;
              const { channels: _old, ...rest } = p;
              onChange({
                ...manifest,
                preprocess: v ? { ...rest, channels: v as Preprocess['channels'] } : rest,
              });
            }}
          >
            <option value="">as stored</option>
            <option value="RGB">RGB</option>
            <option value="BGR">BGR</option>
            <option value="gray">gray</option>
          </select>
        </label>
        <label className="field" title="Multiplier applied first (1/255 maps pixels to 0–1)">
          <span className="field-label">Scale</span>
          <CommitInput
            label="Scale"
            testId="preprocess-scale"
            value={p.scale === undefined ? '1' : String(Number(p.scale.toPrecision(8)))}
            onCommit={(t) => setPre({ scale: t.trim() === '1/255' ? 1 / 255 : Number(t) })}
          />
        </label>
        <label
          className="field"
          title="Image size the stored samples are resized to (height × width); the model's when empty"
        >
          <span className="field-label">Resize H × W</span>
          <CommitInput
            label="Resize"
            testId="preprocess-resize"
            placeholder={info && image ? `${info.input.shape.slice(-2).join(' × ')} (model)` : 'model size'}
            value={p.resize ? p.resize.join(' × ') : ''}
            onCommit={(t) => {
              const v = t
                .split(/[×x,\s]+/)
                .filter(Boolean)
                .map(Number);
              const { resize: _old, ...rest } = p;
              onChange({
                ...manifest,
                preprocess: v.length ? { ...rest, resize: [v[0], v[1] ?? v[0]] as [number, number] } : rest,
              });
            }}
          />
        </label>
        <label className="field" title="Subtracted per channel after scaling">
          <span className="field-label">Mean</span>
          <CommitInput
            label="Mean"
            testId="preprocess-mean"
            value={listText(p.mean ?? [0])}
            onCommit={(t) => setPre({ mean: numberList(t) })}
          />
        </label>
        <label className="field" title="Divides per channel after the mean">
          <span className="field-label">Std</span>
          <CommitInput
            label="Std"
            testId="preprocess-std"
            value={listText(p.std ?? [1])}
            onCommit={(t) => setPre({ std: numberList(t) })}
          />
        </label>
      </div>
      <label
        className="field"
        title="The model input's shape with a batch of 1 (needed when it has symbolic dims)"
      >
        <span className="field-label">Input shape</span>
        <CommitInput
          label="Input shape"
          testId="preprocess-shape"
          placeholder={info ? info.input.shape.join(', ') : 'from the model'}
          value={p.shape ? p.shape.join(', ') : ''}
          onCommit={(t) => {
            const v = numberList(t);
            const { shape: _old, ...rest } = p;
            onChange({ ...manifest, preprocess: v.length ? { ...rest, shape: v } : rest });
          }}
        />
      </label>

      <h3 className="section-title">
        Splits{' '}
        {count !== undefined && <span className="section-count">of {count} samples, in file order</span>}
      </h3>
      <div className="field-grid">
        {(['train', 'calibration', 'evaluation'] as const).map((k) => (
          <label
            key={k}
            className="field"
            title={
              k === 'train'
                ? 'Held back for training stages'
                : k === 'calibration'
                  ? 'Samples quantization calibrates on'
                  : 'Samples every stage is measured on'
            }
          >
            <span className="field-label">{k[0].toUpperCase() + k.slice(1)}</span>
            <CommitInput
              type="number"
              label={`${k} samples`}
              testId={`split-${k}`}
              value={String(info?.splits[k] ?? split[k] ?? 0)}
              onCommit={(t) => setSplit({ [k]: Math.max(0, Math.round(Number(t))) })}
            />
          </label>
        ))}
      </div>
      {info && count !== undefined && count > 0 && (
        <div className="split-bar" aria-hidden="true">
          {(['train', 'calibration', 'evaluation'] as const).map((k) => (
            <span key={k} className={`split-${k}`} style={{ width: `${(info.splits[k] / count) * 100}%` }} />
          ))}
        </div>
      )}
    </div>
  );
}
