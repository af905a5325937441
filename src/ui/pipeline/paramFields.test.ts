import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { stages } from '../../passes/registry';
import { defineStage } from '../../passes/types';
import { fieldLabel, paramFields } from './paramFields';

const probe = defineStage({
  id: 'probe',
  title: 'Probe',
  description: 'test stage with one parameter of each kind',
  category: 'compress',
  params: z.object({
    ratio: z.number().min(0).max(0.9).default(0.25).describe('A ratio.'),
    bits: z.number().int().min(2).max(8).default(4),
    count: z.number().int().positive().optional(),
    method: z.enum(['a', 'b']).default('a'),
    keepIO: z.boolean().default(true),
    exclude: z.array(z.string()).default([]),
    ops: z.array(z.enum(['Conv', 'Gemm'])).default(['Conv']),
    names: z.array(z.string()).default(['x']),
  }),
  async run(model) {
    return { model, notes: [], changes: [] };
  },
});

describe('paramFields', () => {
  it('maps each schema type to its control', () => {
    const byName = Object.fromEntries(paramFields(probe).map((f) => [f.name, f]));
    expect(byName.ratio).toMatchObject({
      kind: 'number',
      slider: true,
      min: 0,
      max: 0.9,
      integer: false,
      default: 0.25,
      description: 'A ratio.',
    });
    expect(byName.ratio.kind === 'number' && byName.ratio.step).toBeLessThanOrEqual(0.01);
    expect(byName.bits).toMatchObject({
      kind: 'number',
      integer: true,
      slider: true,
      step: 1,
      min: 2,
      max: 8,
    });
    expect(byName.count).toMatchObject({ kind: 'number', slider: false, optional: true });
    expect(byName.method).toMatchObject({ kind: 'enum', options: ['a', 'b'], default: 'a' });
    expect(byName.keepIO).toMatchObject({ kind: 'boolean', default: true, label: 'Keep IO' });
    expect(byName.exclude).toMatchObject({ kind: 'layers', default: [] });
    expect(byName.ops).toMatchObject({ kind: 'enumList', options: ['Conv', 'Gemm'], default: ['Conv'] });
    expect(byName.names).toMatchObject({ kind: 'stringList', default: ['x'] });
  });

  it('gives every registered stage a form; only lists of objects fall back to JSON text', () => {
    for (const stage of stages)
      for (const f of paramFields(stage)) {
        if (f.kind !== 'json') continue;
        const value = stage.params.parse({})[f.name] as unknown;
        expect(
          Array.isArray(value) || (typeof value === 'object' && value !== null),
          `${stage.id}.${f.name}`,
        ).toBe(true);
      }
    const prune = paramFields(stages.find((s) => s.id === 'prune-magnitude')!);
    expect(prune.find((f) => f.name === 'sparsity')).toMatchObject({
      kind: 'number',
      slider: true,
      min: 0,
      max: 0.99,
    });
  });

  it('labels camelCase names as words', () => {
    expect(fieldLabel('calibrationSamples')).toBe('Calibration samples');
    expect(fieldLabel('perChannel')).toBe('Per channel');
    expect(fieldLabel('sparsity')).toBe('Sparsity');
  });
});
