import { useRef, useState, type DragEvent } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { ValueSummary } from '../../onnx/summary';
import { useStudio } from '../../store';
import { formatBytes } from '../../report/format';
import { DatasetForm } from './DatasetForm';
import { droppedFiles, pickedFiles } from './readDrop';
import { SamplePreview } from './SamplePreview';

const noInputs: ValueSummary[] = [];
const accept = '.npy,.npz,.csv,.pb,.zip,.json,.png,.jpg,.jpeg,.bmp,.gif,.webp';

function hasFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer.types).includes('Files');
}

/**
 * The dataset: open files, a folder or a manifest (or drop them here), see what was loaded, edit the
 * preprocessing and the splits, preview samples, export the manifest.
 */
export function DatasetPanel() {
  const s = useStudio(
    useShallow((st) => ({
      status: st.datasetStatus,
      source: st.datasetSource,
      manifest: st.datasetManifest,
      info: st.datasetInfo,
      error: st.datasetError,
      inputs: st.summary?.inputs ?? noInputs,
      hasModel: st.summary !== null,
      openDatasetFiles: st.openDatasetFiles,
      loadSampleDataset: st.loadSampleDataset,
      updateManifest: st.updateManifest,
      clearDataset: st.clearDataset,
      exportManifest: st.exportManifest,
    })),
  );
  const files = useRef<HTMLInputElement>(null);
  const folder = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const info = s.info;

  // Files dropped here are a dataset, not a model: the page-wide drop handler must not see them.
  const zoneEvents = {
    onDragEnter: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.stopPropagation();
      setOver(true);
    },
    onDragOver: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.stopPropagation();
      e.dataTransfer.dropEffect = 'copy';
    },
    onDragLeave: (e: DragEvent) => {
      e.stopPropagation();
      if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver(false);
    },
    onDrop: (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      e.stopPropagation();
      setOver(false);
      void droppedFiles(e.dataTransfer).then((picked) => s.openDatasetFiles(picked));
    },
  };

  return (
    <section
      className={`panel dataset-panel${over ? ' is-drop-target' : ''}`}
      data-testid="dataset-panel"
      data-state={s.status}
      {...zoneEvents}
    >
      <header className="panel-header">
        <h2 className="panel-title">Dataset</h2>
        <span className="panel-subtitle">
          {s.status === 'loading'
            ? 'loading…'
            : info && s.status === 'ready'
              ? `${info.count} samples${s.source === 'sample' ? ' · sample' : ''}`
              : 'none'}
        </span>
      </header>
      <div className="panel-body">
        <div className="dataset-actions">
          <input
            ref={files}
            type="file"
            multiple
            accept={accept}
            className="visually-hidden"
            data-testid="open-dataset"
            tabIndex={-1}
            onChange={(e) => {
              const picked = pickedFiles(e.currentTarget.files);
              e.currentTarget.value = '';
              void s.openDatasetFiles(picked);
            }}
          />
          <input
            ref={folder}
            type="file"
            multiple
            className="visually-hidden"
            data-testid="open-dataset-folder"
            tabIndex={-1}
            {...{ webkitdirectory: '' }}
            onChange={(e) => {
              const picked = pickedFiles(e.currentTarget.files);
              e.currentTarget.value = '';
              void s.openDatasetFiles(picked);
            }}
          />
          <button
            type="button"
            className="btn btn-ghost btn-small"
            disabled={!s.hasModel}
            onClick={() => files.current?.click()}
            title=".npy/.npz (+ labels .npy), .csv, ONNX .pb tensors, a .zip of class folders, or a manifest .json"
          >
            Open files
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            disabled={!s.hasModel}
            onClick={() => folder.current?.click()}
            title="A folder of images in one subfolder per class, or a folder of .pb files"
          >
            Open folder
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            disabled={!s.hasModel}
            onClick={() => void s.loadSampleDataset()}
            title="The digits sample dataset (fits the sample model)"
          >
            Sample
          </button>
          {s.status !== 'none' && (
            <button
              type="button"
              className="btn btn-ghost btn-small"
              onClick={() => void s.clearDataset()}
              title="Measure on generated inputs instead"
            >
              Clear
            </button>
          )}
        </div>
        <p className="hint drop-hint-inline">or drop files or a folder on this panel</p>

        {s.error && (
          <p className="field-error dataset-error" data-testid="dataset-error">
            {s.error}
          </p>
        )}
        {s.status === 'none' && (
          <p className="note" data-testid="dataset-none">
            No dataset: fidelity (agreement with the original, SQNR, max error) is measured on generated
            inputs; accuracy needs labeled data.
          </p>
        )}
        {info && s.status !== 'none' && (
          <dl
            className="facts"
            data-testid="dataset-info"
            data-count={info.count}
            data-labels={info.hasLabels}
          >
            <dt>Samples</dt>
            <dd title={info.files.join('\n')}>
              <span className="mono">{info.name}</span> · {info.count} ({formatBytes(info.bytes)})
            </dd>
            <dt>Each</dt>
            <dd>
              [{info.sampleShape.join(' × ')}] → <span className="mono">{info.input.name}</span> [
              {info.input.shape.join(' × ')}]
            </dd>
            <dt>Labels</dt>
            <dd>
              {info.hasLabels
                ? `${info.classes} class${info.classes === 1 ? '' : 'es'}${info.classNames ? ` (${info.classNames.slice(0, 4).join(', ')}${info.classNames.length > 4 ? ', …' : ''})` : ''}`
                : 'none: accuracy is not measured'}
            </dd>
            <dt>Splits</dt>
            <dd data-testid="dataset-splits">
              train {info.splits.train} · calibration {info.splits.calibration} · evaluation{' '}
              {info.splits.evaluation}
            </dd>
          </dl>
        )}
        {info && s.status === 'ready' && <SamplePreview samples={info.preview} />}
        {s.manifest && (
          <details className="dataset-details" open={s.status === 'error'}>
            <summary>Preprocessing and splits</summary>
            <DatasetForm
              manifest={s.manifest}
              info={s.status === 'ready' ? info : null}
              inputs={s.inputs}
              onChange={(m) => void s.updateManifest(m)}
            />
          </details>
        )}
        {s.manifest && (
          <button
            type="button"
            className="btn btn-ghost btn-small dataset-export"
            data-testid="export-manifest"
            onClick={s.exportManifest}
            title="Download the dataset manifest (the CLI's --data takes it)"
          >
            Export manifest
          </button>
        )}
      </div>
    </section>
  );
}
