import { describe, expect, it } from 'vitest';
import type { StageResultSummary } from '../../worker/pipelineService';
import { slowerStages } from './slowerStages';

const row = (index: number, stage: string | null, medianMs: number) =>
  ({
    index,
    stage,
    title: stage ?? 'Original',
    status: 'done',
    metrics: { latency: { medianMs, backend: 'wasm' } },
  }) as unknown as StageResultSummary;

describe('slowerStages', () => {
  it('flags a quantization stage slower than its input, not other stages or small noise', () => {
    const r = slowerStages([
      row(0, null, 1),
      row(1, 'fold-batchnorm', 2),
      row(2, 'quantize-static', 2.6),
      row(3, 'quantize-dynamic', 2.65),
    ]);
    expect(r).toEqual([{ index: 2, title: 'quantize-static', ratio: 1.3, backend: 'wasm' }]);
  });
});
