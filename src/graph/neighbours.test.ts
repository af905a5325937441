import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { summarizeGraph } from '../onnx/summary';
import { NeighbourIndex } from './neighbours';

/** x → a(Relu) → {b(Sigmoid), c(Tanh)} → d(Add) → y, with a weight on d. */
function diamond() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2]);
  const w = b.initializer('w', DataType.FLOAT, [2], [1, 2]);
  const a = b.node('Relu', [x], {}, { name: 'a', outputs: ['ta'] })[0];
  const s = b.node('Sigmoid', [a], {}, { name: 'b', outputs: ['tb'] })[0];
  const t = b.node('Tanh', [a], {}, { name: 'c', outputs: ['tc'] })[0];
  const sum = b.node('Add', [s, t], {}, { name: 'd', outputs: ['td'] })[0];
  b.node('Mul', [sum, w], {}, { name: 'e', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [2]);
  return summarizeGraph(b.model().graph);
}

describe('neighbour navigation', () => {
  const index = new NeighbourIndex(diamond());

  it('gives a tensor edge its producer and consumers', () => {
    expect(index.tensor('ta')).toEqual({ tensor: 'ta', producer: 'n0', consumers: ['n1', 'n2'] });
    expect(index.tensor('x')).toEqual({ tensor: 'x', producer: 'in:x', consumers: ['n0'] });
    expect(index.tensor('y')).toEqual({ tensor: 'y', producer: 'n4', consumers: ['out:y'] });
    expect(index.tensor('w')).toEqual({ tensor: 'w', producer: null, consumers: ['n4'] });
  });

  it('lists a node’s input producers and output consumers', () => {
    const d = index.node('n3');
    expect(d.producers).toEqual(['n1', 'n2']);
    expect(d.consumers).toEqual(['n4']);
    expect(index.node('n0').producers).toEqual(['in:x']);
    expect(index.node('n4').consumers).toEqual(['out:y']);
    expect(index.node('n4').inputs.map((t) => t.tensor)).toEqual(['td', 'w']);
    expect(index.node('nope')).toEqual({ inputs: [], outputs: [], producers: [], consumers: [] });
  });

  it('steps up, down and across with the keyboard', () => {
    expect(index.step('n1', 'up')).toBe('n0');
    expect(index.step('n0', 'down')).toBe('n1');
    expect(index.step('n1', 'right')).toBe('n2');
    expect(index.step('n2', 'right')).toBe('n1');
    expect(index.step('n1', 'left')).toBe('n2');
    expect(index.step('n3', 'left')).toBeNull();
    expect(index.step('n4', 'down')).toBe('out:y');
  });
});
