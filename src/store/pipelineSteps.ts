import { findStage, stages } from '../passes/registry';
import type { AnyStage } from '../passes/types';
import { canonicalJson, validateStep, type Recipe, type RecipeStep } from '../pipeline/recipe';

/** One stage card of the pipeline: a recipe step plus a stable key for the list and its results. */
export interface PipelineStep {
  key: string;
  stage: string;
  params: Record<string, unknown>;
  enabled: boolean;
}

let keySeq = 0;

/** A key unique within this page (and unlikely to collide with restored keys). */
export function newStepKey(): string {
  return `s${Date.now().toString(36)}${(++keySeq).toString(36)}`;
}

/** The stage's parameters with every default filled in, so recipes say exactly what ran. */
export function defaultParams(stage: AnyStage): Record<string, unknown> {
  const r = stage.params.safeParse({});
  return r.success ? (r.data as Record<string, unknown>) : {};
}

export function makeStep(stageId: string, params?: Record<string, unknown>, enabled = true): PipelineStep {
  const stage = findStage(stageId);
  return {
    key: newStepKey(),
    stage: stageId,
    params: params ?? (stage ? defaultParams(stage) : {}),
    enabled,
  };
}

/** The recipe of a pipeline (CONTRACT.md), disabled steps included and marked. */
export function recipeOf(steps: readonly PipelineStep[]): Recipe {
  return {
    whittle: 1,
    stages: steps.map((s) => ({
      stage: s.stage,
      params: s.params,
      ...(s.enabled ? {} : { enabled: false }),
    })),
  };
}

/** Pipeline steps from a parsed recipe. */
export function stepsOf(recipe: Recipe): PipelineStep[] {
  return recipe.stages.map((s: RecipeStep) => makeStep(s.stage, { ...s.params }, s.enabled !== false));
}

/** Same stage, parameters and switch: its earlier result still describes it. */
export function sameStep(a: Pick<PipelineStep, 'stage' | 'params' | 'enabled'>, b: typeof a): boolean {
  return (
    a.stage === b.stage && a.enabled === b.enabled && canonicalJson(a.params) === canonicalJson(b.params)
  );
}

/** Problems of one step: by parameter name, and the step-level message validateStep gives. */
export interface StepIssues {
  fields: Record<string, string>;
  /** validateStep's message (names the stage and the field), or null when the step is valid. */
  message: string | null;
}

const noIssues: StepIssues = { fields: {}, message: null };

/** Validate a step like the runner will (validateStep), and map every issue to its field. */
export function stepIssues(step: PipelineStep, index: number): StepIssues {
  const stage = findStage(step.stage);
  let message: string | null = null;
  try {
    validateStep({ stage: step.stage, params: step.params }, index);
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  if (!message) return noIssues;
  const fields: Record<string, string> = {};
  if (stage) {
    const r = stage.params.strict().safeParse(step.params);
    if (!r.success)
      for (const issue of r.error.issues) {
        const keys = issue.code === 'unrecognized_keys' ? issue.keys : [String(issue.path[0] ?? '(params)')];
        for (const k of keys)
          fields[k] ??= issue.code === 'unrecognized_keys' ? 'not a parameter of this stage' : issue.message;
      }
  }
  return { fields, message };
}

/**
 * The pipeline a first-time user finds with the sample: fold BatchNorm, then static int8
 * quantization when that stage is registered (magnitude pruning otherwise). Stages missing from the
 * registry are left out, so the default never names an unknown stage.
 */
export function defaultPipeline(registry: readonly AnyStage[] = stages): PipelineStep[] {
  const has = (id: string) => registry.some((s) => s.id === id);
  const ids = ['fold-batchnorm'];
  if (has('quantize-static')) ids.push('quantize-static');
  else if (has('prune-magnitude')) ids.push('prune-magnitude');
  const picked = ids.filter(has);
  if (picked.length === 0 && registry[0]) picked.push(registry[0].id);
  return picked.map((id) => makeStep(id));
}

/**
 * How many leading steps still match the run on screen (same key, stage, parameters and switch):
 * the results of those steps describe the pipeline as it is now; later ones are out of date.
 */
export function matchingPrefix(steps: readonly PipelineStep[], runSteps: readonly PipelineStep[]): number {
  let n = 0;
  while (
    n < steps.length &&
    n < runSteps.length &&
    steps[n].key === runSteps[n].key &&
    sameStep(steps[n], runSteps[n])
  )
    n++;
  return n;
}

const problems = new WeakMap<readonly PipelineStep[], string | null>();

/** The first problem that blocks running the pipeline (validateStep's message), or null. */
export function pipelineProblem(steps: readonly PipelineStep[]): string | null {
  if (problems.has(steps)) return problems.get(steps)!;
  const problem = steps.map((s, i) => stepIssues(s, i).message).find((m) => m !== null) ?? null;
  problems.set(steps, problem);
  return problem;
}
