import { transfer } from 'comlink';
import { saveModel } from '../persist/session';
import { modelService } from '../worker/client';
import { pipelineService } from '../worker/pipelineClient';
import type { StudioState } from './types';

let synced: Promise<void> = Promise.resolve();

/** Resolves once the pipeline worker has the model the page shows. */
export function whenModelSynced(): Promise<void> {
  return synced;
}

/**
 * Hand the opened model to the pipeline worker (and save it for the next visit): the model worker
 * gives copies of its files, which are saved first and then transferred, not copied, to the
 * pipeline worker. A dataset already open is checked against the new model there.
 */
export function syncModel(source: 'sample' | 'files', get: () => StudioState): Promise<void> {
  synced = (async () => {
    const src = await modelService().sourceFiles();
    if (!src.ok) return;
    try {
      await saveModel(
        source === 'sample' ? { source } : { source, fileName: src.fileName, files: src.files },
      );
    } catch {
      // A full or unavailable IndexedDB only costs the restore on reload.
    }
    const result = await pipelineService().setModel(
      transfer(
        src.files,
        src.files.map((f) => f.bytes.buffer as ArrayBuffer),
      ),
    );
    if (!result.ok) {
      get().showError(result.error);
      return;
    }
    get().setModelSha256(result.sha256);
    if (result.dataset) get().applyDataset(result.dataset, false);
  })();
  return synced;
}
