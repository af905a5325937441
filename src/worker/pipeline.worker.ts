/// <reference lib="webworker" />
/**
 * The pipeline worker: owns the model being optimized, the dataset and the content cache, runs
 * pipelines with onnxruntime-web and answers the page through comlink (see {@link PipelineService}).
 */
import { expose } from 'comlink';
import { PipelineService } from './pipelineService';
import { decodeImageInWorker } from './imageDecoder';
import { loadDatasetFiles, saveDatasetFiles } from '../persist/session';
import { indexedDbCheckpoints } from '../persist/checkpoints';
import { createWebRuntime, type WebBackend } from '../runtime/web';

const backends: readonly string[] = ['wasm', 'webgpu'] satisfies WebBackend[];

expose(
  new PipelineService({
    runtime: (backend) => {
      if (!backends.includes(backend)) return Promise.reject(new Error(`unknown backend "${backend}"`));
      return createWebRuntime(backend as WebBackend);
    },
    decodeImage: decodeImageInWorker,
    datasetStore: { save: saveDatasetFiles, load: loadDatasetFiles },
    // Training checkpoints survive a reload, so running again resumes from the last finished epoch.
    checkpoints: indexedDbCheckpoints(),
  }),
);
