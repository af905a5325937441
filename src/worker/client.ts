import { wrap, type Remote } from 'comlink';
import type { ModelService } from './modelService';

let service: Remote<ModelService> | undefined;

/** The page's handle on the model worker, started on first use. */
export function modelService(): Remote<ModelService> {
  if (!service) {
    const worker = new Worker(new URL('./model.worker.ts', import.meta.url), {
      type: 'module',
      name: 'whittle-model',
    });
    service = wrap<ModelService>(worker);
  }
  return service;
}
