import { describe, expect, it } from 'vitest';
import { stageOverlay } from '../../graph/overlay';
import { heatColor, overlayLabel, stageGraphOverlay } from './overlayStyle';

describe('overlay badges and colours', () => {
  it('labels quantized, pruned and other changes as the graph shows them', () => {
    const o = stageOverlay(undefined, [
      { node: 'conv1', kind: 'quantized', detail: 'weights int8, per channel' },
      { node: 'conv2', kind: 'quantized', detail: 'weights (4-bit indices)' },
      { node: 'fc', kind: 'quantized', detail: 'converted to fp16' },
      { node: 'conv3', kind: 'pruned', detail: '62.4%' },
      { node: 'conv4', kind: 'pruned', detail: '3 of 8 channels removed' },
      { node: 'bn', kind: 'removed', detail: 'folded into conv1' },
      { node: 'conv1', kind: 'fused', detail: 'absorbed bn' },
      { node: 'gemm', kind: 'added' },
    ]);
    const labels = Object.fromEntries([...o].map(([k, v]) => [k, overlayLabel(v)]));
    expect(labels).toEqual({
      conv1: 'int8',
      conv2: 'int4',
      fc: 'fp16',
      conv3: '62%',
      conv4: '38%',
      bn: 'removed',
      gemm: 'added',
    });
    const g = stageGraphOverlay('Stage 2: Quantize', new Map([['n0', o.get('conv1')!]]));
    expect(g.caption).toBe('Stage 2: Quantize');
    expect(g.entries.n0).toMatchObject({ kind: 'quantized', label: 'int8' });
    expect(g.entries.n0.title).toContain('absorbed bn');
  });

  it('maps heat 0–1 from light yellow to deep red, clamping the rest', () => {
    expect(heatColor(0)).toBe('hsl(55 90% 92%)');
    expect(heatColor(1)).toBe('hsl(0 90% 52%)');
    expect(heatColor(2)).toBe(heatColor(1));
    expect(heatColor(Number.NaN)).toBe(heatColor(0));
  });
});
