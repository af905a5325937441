/// <reference lib="webworker" />
/**
 * The model worker: owns the parsed model and onnxruntime-web, and answers the page through comlink
 * with summaries and numbers (see {@link ModelService}).
 */
import { expose } from 'comlink';
import { ModelService } from './modelService';
import { createWebRuntime, webCapabilities } from '../runtime/web';

expose(new ModelService({ runtime: createWebRuntime, capabilities: webCapabilities }));
