import { createStore, delMany, get, keys, set, type UseStore } from 'idb-keyval';
import type { CheckpointStore } from '../passes/types';
import type { EpochRecord, TrainingCheckpoint } from '../train/trainer';

/** The checkpoint store of one training stage, by the runner's stage key (input, parameters, data). */
export type CheckpointStoreFactory = (stageKey: string) => CheckpointStore;

/** Weights by name packed into one buffer: what IndexedDB (structured clone) keeps cheaply. */
export interface PackedWeights {
  names: string[];
  lengths: number[];
  data: Float32Array;
}

/** A checkpoint as stored. */
export interface StoredCheckpoint {
  version: 1;
  stageKey: string;
  phase: string;
  savedAt: number;
  epoch: number;
  weights: PackedWeights;
  best?: { epoch: number; score: number; weights: PackedWeights };
  history: EpochRecord[];
}

/** The few operations a checkpoint database needs (idb-keyval in the studio, a Map in tests). */
export interface KeyValueStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delete(keys: string[]): Promise<void>;
  keys(): Promise<string[]>;
}

/** Stages whose checkpoints are kept at most; older ones are dropped when another stage saves. */
const keptStages = 3;
const indexKey = 'stages';

export function packWeights(weights: ReadonlyMap<string, Float32Array>): PackedWeights {
  const names = [...weights.keys()];
  const lengths = names.map((n) => weights.get(n)!.length);
  const data = new Float32Array(lengths.reduce((a, b) => a + b, 0));
  let offset = 0;
  for (const [k, n] of names.entries()) {
    data.set(weights.get(n)!, offset);
    offset += lengths[k]!;
  }
  return { names, lengths, data };
}

export function unpackWeights(packed: PackedWeights): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const [k, name] of packed.names.entries()) {
    const n = packed.lengths[k]!;
    out.set(name, packed.data.subarray(offset, offset + n));
    offset += n;
  }
  return out;
}

function isStoredCheckpoint(x: unknown): x is StoredCheckpoint {
  const c = x as Partial<StoredCheckpoint> | undefined;
  return (
    !!c &&
    c.version === 1 &&
    typeof c.epoch === 'number' &&
    !!c.weights &&
    c.weights.data instanceof Float32Array &&
    Array.isArray(c.history)
  );
}

const recordKey = (stageKey: string, phase: string) => `${stageKey}|${phase}`;

/**
 * Checkpoint stores over a key-value database: one record per stage key and training phase, plus
 * an index of the stage keys by save time so that only the last few stages' checkpoints are kept.
 */
export function checkpointStores(db: KeyValueStore): CheckpointStoreFactory {
  const forget = async (stageKey: string) => {
    const prefix = `${stageKey}|`;
    await db.delete((await db.keys()).filter((k) => k.startsWith(prefix)));
  };
  const touch = async (stageKey: string) => {
    const index = ((await db.get(indexKey)) as Record<string, number> | undefined) ?? {};
    index[stageKey] = Date.now();
    const stale = Object.entries(index)
      .sort((a, b) => b[1] - a[1])
      .slice(keptStages)
      .map(([k]) => k);
    for (const k of stale) {
      delete index[k];
      await forget(k);
    }
    await db.set(indexKey, index);
  };
  return (stageKey) => ({
    async load(phase) {
      const stored = await db.get(recordKey(stageKey, phase));
      if (!isStoredCheckpoint(stored) || stored.stageKey !== stageKey) return undefined;
      const checkpoint: TrainingCheckpoint = {
        epoch: stored.epoch,
        weights: unpackWeights(stored.weights),
        history: stored.history,
      };
      if (stored.best)
        checkpoint.best = {
          epoch: stored.best.epoch,
          score: stored.best.score,
          weights: unpackWeights(stored.best.weights),
        };
      return checkpoint;
    },
    async save(phase, checkpoint) {
      const stored: StoredCheckpoint = {
        version: 1,
        stageKey,
        phase,
        savedAt: Date.now(),
        epoch: checkpoint.epoch,
        weights: packWeights(checkpoint.weights),
        history: checkpoint.history,
      };
      if (checkpoint.best)
        stored.best = {
          epoch: checkpoint.best.epoch,
          score: checkpoint.best.score,
          weights: packWeights(checkpoint.best.weights),
        };
      await db.set(recordKey(stageKey, phase), stored);
      await touch(stageKey);
    },
    async clear() {
      await forget(stageKey);
      const index = ((await db.get(indexKey)) as Record<string, number> | undefined) ?? {};
      if (stageKey in index) {
        delete index[stageKey];
        await db.set(indexKey, index);
      }
    },
  });
}

let idb: UseStore | undefined;

/** Checkpoints in the studio's IndexedDB (a database of their own), so a reload can resume training. */
export function indexedDbCheckpoints(): CheckpointStoreFactory {
  idb ??= createStore('whittle-checkpoints', 'checkpoints');
  const store = idb;
  return checkpointStores({
    get: (key) => get(key, store),
    set: (key, value) => set(key, value, store),
    delete: (list) => (list.length ? delMany(list, store) : Promise.resolve()),
    keys: async () => (await keys(store)).filter((k): k is string => typeof k === 'string'),
  });
}

/**
 * Checkpoints in memory, copied through structured clone on the way in and out as IndexedDB would:
 * for Node tests and for a process that resumes only within its own lifetime.
 */
export function memoryCheckpoints(entries = new Map<string, unknown>()): CheckpointStoreFactory {
  return checkpointStores({
    get: async (key) => (entries.has(key) ? structuredClone(entries.get(key)) : undefined),
    set: async (key, value) => void entries.set(key, structuredClone(value)),
    delete: async (list) => list.forEach((k) => entries.delete(k)),
    keys: async () => [...entries.keys()],
  });
}

/**
 * A checkpoint store that also tells `listener` about every finished epoch (the trainer saves a
 * checkpoint after each one). Without a store underneath nothing is kept and nothing resumes.
 */
export function observeEpochs(
  store: CheckpointStore | undefined,
  listener: (phase: string, checkpoint: TrainingCheckpoint) => void,
): CheckpointStore {
  return {
    load: async (phase) => store?.load(phase),
    async save(phase, checkpoint) {
      try {
        listener(phase, checkpoint);
      } finally {
        await store?.save(phase, checkpoint);
      }
    },
    clear: async () => store?.clear(),
  };
}
