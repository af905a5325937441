import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { parseRecipe, RecipeError, validateStep } from '../pipeline/recipe';
import { runOrtNode } from '../test/fixtures';
import { editGraph } from './editGraph';
import { findStage } from './registry';
import { testContext } from './testing/harness';

function model() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['N', 2]);
  const i = b.node('Identity', [x], {}, { name: 'id', outputs: ['xi'] })[0];
  const r = b.node('Relu', [i], {}, { name: 'relu', outputs: ['r'] })[0];
  b.node('Neg', [r], {}, { name: 'neg', outputs: ['y'] });
  b.output('y', DataType.FLOAT, ['N', 2]);
  return b.model({ opset: 17 });
}

describe('edit-graph stage', () => {
  it('is registered and its edits replay from a recipe', async () => {
    expect(findStage('edit-graph')).toBe(editGraph);
    const recipe = parseRecipe({
      whittle: 1,
      stages: [
        {
          stage: 'edit-graph',
          params: {
            edits: [
              { kind: 'bypass-node', node: 'id' },
              { kind: 'set-input-dims', input: 'x', dims: [1, 2] },
              { kind: 'rename-tensor', from: 'y', to: 'output' },
            ],
          },
        },
      ],
    });
    const { stage, params } = validateStep(recipe.stages[0], 0);
    const m = model();
    const r = await stage.run(m, params, testContext());
    expect(r.model.graph.nodes.map((n) => n.name)).toEqual(['relu', 'neg']);
    expect(r.notes).toEqual([
      'bypass node "id" (1 node removed)',
      'set input "x" dims to [1, 2]',
      'rename tensor "y" to "output"',
    ]);
    expect(r.changes).toContainEqual({ node: 'id', kind: 'removed', detail: 'bypassed' });
    // The input model is untouched.
    expect(m.graph.nodes).toHaveLength(3);
    const out = await runOrtNode(r.model.encode(), {
      x: new ort.Tensor('float32', Float32Array.from([-1, 2]), [1, 2]),
    });
    expect(Array.from(out.output.data as Float32Array)).toEqual([-0, -2]);
  });

  it('rejects malformed edits in a recipe and refuses impossible ones when run', async () => {
    expect(() =>
      parseRecipe({
        stages: [{ stage: 'edit-graph', params: { edits: [{ kind: 'explode-node', node: 'id' }] } }],
      }),
    ).toThrow(RecipeError);
    const params = editGraph.params.parse({ edits: [{ kind: 'delete-node', node: 'relu' }] });
    await expect(editGraph.run(model(), params, testContext())).rejects.toThrow(
      'Edit 1 (delete node "relu") refused: its output "r" is read by 1 node(s) ("neg"); give a replacement tensor of the same shape',
    );
  });

  it('does nothing with no edits', async () => {
    const r = await editGraph.run(model(), editGraph.params.parse({}), testContext());
    expect(r.notes).toEqual(['no edits']);
    expect(r.model.graph.nodes).toHaveLength(3);
  });
});
