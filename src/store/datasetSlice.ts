import { transfer } from 'comlink';
import type { DatasetManifest } from '../data/dataset';
import { saveDataset } from '../persist/session';
import type { DatasetFile } from '../worker/datasetFiles';
import { pipelineService } from '../worker/pipelineClient';
import type { DatasetInfo, DatasetResult } from '../worker/pipelineService';
import { downloadBlob } from './download';
import { whenModelSynced } from './modelSync';
import type { SliceCreator } from './types';

export type DatasetStatus = 'none' | 'loading' | 'ready' | 'error';

/** A file picked or dropped for a dataset, with its path inside the picked folder. */
export interface PickedFile {
  path: string;
  file: File;
}

/** The dataset as the page knows it: the manifest and a description; the samples live in the worker. */
export interface DatasetSlice {
  datasetStatus: DatasetStatus;
  datasetSource: 'none' | 'sample' | 'files';
  datasetManifest: DatasetManifest | null;
  datasetInfo: DatasetInfo | null;
  /** Why the dataset cannot be used (names the manifest field), or null. */
  datasetError: string | null;
  /** Files, folders or a manifest picked or dropped by the user. */
  openDatasetFiles(files: PickedFile[]): Promise<void>;
  /**
   * Open the sample dataset (with the sample model), optionally with an edited manifest; `quiet`
   * keeps a mismatch out of the error banner (a restore, not the user's action).
   */
  loadSampleDataset(manifest?: DatasetManifest | null, options?: { quiet?: boolean }): Promise<void>;
  /** Reopen the dataset files the worker saved on an earlier visit, with their manifest. */
  restoreSavedDataset(manifest: DatasetManifest | null): Promise<void>;
  /** Load the same files with an edited manifest (preprocessing, splits, labels, input). */
  updateManifest(manifest: DatasetManifest): Promise<void>;
  /** Measure on generated inputs again. */
  clearDataset(): Promise<void>;
  /** Download the manifest (CONTRACT.md), for the CLI's --data. */
  exportManifest(): void;
  /** Open the bundled sample model and its dataset (the pipeline stays). */
  openSampleSession(): Promise<void>;
  /** Take the worker's answer about the dataset (also after the model changed). */
  applyDataset(result: DatasetResult, userAction: boolean): void;
}

export const SAMPLE_DATASET = 'samples/digits-dataset.json';

/** Answers older than the latest request are dropped. */
let datasetSeq = 0;

function sampleUrl(path: string): string {
  return new URL(`${import.meta.env.BASE_URL}${path}`, window.location.href).href;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The sample dataset's files: the manifest and the files it names, fetched from the studio itself. */
export async function fetchSampleDataset(): Promise<DatasetFile[]> {
  const manifestBytes = await fetchBytes(sampleUrl(SAMPLE_DATASET));
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as DatasetManifest;
  const names = [manifest.samples, manifest.labels].filter((n): n is string => !!n);
  const files = await Promise.all(
    names.map(async (n) => ({ path: n, bytes: await fetchBytes(sampleUrl(`samples/${n}`)) })),
  );
  return [{ path: SAMPLE_DATASET.split('/').pop()!, bytes: manifestBytes }, ...files];
}

export const createDatasetSlice: SliceCreator<DatasetSlice> = (set, get) => {
  const open = async (
    source: 'sample' | 'files',
    read: () => Promise<DatasetFile[]>,
    manifest?: DatasetManifest | null,
    userAction = true,
  ) => {
    const seq = ++datasetSeq;
    set({ datasetStatus: 'loading' });
    let files: DatasetFile[];
    try {
      files = await read();
    } catch (e) {
      if (seq !== datasetSeq) return;
      const error = `Could not read the dataset: ${e instanceof Error ? e.message : String(e)}`;
      set({ datasetStatus: get().datasetInfo ? 'ready' : 'error', datasetError: error, error });
      return;
    }
    await whenModelSynced();
    // The worker keeps the files (transferred, not copied) and saves a user's files for the next visit.
    const result = await pipelineService().openDataset(
      transfer(
        files,
        files.map((f) => f.bytes.buffer as ArrayBuffer),
      ),
      manifest ?? undefined,
      { save: source === 'files' },
    );
    if (seq !== datasetSeq) return;
    if (result.ok) {
      set({ datasetSource: source });
      void saveDataset({ source, manifest: result.manifest });
    }
    get().applyDataset(result, userAction);
  };

  return {
    datasetStatus: 'none',
    datasetSource: 'none',
    datasetManifest: null,
    datasetInfo: null,
    datasetError: null,

    openDatasetFiles: async (picked) => {
      if (picked.length === 0) return;
      await open('files', () =>
        Promise.all(
          picked.map(async (p) => ({ path: p.path, bytes: new Uint8Array(await p.file.arrayBuffer()) })),
        ),
      );
    },

    loadSampleDataset: (manifest, options) =>
      open('sample', fetchSampleDataset, manifest, !(options?.quiet ?? false)),

    restoreSavedDataset: async (manifest) => {
      const seq = ++datasetSeq;
      set({ datasetStatus: 'loading' });
      await whenModelSynced();
      const result = await pipelineService().restoreDataset(manifest);
      if (seq !== datasetSeq) return;
      if (result.ok) set({ datasetSource: 'files' });
      get().applyDataset(result, false);
      if (!result.ok && !result.manifest) set({ datasetStatus: 'none', datasetSource: 'none' });
    },

    openSampleSession: async () => {
      await get().openSample();
      if (get().modelSource === 'sample') await get().loadSampleDataset();
    },

    updateManifest: async (manifest) => {
      const seq = ++datasetSeq;
      set({ datasetManifest: manifest, datasetStatus: 'loading' });
      const result = await pipelineService().configureDataset(manifest);
      if (seq !== datasetSeq) return;
      get().applyDataset(result, false);
      const source = get().datasetSource;
      if (source !== 'none') void saveDataset({ source, manifest });
    },

    clearDataset: async () => {
      ++datasetSeq;
      await pipelineService().clearDataset();
      set({
        datasetStatus: 'none',
        datasetSource: 'none',
        datasetManifest: null,
        datasetInfo: null,
        datasetError: null,
      });
      void saveDataset({ source: 'none' });
    },

    exportManifest: () => {
      const manifest = get().datasetManifest;
      if (!manifest) return;
      const name = `${(get().datasetInfo?.name ?? 'dataset')
        .replace(/[/\\]+$/, '')
        .split(/[/\\]/)
        .pop()}`;
      const stem = name.replace(/\.[^.]+$/, '') || 'dataset';
      downloadBlob(
        new Blob([`${JSON.stringify(manifest, null, 2)}\n`], { type: 'application/json' }),
        stem.endsWith('-dataset') ? `${stem}.json` : `${stem}-dataset.json`,
      );
    },

    applyDataset: (result, userAction) => {
      if (result.ok)
        set({
          datasetStatus: 'ready',
          datasetManifest: result.manifest,
          datasetInfo: result.info,
          datasetError: null,
        });
      else {
        // Without a manifest in the answer, the worker kept the dataset it had.
        const kept = !result.manifest && get().datasetInfo !== null;
        set({
          datasetStatus: kept ? 'ready' : 'error',
          datasetManifest: result.manifest ?? get().datasetManifest,
          datasetInfo: kept ? get().datasetInfo : null,
          datasetError: result.error,
          ...(userAction ? { error: result.error } : {}),
        });
      }
    },
  };
};
