import { useRef } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../store';
import { formatBytes } from './format';

/** The dark top bar: app name, the open file, and the open / export actions. */
export function Header() {
  const input = useRef<HTMLInputElement>(null);
  const { fileName, bytes, status, openFiles, exportSelectedModel, selected, saveState, openSampleSession } =
    useStudio(
      useShallow((s) => ({
        fileName: s.fileName,
        bytes: s.summary?.bytes,
        status: s.status,
        openFiles: s.openFiles,
        exportSelectedModel: s.exportSelectedModel,
        selected: s.selectedResult,
        saveState: s.saveState,
        openSampleSession: s.openSampleSession,
      })),
    );
  const stageSelected = selected !== null && selected > 0;

  return (
    <header className="app-header">
      <div className="brand">
        <svg className="brand-mark" viewBox="0 0 24 24" aria-hidden="true">
          <path
            d="M4 19 L12 4 L20 19 Z"
            fill="none"
            stroke="currentColor"
            strokeWidth="2"
            strokeLinejoin="round"
          />
          <path d="M8.5 13 H15.5" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
        </svg>
        <span className="brand-name">Whittle</span>
        <span className="brand-tag">ONNX model studio</span>
      </div>
      <div className="header-file" aria-live="polite">
        {status === 'loading' ? (
          <span className="file-chip file-chip-loading">Opening…</span>
        ) : fileName ? (
          <span className="file-chip" title={fileName}>
            <span className="file-name">{fileName}</span>
            {bytes !== undefined && <span className="file-size">{formatBytes(bytes)}</span>}
          </span>
        ) : null}
      </div>
      <div className="header-actions">
        <span
          className={`save-state save-state-${saveState}`}
          data-testid="save-state"
          data-state={saveState}
        >
          {saveState === 'saved'
            ? 'Saved'
            : saveState === 'pending'
              ? 'Saving…'
              : saveState === 'error'
                ? 'Not saved'
                : 'Restoring…'}
        </span>
        <button
          type="button"
          className="btn btn-dark"
          onClick={() => void openSampleSession()}
          title="Open the bundled sample model with its dataset"
        >
          Sample
        </button>
        <input
          ref={input}
          className="visually-hidden"
          type="file"
          data-testid="open-model"
          multiple
          accept=".onnx,.data,.bin,*"
          tabIndex={-1}
          onChange={(e) => {
            const files = Array.from(e.currentTarget.files ?? []);
            e.currentTarget.value = '';
            void openFiles(files);
          }}
        />
        <button type="button" className="btn btn-primary" onClick={() => input.current?.click()}>
          Open model
        </button>
        <button
          type="button"
          className="btn btn-dark"
          data-testid="export-model"
          disabled={!fileName}
          onClick={() => void exportSelectedModel()}
          title={
            stageSelected
              ? `Download the model of stage ${selected} as an .onnx file`
              : 'Download the opened model as an .onnx file'
          }
        >
          {stageSelected ? `Export stage ${selected}` : 'Export'}
        </button>
      </div>
    </header>
  );
}
