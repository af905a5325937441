import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import type { DatasetManifest } from '../data/dataset';
import type { DatasetFile } from '../worker/datasetFiles';
import type { OpenFile } from '../worker/modelService';
import type { PipelineStep } from '../store/pipelineSteps';
import type { RunRecord, ResultsMeta } from '../store/runTypes';
import type { StageResultSummary } from '../worker/pipelineService';

/** The model to reopen: the bundled sample, or the files the user opened. */
export type SavedModel = { source: 'sample' } | { source: 'files'; fileName: string; files: OpenFile[] };

/**
 * The dataset to reopen, with the manifest as the user last edited it. The files of a user's
 * dataset are kept apart ({@link saveDatasetFiles}): the pipeline worker, which owns them, saves
 * and reads them, so they never pass through the page again.
 */
export type SavedDataset =
  | { source: 'none' }
  | { source: 'sample'; manifest: DatasetManifest | null }
  | { source: 'files'; manifest: DatasetManifest | null };

/** The work on the page: the pipeline, the last results (metrics only) and the run history. */
export interface SavedSession {
  version: 1;
  steps: PipelineStep[];
  results: StageResultSummary[];
  resultsMeta: ResultsMeta | null;
  selectedResult: number | null;
  history: RunRecord[];
  /** Execution provider the pipeline runs on. */
  backend: string;
}

const keys = {
  model: 'model',
  dataset: 'dataset',
  datasetFiles: 'dataset-files',
  session: 'session',
} as const;

let store: UseStore | undefined;

/** One IndexedDB database for the studio, opened on first use. */
function db(): UseStore {
  store ??= createStore('whittle-studio', 'session');
  return store;
}

export const saveModel = (model: SavedModel) => set(keys.model, model, db());
export const loadModel = () => get<SavedModel>(keys.model, db());
export const saveDataset = (dataset: SavedDataset) => set(keys.dataset, dataset, db());
export const loadDataset = () => get<SavedDataset>(keys.dataset, db());
export const saveDatasetFiles = (files: DatasetFile[]) => set(keys.datasetFiles, files, db());
export const loadDatasetFiles = () => get<DatasetFile[]>(keys.datasetFiles, db());
export const saveSession = (session: SavedSession) => set(keys.session, session, db());
export const loadSession = () => get<SavedSession>(keys.session, db());

/** Forget everything saved (a fresh start with the sample). */
export async function clearSaved(): Promise<void> {
  await Promise.all(Object.values(keys).map((k) => del(k, db())));
}
