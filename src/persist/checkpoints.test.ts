import { describe, expect, it } from 'vitest';
import type { TrainingCheckpoint } from '../train/trainer';
import { memoryCheckpoints, observeEpochs, packWeights, unpackWeights } from './checkpoints';

const checkpoint = (epoch: number): TrainingCheckpoint => ({
  epoch,
  weights: new Map([
    ['conv.w', Float32Array.from({ length: 12 }, (_, i) => i * epoch)],
    ['fc.b', Float32Array.of(-1, 0.5)],
  ]),
  best: { epoch: 1, score: 0.93, weights: new Map([['conv.w', new Float32Array(12).fill(7)]]) },
  history: [{ epoch: 1, loss: 0.4, validationAccuracy: 0.93, seconds: 2, samplesPerSecond: 60 }],
});

describe('training checkpoints', () => {
  it('pack the weights into one buffer and back', () => {
    const weights = checkpoint(2).weights;
    const packed = packWeights(weights);
    expect(packed.data).toHaveLength(14);
    expect(packed.names).toEqual(['conv.w', 'fc.b']);
    expect(unpackWeights(packed)).toEqual(weights);
  });

  it('are kept per stage key and phase through structured clone, cleared per stage', async () => {
    const entries = new Map<string, unknown>();
    const stores = memoryCheckpoints(entries);
    const a = stores('stage-a');
    const b = stores('stage-b');
    await a.save('fine-tune', checkpoint(1));
    await a.save('fine-tune', checkpoint(2));
    await a.save('step 1', checkpoint(1));
    await b.save('fine-tune', checkpoint(3));
    const loaded = await a.load('fine-tune');
    expect(loaded).toEqual(checkpoint(2));
    expect((await b.load('fine-tune'))?.epoch).toBe(3);
    expect(await a.load('distill')).toBeUndefined();
    expect(await stores('stage-c').load('fine-tune')).toBeUndefined();
    await a.clear();
    expect(await a.load('fine-tune')).toBeUndefined();
    expect(await a.load('step 1')).toBeUndefined();
    expect((await b.load('fine-tune'))?.epoch).toBe(3);
  });

  it('keep only the last three stages that saved', async () => {
    const stores = memoryCheckpoints();
    for (const key of ['s1', 's2', 's3', 's4']) {
      await stores(key).save('fine-tune', checkpoint(1));
      // Distinct save times.
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await stores('s1').load('fine-tune')).toBeUndefined();
    for (const key of ['s2', 's3', 's4']) expect(await stores(key).load('fine-tune')).toBeDefined();
  });

  it('tell a listener about each epoch even without a store', async () => {
    const seen: string[] = [];
    const store = observeEpochs(undefined, (phase, c) => seen.push(`${phase}:${c.epoch}`));
    await store.save('fine-tune', checkpoint(1));
    await store.save('fine-tune', checkpoint(2));
    expect(seen).toEqual(['fine-tune:1', 'fine-tune:2']);
    expect(await store.load('fine-tune')).toBeUndefined();
  });
});
