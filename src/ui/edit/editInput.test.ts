import { describe, expect, it } from 'vitest';
import { graphEditSchema } from '../../graph/edits';
import { attributeEdit, attributeText, editableType, followRenames, nodeRef, parseDims } from './editInput';

describe('edit fields', () => {
  it('starts attribute fields from the inspector text, leaving shortened lists empty', () => {
    expect(attributeText({ name: 'pads', type: 'INTS', value: '[1, 1, 1, 1]' })).toBe('1, 1, 1, 1');
    expect(attributeText({ name: 'mode', type: 'STRING', value: '"constant"' })).toBe('constant');
    expect(attributeText({ name: 'names', type: 'STRINGS', value: '["a", "b"]' })).toBe('a, b');
    expect(attributeText({ name: 'alpha', type: 'FLOAT', value: '0.5' })).toBe('0.5');
    const long = `[${Array.from({ length: 16 }, (_, i) => i).join(', ')}, … (20)]`;
    expect(attributeText({ name: 'xs', type: 'INTS', value: long })).toBe('');
    expect(editableType({ name: 'value', type: 'TENSOR', value: 'tensor float[2]' })).toBeNull();
    expect(editableType({ name: 'axis', type: 'INT', value: '1' })).toBe('int');
  });

  it('makes set-attribute edits the stage accepts, or says what is wrong with the text', () => {
    const ok = (r: ReturnType<typeof attributeEdit>) => {
      if ('error' in r) throw new Error(r.error);
      expect(graphEditSchema.parse(r.edit)).toEqual(r.edit);
      return r.edit;
    };
    expect(ok(attributeEdit('n', 'pads', 'ints', '[0, 0 1,1]'))).toEqual({
      kind: 'set-attribute',
      node: 'n',
      name: 'pads',
      value: [0, 0, 1, 1],
      type: 'ints',
    });
    expect(ok(attributeEdit('n', 'alpha', 'float', ' 0.25 ')).value).toBe(0.25);
    expect(ok(attributeEdit('n', 'mode', 'string', 'reflect')).value).toBe('reflect');
    expect(ok(attributeEdit('n', 'labels', 'strings', 'cat, dog,')).value).toEqual(['cat', 'dog']);
    expect(attributeEdit('n', 'axis', 'int', '1.5')).toEqual({ error: 'axis takes a whole number' });
    expect(attributeEdit('n', 'axis', 'int', '')).toEqual({ error: 'axis takes a whole number' });
    expect(attributeEdit('n', 'pads', 'ints', '1, x')).toEqual({
      error: 'pads takes whole numbers separated by commas',
    });
    expect(attributeEdit('n', 'scales', 'floats', '1, NaN')).toEqual({
      error: 'scales takes numbers separated by commas',
    });
  });

  it('reads dims as sizes, symbolic names or unknown', () => {
    expect(parseDims(['1', 'seq', '', ' 28 '])).toEqual({ dims: [1, 'seq', null, 28] });
    expect(parseDims(['0'])).toEqual({ error: 'dimension 1: a size must be at least 1' });
    expect(parseDims(['1', '-2'])).toEqual({ error: 'dimension 2: "-2" is neither a size nor a name' });
    expect(
      graphEditSchema.parse({ kind: 'set-input-dims', input: 'x', dims: [1, 'seq', null] }),
    ).toBeTruthy();
  });

  it('names nodes as the edit stage finds them', () => {
    expect(nodeRef({ name: '/a/Conv', outputs: ['y'], opType: 'Conv' })).toBe('/a/Conv');
    expect(nodeRef({ name: '', outputs: ['y'], opType: 'Conv' })).toBe('y');
  });

  it('follows earlier renames, so that later edits name what the stage will find', () => {
    const renames = followRenames([
      { kind: 'rename-node', node: '/a/Gemm', to: 'fc' },
      { kind: 'rename-tensor', from: 'x', to: 'pixels' },
      { kind: 'bypass-node', node: 'fc', input: 0 },
      { kind: 'rename-node', node: 'fc', to: 'head' },
    ]);
    expect(renames.node('/a/Gemm')).toBe('head');
    expect(renames.node('/b/Conv')).toBe('/b/Conv');
    expect(renames.tensor('x')).toBe('pixels');
    expect(renames.tensor('/a/Gemm')).toBe('/a/Gemm');
  });
});
