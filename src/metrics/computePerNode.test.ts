import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { computeMetrics, macsPerNode } from './compute';

describe('macsPerNode', () => {
  it('gives each node the MACs computeMetrics counts for it, by node index, NaN when a shape is unknown', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 2, 8, 8]);
    const w = b.initializer('w', DataType.FLOAT, [4, 2, 3, 3], new Float32Array(72));
    const c = b.op('Conv', [x, w], { pads: [1, 1, 1, 1] }, 'conv');
    const r = b.op('Relu', [c], {}, 'relu');
    const f = b.op('Flatten', [r], {}, 'flat');
    const g = b.initializer('g', DataType.FLOAT, [256, 10], new Float32Array(2560));
    const y = b.op('Gemm', [f, g], {}, 'fc');
    // A MatMul whose second operand has no known shape: its MACs cannot be known.
    const z = b.input('z', DataType.FLOAT);
    b.node('MatMul', [y, z], {}, { name: 'mm', outputs: ['out'] });
    b.output('out', DataType.FLOAT);
    const graph = b.model().graph;
    const macs = macsPerNode(graph);
    expect(macs.length).toBe(graph.nodes.length);
    const byName = new Map(graph.nodes.map((n, i) => [n.name, macs[i]]));
    expect(byName.get('conv')).toBe(4 * 8 * 8 * (2 * 3 * 3));
    expect(byName.get('relu')).toBe(0);
    expect(byName.get('fc')).toBe(10 * 256);
    expect(byName.get('mm')).toBeNaN();
    const whole = computeMetrics(graph);
    for (const [name, m] of whole.macsByNode) expect(byName.get(name)).toBe(m);
    expect([...macs].filter(Number.isFinite).reduce((a, v) => a + v, 0)).toBe(whole.macs);
    expect(whole.unknownMacNodes).toBe([...macs].filter((v) => Number.isNaN(v)).length);
  });
});
