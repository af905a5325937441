import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { computeMetrics } from './compute';

describe('computeMetrics', () => {
  it('counts MACs of Conv and Gemm and the peak of live activations', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 2, 8, 8]);
    const w = b.initializer('w', DataType.FLOAT, [4, 2, 3, 3], new Float32Array(72));
    const c = b.op('Conv', [x, w], { pads: [1, 1, 1, 1] }, 'conv');
    const r = b.op('Relu', [c], {}, 'relu');
    const f = b.op('Flatten', [r], {}, 'flat');
    const g = b.initializer('g', DataType.FLOAT, [256, 10], new Float32Array(2560));
    b.node('Gemm', [f, g], {}, { name: 'fc', outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 10]);
    const m = computeMetrics(b.model().graph);
    expect(m.macs).toBe(4 * 8 * 8 * (2 * 3 * 3) + 10 * 256);
    // Conv output (1 KiB) and Relu output (1 KiB) are alive together; the input (512 B) is freed after Conv.
    expect(m.peakActivationBytes).toBe(256 * 4 * 2);
    expect(m.unknownActivations).toBe(0);
  });

  it('does not count weights decoded from stored tensors as activations', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 64]);
    const q = b.initializer('wq', DataType.INT8, [64, 64], new Int8Array(4096));
    const s = b.initializer('ws', DataType.FLOAT, [], [0.01]);
    const w = b.op('DequantizeLinear', [q, s], {}, 'dq');
    b.node('MatMul', [x, w], {}, { name: 'mm', outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1, 64]);
    const m = computeMetrics(b.model().graph);
    expect(m.peakActivationBytes).toBe(2 * 64 * 4);
  });
});
