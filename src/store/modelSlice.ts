import { symbolicDims } from '../runtime/inputs';
import type { GraphSummary, ModelSummary, NodeDetails } from '../onnx/summary';
import type { OpenFile, OpenResult } from '../worker/modelService';
import { modelService } from '../worker/client';
import { syncModel } from './modelSync';
import type { SliceCreator } from './types';

export type ModelStatus = 'idle' | 'loading' | 'ready' | 'error';

/** The open model as the page knows it: summaries only, the model itself lives in the worker. */
export interface ModelSlice {
  status: ModelStatus;
  fileName: string | null;
  summary: ModelSummary | null;
  graph: GraphSummary | null;
  warnings: string[];
  externalFiles: string[];
  selectedNodeId: string | null;
  nodeDetails: NodeDetails | null;
  /** Increases with every model opened, so results of an earlier model can be recognised. */
  modelKey: number;
  /** Where the open model came from (the bundled sample or the user's files). */
  modelSource: 'sample' | 'files' | null;
  /** Open a model (and its external-data files) from a file input or a drop. */
  openFiles(files: File[]): Promise<void>;
  /** Open the bundled sample model. */
  openSample(): Promise<void>;
  /** Open model files saved by an earlier visit. */
  openSaved(files: OpenFile[]): Promise<void>;
  selectNode(id: string | null): Promise<void>;
  /** Download the current model as a file. */
  exportModel(): Promise<void>;
}

/** Bumped on every open, so a slow answer never overwrites a newer one. */
let openSeq = 0;

export const SAMPLE_MODEL = 'samples/digits-cnn.onnx';

export const createModelSlice: SliceCreator<ModelSlice> = (set, get) => {
  const applyOpen = (result: OpenResult, seq: number, source: 'sample' | 'files') => {
    if (seq !== openSeq) return;
    if (!result.ok) {
      set({ status: get().summary ? 'ready' : 'error', error: result.error });
      return;
    }
    const dims = Object.fromEntries(symbolicDims(result.summary.inputs).map((d) => [d, 1]));
    set({
      status: 'ready',
      fileName: result.fileName,
      summary: result.summary,
      graph: result.graph,
      warnings: result.warnings,
      externalFiles: result.externalFiles,
      selectedNodeId: null,
      nodeDetails: null,
      error: null,
      dims,
      result: null,
      modelKey: get().modelKey + 1,
      modelSource: source,
    });
    // Results of the previous model say nothing about this one.
    get().clearResults();
    void syncModel(source, get);
  };

  return {
    // The studio opens the bundled sample as soon as it starts.
    status: 'loading',
    fileName: null,
    summary: null,
    graph: null,
    warnings: [],
    externalFiles: [],
    selectedNodeId: null,
    nodeDetails: null,
    modelKey: 0,
    modelSource: null,

    openFiles: async (files) => {
      if (files.length === 0) return;
      const seq = ++openSeq;
      set({ status: 'loading' });
      applyOpen(await modelService().openFiles(files), seq, 'files');
    },

    openSaved: async (files) => {
      const seq = ++openSeq;
      set({ status: 'loading' });
      applyOpen(await modelService().open(files), seq, 'files');
    },

    openSample: async () => {
      const seq = ++openSeq;
      set({ status: 'loading' });
      const url = new URL(`${import.meta.env.BASE_URL}${SAMPLE_MODEL}`, window.location.href).href;
      applyOpen(await modelService().openUrl(url), seq, 'sample');
    },

    selectNode: async (id) => {
      set({ selectedNodeId: id, nodeDetails: null });
      if (id === null) return;
      const details = await modelService().nodeDetails(id);
      if (get().selectedNodeId === id) set({ nodeDetails: details });
    },

    exportModel: async () => {
      const result = await modelService().exportModel();
      if (!result.ok) {
        set({ error: result.error });
        return;
      }
      const url = URL.createObjectURL(new Blob([result.bytes as Uint8Array<ArrayBuffer>]));
      const a = document.createElement('a');
      a.href = url;
      a.download = result.fileName;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    },
  };
};
