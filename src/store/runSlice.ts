import type { WebBackend, WebCapabilities } from '../runtime/web';
import type { RunResult } from '../worker/modelService';
import { modelService } from '../worker/client';
import type { SliceCreator } from './types';

/** Settings and the last result of the run panel. */
export interface RunSlice {
  capabilities: WebCapabilities | null;
  backend: WebBackend;
  /** Sizes of the symbolic dims, by name (default 1). */
  dims: Record<string, number>;
  runs: number;
  warmup: number;
  running: boolean;
  /** The last successful run of the current model. */
  result: Extract<RunResult, { ok: true }> | null;
  loadCapabilities(): Promise<void>;
  setBackend(backend: WebBackend): void;
  setDim(name: string, value: number): void;
  setRuns(runs: number): void;
  setWarmup(warmup: number): void;
  runModel(): Promise<void>;
}

export const createRunSlice: SliceCreator<RunSlice> = (set, get) => ({
  capabilities: null,
  backend: 'wasm',
  dims: {},
  runs: 20,
  warmup: 3,
  running: false,
  result: null,

  loadCapabilities: async () => {
    set({ capabilities: await modelService().capabilities() });
  },
  setBackend: (backend) => set({ backend }),
  setDim: (name, value) => set({ dims: { ...get().dims, [name]: value } }),
  setRuns: (runs) => set({ runs }),
  setWarmup: (warmup) => set({ warmup }),

  runModel: async () => {
    const { backend, dims, runs, warmup, modelKey } = get();
    set({ running: true, result: null });
    try {
      const result = await modelService().run({ backend, dims, runs, warmup });
      // A model opened meanwhile makes this result meaningless.
      if (get().modelKey !== modelKey) return;
      if (result.ok) set({ result });
      else set({ error: result.error });
    } finally {
      set({ running: false });
    }
  },
});
