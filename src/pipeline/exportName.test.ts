import { describe, expect, it } from 'vitest';
import { exportFileName, stageTag } from './exportName';

const done = (stage: string, params: Record<string, unknown> = {}) => ({ stage, params, status: 'done' });

describe('export file names', () => {
  it('tags each stage that ran', () => {
    expect(stageTag('simplify')).toBe('simplified');
    expect(stageTag('fold-batchnorm')).toBe('bnfolded');
    expect(stageTag('quantize-static')).toBe('int8');
    expect(stageTag('quantize-dynamic')).toBe('int8dyn');
    expect(stageTag('convert-fp16')).toBe('fp16');
    expect(stageTag('quantize-int4')).toBe('int4');
    expect(stageTag('prune-magnitude', { sparsity: 0.5 })).toBe('pruned50');
    expect(stageTag('prune-channels', { ratio: 0.25 })).toBe('slim25');
    expect(stageTag('cluster-weights', { clusters: 16 })).toBe('k16');
    expect(stageTag('my-own-stage')).toBe('my-own-stage');
  });

  it('names the model after what was done, in pipeline order, each tag once', () => {
    expect(
      exportFileName('models/mnist-8.onnx', [
        { stage: null, params: {}, status: 'done' },
        done('quantize-static'),
        done('prune-magnitude', { sparsity: 0.5 }),
        done('simplify'),
        done('simplify'),
      ]),
    ).toBe('mnist-8.whittle-int8-pruned50-simplified.onnx');
  });

  it('leaves out stages that did not run and keeps the name of an unmodified model', () => {
    const stages = [
      { stage: 'simplify', params: {}, status: 'skipped' },
      { stage: 'quantize-static', params: {}, status: 'error' },
    ];
    expect(exportFileName('mnist-8.onnx', stages)).toBe('mnist-8.onnx');
    expect(exportFileName('C:\\models\\net.onnx', [])).toBe('net.onnx');
  });

  it('adds to the tags of an exported model and bounds long lists', () => {
    expect(exportFileName('net.whittle-int8.onnx', [done('cluster-weights', { clusters: 16 })])).toBe(
      'net.whittle-int8-k16.onnx',
    );
    const many = Array.from({ length: 9 }, (_, i) => done(`stage-${i}`));
    expect(exportFileName('net.onnx', many)).toBe(
      'net.whittle-stage-0-stage-1-stage-2-stage-3-stage-4-stage-5-+3.onnx',
    );
  });
});
