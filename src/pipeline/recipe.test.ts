import { describe, expect, it } from 'vitest';
import { formatRecipe, parseRecipe, RecipeError } from './recipe';

describe('recipe', () => {
  it('accepts a valid recipe and fills defaults', () => {
    const r = parseRecipe('{"whittle":1,"stages":[{"stage":"simplify"}]}');
    expect(r).toEqual({ whittle: 1, stages: [{ stage: 'simplify', params: {} }] });
    expect(parseRecipe({ stages: [] }).stages).toEqual([]);
  });

  it('formats recipes stably and round-trips them', () => {
    const r = parseRecipe({ whittle: 1, stages: [{ stage: 'simplify', params: {}, enabled: false }] });
    const text = formatRecipe(r);
    expect(text).toBe(formatRecipe(parseRecipe(text)));
    expect(JSON.parse(text)).toEqual({
      whittle: 1,
      stages: [{ stage: 'simplify', params: {}, enabled: false }],
    });
  });

  it.each([
    ['not json', '{', /not valid JSON/],
    ['wrong version', { whittle: 2, stages: [] }, /recipe field "whittle"/],
    ['no stages', { whittle: 1 }, /recipe field "stages"/],
    [
      'unknown stage',
      { whittle: 1, stages: [{ stage: 'shrink-it' }] },
      /stage 1: unknown stage id "shrink-it"/,
    ],
    [
      'unknown parameter',
      { whittle: 1, stages: [{ stage: 'simplify', params: { sparsity: 2 } }] },
      /stage 1 \("simplify"\): field "sparsity"/,
    ],
    ['params not an object', { whittle: 1, stages: [{ stage: 'simplify', params: 3 }] }, /stages\.0\.params/],
  ])('rejects %s with a message naming the problem', (_, input, message) => {
    expect(() => parseRecipe(input)).toThrow(RecipeError);
    expect(() => parseRecipe(input)).toThrow(message);
  });
});
