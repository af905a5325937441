import { beforeEach, describe, expect, it } from 'vitest';
import { parseRecipe } from '../pipeline/recipe';
import { stages } from '../passes/registry';
import { useStudio } from './index';
import { defaultPipeline, matchingPrefix, pipelineProblem, recipeOf, stepIssues } from './pipelineSteps';

const ids = () => useStudio.getState().steps.map((s) => s.stage);

beforeEach(() => useStudio.getState().initSteps([]));

describe('pipeline slice', () => {
  it('adds, moves, duplicates, toggles and removes stages, each undoable and redoable', () => {
    const s = useStudio.getState();
    s.addStage('prune-magnitude');
    s.addStage('fold-batchnorm', 0);
    expect(ids()).toEqual(['fold-batchnorm', 'prune-magnitude']);
    s.moveStep(0, 1);
    expect(ids()).toEqual(['prune-magnitude', 'fold-batchnorm']);
    s.duplicateStep(0);
    expect(ids()).toEqual(['prune-magnitude', 'prune-magnitude', 'fold-batchnorm']);
    const [a, b] = useStudio.getState().steps;
    expect(a.key).not.toBe(b.key);
    expect(b.params).toEqual(a.params);
    s.toggleStep(2);
    expect(useStudio.getState().steps[2].enabled).toBe(false);
    s.removeStep(0);
    expect(ids()).toEqual(['prune-magnitude', 'fold-batchnorm']);

    s.undo();
    expect(ids()).toEqual(['prune-magnitude', 'prune-magnitude', 'fold-batchnorm']);
    s.undo();
    expect(useStudio.getState().steps[2].enabled).toBe(true);
    s.undo();
    s.undo();
    expect(ids()).toEqual(['fold-batchnorm', 'prune-magnitude']);
    s.redo();
    s.redo();
    expect(ids()).toEqual(['prune-magnitude', 'prune-magnitude', 'fold-batchnorm']);
    // A new edit drops the redo stack.
    s.addStage('simplify');
    expect(useStudio.getState().future).toEqual([]);
  });

  it('fills defaults, coalesces a slider drag into one undo step and validates like the runner', () => {
    const s = useStudio.getState();
    s.addStage('prune-magnitude');
    const step = useStudio.getState().steps[0];
    expect(step.params).toMatchObject({ sparsity: 0.5, scope: 'layer', exclude: [] });
    for (const v of [0.55, 0.6, 0.65, 0.7]) s.setParam(0, 'sparsity', v);
    expect(useStudio.getState().steps[0].params.sparsity).toBe(0.7);
    s.undo();
    expect(useStudio.getState().steps[0].params.sparsity).toBe(0.5);
    s.redo();

    s.setParam(0, 'sparsity', 1.5);
    const issues = stepIssues(useStudio.getState().steps[0], 0);
    expect(Object.keys(issues.fields)).toEqual(['sparsity']);
    expect(issues.message).toMatch(/stage 1 \("prune-magnitude"\): field "sparsity"/);
    expect(pipelineProblem(useStudio.getState().steps)).toBe(issues.message);
    s.setParam(0, 'sparsity', 0.7);
    expect(pipelineProblem(useStudio.getState().steps)).toBeNull();
  });

  it('adds picked graph nodes to the list being picked, once each', () => {
    const s = useStudio.getState();
    s.addStage('prune-magnitude');
    const key = useStudio.getState().steps[0].key;
    s.pickNode('/fc1/Gemm');
    expect(useStudio.getState().steps[0].params.exclude).toEqual([]);
    s.startPicking(key, 'exclude');
    s.pickNode('/fc1/Gemm');
    s.pickNode('/conv1/Conv');
    s.pickNode('/fc1/Gemm');
    expect(useStudio.getState().steps[0].params.exclude).toEqual(['/fc1/Gemm', '/conv1/Conv']);
  });

  it('round-trips recipes and matches results to unchanged leading steps', () => {
    const s = useStudio.getState();
    s.loadRecipe(
      parseRecipe({
        whittle: 1,
        stages: [
          { stage: 'fold-batchnorm' },
          { stage: 'prune-magnitude', params: { sparsity: 0.3 }, enabled: false },
        ],
      }),
    );
    const steps = useStudio.getState().steps;
    expect(recipeOf(steps)).toEqual({
      whittle: 1,
      stages: [
        { stage: 'fold-batchnorm', params: {} },
        { stage: 'prune-magnitude', params: { sparsity: 0.3 }, enabled: false },
      ],
    });
    const ran = structuredClone(steps);
    expect(matchingPrefix(steps, ran)).toBe(2);
    s.setParam(1, 'sparsity', 0.4);
    expect(matchingPrefix(useStudio.getState().steps, ran)).toBe(1);
    s.moveStep(1, 0);
    expect(matchingPrefix(useStudio.getState().steps, ran)).toBe(0);
  });

  it('builds the default pipeline from what the registry has', () => {
    expect(defaultPipeline().map((s) => s.stage)).toEqual(['fold-batchnorm', 'quantize-static']);
    const withoutQuant = stages.filter((s) => s.id !== 'quantize-static');
    expect(defaultPipeline(withoutQuant).map((s) => s.stage)).toEqual(['fold-batchnorm', 'prune-magnitude']);
    const onlySimplify = stages.filter((s) => s.id === 'simplify');
    expect(defaultPipeline(onlySimplify).map((s) => s.stage)).toEqual(['simplify']);
  });
});
