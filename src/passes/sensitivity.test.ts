import { describe, expect, it } from 'vitest';
import {
  analyzeSensitivity,
  excludeMostSensitive,
  excludeWithinBudget,
  sortBySensitivity,
  verifyExcludeWithinBudget,
  type LayerSensitivity,
} from './sensitivity';
import { buildCnn, buildMlp, stageContext, syntheticDataset } from './testing/quantFixtures';

function layer(node: string, loss: number, sqnrDb = 30): LayerSensitivity {
  return { node, opType: 'Conv', loss, accuracy: null, agreement: 1 - loss / 100, sqnrDb };
}

describe('sensitivity analysis', () => {
  it('measures every static layer alone on the generated CNN, most sensitive first', async () => {
    const cnn = buildCnn();
    const data = await syntheticDataset(cnn, { calibration: 32, evaluation: 100 });
    const progress: number[] = [];
    const ctx = { ...stageContext(data), progress: (d: number) => progress.push(d) };
    const r = await analyzeSensitivity(cnn, { stage: 'quantize-static', samples: 100 }, ctx);
    expect(r.metric).toBe('accuracy');
    expect(r.baselineAccuracy).toBe(1);
    expect(r.samples).toBe(100);
    expect(r.layers.map((l) => l.node).sort()).toEqual(['conv1', 'conv2', 'fc', 'pool1', 'pool2']);
    expect(r.layers).toEqual(sortBySensitivity(r.layers));
    for (const l of r.layers) {
      expect(l.accuracy).not.toBeNull();
      expect(l.loss).toBeCloseTo((1 - l.accuracy!) * 100, 10);
      expect(l.sqnrDb).toBeGreaterThan(20);
    }
    // A Conv quantizes its input, its weights and its (ReLU) output; the MaxPool after it only that
    // same output: the Conv alone must cost at least as much.
    const sqnr = (node: string) => r.layers.find((l) => l.node === node)!.sqnrDb;
    expect(sqnr('conv1')).toBeLessThan(sqnr('pool1') + 1);
    expect(sqnr('conv2')).toBeLessThan(sqnr('pool2') + 1);
    expect(progress.slice(-5)).toEqual([1, 2, 3, 4, 5]);

    const two = excludeMostSensitive(r.layers, 2);
    expect(two).toEqual(r.layers.slice(0, 2).map((l) => l.node));
    const measured = await verifyExcludeWithinBudget(
      cnn,
      r,
      0,
      { stage: 'quantize-static', samples: 100 },
      stageContext(data),
    );
    expect(measured.loss).toBeLessThanOrEqual(0);
    expect(measured.exclude).toEqual(r.layers.slice(0, measured.exclude.length).map((l) => l.node));
  });

  it('works for dynamic and int4 quantization without labels', async () => {
    const mlp = buildMlp();
    for (const stage of ['quantize-dynamic', 'quantize-int4'] as const) {
      const r = await analyzeSensitivity(mlp, { stage, samples: 16 }, stageContext());
      expect(r.metric).toBe('agreement');
      expect(r.baselineAccuracy).toBeNull();
      expect(r.samples).toBe(16);
      expect(r.layers.map((l) => l.node).sort()).toEqual(['mm1', 'mm2', 'mm3']);
      for (const l of r.layers) expect(l.loss).toBeCloseTo((1 - l.agreement) * 100, 10);
      expect(r.layers).toEqual(sortBySensitivity(r.layers));
    }
    const int4 = await analyzeSensitivity(
      mlp,
      { stage: 'quantize-int4', samples: 16, params: { exclude: ['mm3'] } },
      stageContext(),
    );
    expect(int4.layers.map((l) => l.node).sort()).toEqual(['mm1', 'mm2']);
  });

  it('fills exclude lists: the N most sensitive, or as many as needed for a loss budget', () => {
    const layers = [layer('c', 0.5), layer('a', 3), layer('d', 0, 40), layer('e', 0, 20), layer('b', 1)];
    expect(sortBySensitivity(layers).map((l) => l.node)).toEqual(['a', 'b', 'c', 'e', 'd']);
    expect(excludeMostSensitive(layers, 0)).toEqual([]);
    expect(excludeMostSensitive(layers, 2)).toEqual(['a', 'b']);
    expect(excludeMostSensitive(layers, 9)).toEqual(['a', 'b', 'c', 'e', 'd']);
    expect(excludeWithinBudget(layers, 10)).toEqual([]);
    expect(excludeWithinBudget(layers, 4.5)).toEqual([]);
    expect(excludeWithinBudget(layers, 2)).toEqual(['a']);
    expect(excludeWithinBudget(layers, 1)).toEqual(['a', 'b']);
    expect(excludeWithinBudget(layers, 0)).toEqual(['a', 'b', 'c']);
    // Layers that happened to improve accuracy do not pay for others.
    expect(excludeWithinBudget([layer('x', 2), layer('y', -2)], 1)).toEqual(['x']);
  });
});
