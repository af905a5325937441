import { z } from 'zod';
import { stages } from '../passes/registry';
import type { AnyStage } from '../passes/types';

/** One step of a recipe: a stage id and its parameters (defaults fill what is left out). */
export interface RecipeStep {
  stage: string;
  params: Record<string, unknown>;
  /** A disabled step stays in the recipe but does not run. */
  enabled?: boolean;
}

/** The recipe format of CONTRACT.md: `{ "whittle": 1, "stages": [...] }`. */
export interface Recipe {
  whittle: 1;
  stages: RecipeStep[];
}

export class RecipeError extends Error {
  override name = 'RecipeError';
}

const RecipeShape = z.object({
  whittle: z.literal(1).optional(),
  stages: z.array(
    z.object({
      stage: z.string(),
      params: z.record(z.string(), z.unknown()).default({}),
      enabled: z.boolean().optional(),
    }),
  ),
});

/** Validate a step's parameters against its stage; the message names the stage and the field. */
export function validateStep(
  step: RecipeStep,
  index: number,
  registry: readonly AnyStage[] = stages,
): { stage: AnyStage; params: Record<string, unknown> } {
  const stage = registry.find((s) => s.id === step.stage);
  if (!stage)
    throw new RecipeError(
      `stage ${index + 1}: unknown stage id "${step.stage}" (known: ${registry.map((s) => s.id).join(', ')})`,
    );
  const r = stage.params.strict().safeParse(step.params ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    const field =
      issue.code === 'unrecognized_keys'
        ? issue.keys.join(', ')
        : issue.path.map(String).join('.') || '(params)';
    throw new RecipeError(`stage ${index + 1} ("${step.stage}"): field "${field}": ${issue.message}`);
  }
  return { stage, params: r.data as Record<string, unknown> };
}

/** Parse recipe JSON (text or value), checking every step. */
export function parseRecipe(json: unknown, registry: readonly AnyStage[] = stages): Recipe {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (e) {
      throw new RecipeError(`the recipe is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const r = RecipeShape.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new RecipeError(`recipe field "${issue.path.map(String).join('.') || 'stages'}": ${issue.message}`);
  }
  const recipe: Recipe = { whittle: 1, stages: r.data.stages };
  recipe.stages.forEach((s, i) => validateStep(s, i, registry));
  return recipe;
}

/** Stable JSON (sorted keys) for cache keys and byte-identical exports. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** The recipe as the studio exports it (pretty JSON, keys in a stable order). */
export function formatRecipe(recipe: Recipe): string {
  return `${JSON.stringify(
    {
      whittle: 1,
      stages: recipe.stages.map((s) => ({
        stage: s.stage,
        params: JSON.parse(canonicalJson(s.params)) as unknown,
        ...(s.enabled === false ? { enabled: false } : {}),
      })),
    },
    null,
    2,
  )}\n`;
}
