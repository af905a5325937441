import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GraphEdit } from '../graph/edits';
import { createNodeRuntime } from '../runtime/node';
import { readBytes, repoRoot } from '../test/fixtures';
import { PipelineService } from '../worker/pipelineService';
import { useStudio } from './index';
import { graphEditsOf, setGraphEditChecker, withGraphEdit, withoutGraphEdit } from './pipelineSlice';
import { makeStep, recipeOf } from './pipelineSteps';

const sample = {
  name: 'digits-cnn.onnx',
  bytes: readBytes(path.join(repoRoot, 'public/samples/digits-cnn.onnx')),
};
const runtime = createNodeRuntime({ threads: 1 });
const service = new PipelineService({ runtime: async () => runtime });

const rename: GraphEdit = { kind: 'rename-node', node: '/classifier/fc1/Gemm', to: '/classifier/hidden' };
const bypass: GraphEdit = { kind: 'bypass-node', node: '/features/relu1/Relu', input: 0 };
const deleteFlatten: GraphEdit = { kind: 'delete-node', node: '/flatten/Flatten' };

const state = () => useStudio.getState();
const stages = () => state().steps.map((s) => s.stage);

beforeAll(async () => {
  const r = await service.setModel([sample]);
  if (!r.ok) throw new Error(r.error);
  setGraphEditChecker((recipe, stepIndex) => service.checkEdits({ recipe, stepIndex, backend: 'cpu' }));
});
afterAll(() => setGraphEditChecker(null));
beforeEach(() => {
  state().initSteps([makeStep('fold-batchnorm')]);
  state().dismissEditError();
});

describe('edit list of the pipeline', () => {
  it('appends to a trailing edit-graph step, else starts one at the end, and removes by index', () => {
    const steps = [makeStep('fold-batchnorm')];
    const first = withGraphEdit(steps, rename)!;
    expect(first.index).toBe(1);
    expect(first.steps.map((s) => s.stage)).toEqual(['fold-batchnorm', 'edit-graph']);
    expect(graphEditsOf(first.steps[1])).toEqual([rename]);
    const second = withGraphEdit(first.steps, bypass)!;
    expect(second.index).toBe(1);
    expect(second.steps).toHaveLength(2);
    expect(graphEditsOf(second.steps[1])).toEqual([rename, bypass]);
    // The input steps are not changed in place (undo keeps them).
    expect(graphEditsOf(first.steps[1])).toEqual([rename]);

    // A stage after the edits: the next edit starts a new edit-graph step.
    const after = [...second.steps, makeStep('prune-magnitude')];
    const third = withGraphEdit(after, deleteFlatten)!;
    expect(third.steps.map((s) => s.stage)).toEqual([
      'fold-batchnorm',
      'edit-graph',
      'prune-magnitude',
      'edit-graph',
    ]);
    // An explicit target appends to that step; a target that is not an edit-graph step is refused.
    const targeted = withGraphEdit(after, deleteFlatten, after[1].key)!;
    expect(targeted.index).toBe(1);
    expect(graphEditsOf(targeted.steps[1])).toEqual([rename, bypass, deleteFlatten]);
    expect(withGraphEdit(after, deleteFlatten, after[0].key)).toBeNull();

    const removed = withoutGraphEdit(second.steps, 1, 0)!;
    expect(graphEditsOf(removed[1])).toEqual([bypass]);
    expect(withoutGraphEdit(second.steps, 1, 2)).toBeNull();
    expect(withoutGraphEdit(second.steps, 0, 0)).toBeNull();
  });

  it('records checked edits as undoable pipeline changes and refuses what the stage refuses', async () => {
    expect(await state().addGraphEdit(rename)).toBe(true);
    expect(stages()).toEqual(['fold-batchnorm', 'edit-graph']);
    expect(await state().addGraphEdit(bypass)).toBe(true);
    expect(graphEditsOf(state().steps[1])).toEqual([rename, bypass]);
    expect(state().editError).toBeNull();

    // Flatten's output is read by the first Gemm: the stage refuses, the pipeline stays as it was.
    const before = state().steps;
    const pastLength = state().past.length;
    expect(await state().addGraphEdit(deleteFlatten)).toBe(false);
    expect(state().steps).toBe(before);
    expect(state().past).toHaveLength(pastLength);
    expect(state().editError?.origin).toBe('inspector');
    expect(state().editError?.message).toMatch(
      /^Edit 3 \(delete node "\/flatten\/Flatten"\) refused: its output "\/flatten\/Flatten_output_0" is read by 1 node\(s\) \("\/classifier\/hidden"\)/,
    );

    // Checked on the model entering the step: fold-batchnorm has removed the BatchNormalization nodes.
    expect(
      await state().addGraphEdit({ kind: 'delete-node', node: '/features/bn1/BatchNormalization' }),
    ).toBe(false);
    expect(state().editError?.message).toMatch(/there is no node "\/features\/bn1\/BatchNormalization"/);

    state().undo();
    expect(graphEditsOf(state().steps[1])).toEqual([rename]);
    state().redo();
    expect(graphEditsOf(state().steps[1])).toEqual([rename, bypass]);
    const key = state().steps[1].key;

    // The bypass does not depend on the rename: removing the rename is checked and recorded.
    expect(await state().removeGraphEdit(key, 0)).toBe(true);
    expect(graphEditsOf(state().steps[1])).toEqual([bypass]);
    state().undo();
    expect(graphEditsOf(state().steps[1])).toEqual([rename, bypass]);
  });

  it('refuses to remove an edit that later edits depend on, showing the message on that card', async () => {
    const renamed: GraphEdit = {
      kind: 'set-attribute',
      node: '/classifier/hidden',
      name: 'alpha',
      value: 0.5,
    };
    expect(await state().addGraphEdit(rename)).toBe(true);
    expect(await state().addGraphEdit(renamed)).toBe(true);
    const key = state().steps[1].key;
    const before = state().steps;
    expect(await state().removeGraphEdit(key, 0)).toBe(false);
    expect(state().steps).toBe(before);
    expect(state().editError).toEqual({
      origin: `step:${key}`,
      basis: 'the output of stage 1 (Fold BatchNorm)',
      message: expect.stringMatching(
        /^Edit 1 \(set attribute alpha of node "\/classifier\/hidden"\) refused: there is no node/,
      ),
    });
  });

  it('checks edits asked for in quick succession one after another, in order', async () => {
    const dims: GraphEdit = { kind: 'set-input-dims', input: 'image', dims: [1, 1, 28, 28] };
    const answers = await Promise.all([
      state().addGraphEdit(rename),
      state().addGraphEdit(deleteFlatten),
      state().addGraphEdit(dims),
    ]);
    expect(answers).toEqual([true, false, true]);
    expect(graphEditsOf(state().steps[1])).toEqual([rename, dims]);
    expect(state().editsPending).toBe(0);
    // The recorded pipeline runs: the check applied exactly these edits.
    const check = await service.checkEdits({ recipe: recipeOf(state().steps), stepIndex: 1, backend: 'cpu' });
    expect(check.ok && check.notes).toEqual([
      'rename node "/classifier/fc1/Gemm" to "/classifier/hidden"',
      'set input "image" dims to [1, 1, 28, 28]',
    ]);
    expect(check.ok && check.basis).toBe('the output of stage 1 (Fold BatchNorm)');
  });
});
