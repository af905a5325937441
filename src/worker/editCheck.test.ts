import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GraphEdit } from '../graph/edits';
import type { Recipe } from '../pipeline/recipe';
import { createNodeRuntime } from '../runtime/node';
import { readBytes, repoRoot } from '../test/fixtures';
import { editLoadCheckMaxNodes, PipelineService } from './pipelineService';
import { transformerModel } from '../graph/testing/transformer';

const sample = {
  name: 'digits-cnn.onnx',
  bytes: readBytes(path.join(repoRoot, 'public/samples/digits-cnn.onnx')),
};
const runtime = createNodeRuntime({ threads: 1 });

const recipe = (edits: GraphEdit[], ...before: Recipe['stages']): Recipe => ({
  whittle: 1,
  stages: [...before, { stage: 'edit-graph', params: { edits } }],
});

function ok<T extends { ok: boolean }>(r: T): T {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

async function sampleService(): Promise<PipelineService> {
  const s = new PipelineService({ runtime: async () => runtime });
  const r = await s.setModel([sample]);
  if (!r.ok) throw new Error(r.error);
  return s;
}

describe('PipelineService.checkEdits', () => {
  it('checks on the original model, on earlier stages computed for the check, or on the last run', async () => {
    const s = await sampleService();
    const bypassBn: GraphEdit = { kind: 'bypass-node', node: '/features/bn1/BatchNormalization', input: 0 };
    const alone = await s.checkEdits({ recipe: recipe([bypassBn]), stepIndex: 0, backend: 'cpu' });
    expect(alone).toMatchObject({ ok: true, basis: 'the original model', loaded: true });
    // Renames cannot change what onnxruntime accepts: not loaded again for them.
    const renamed = await s.checkEdits({
      recipe: recipe([bypassBn, { kind: 'rename-node', node: '/flatten/Flatten', to: 'flat' }]),
      stepIndex: 0,
      backend: 'cpu',
    });
    expect(renamed).toMatchObject({ ok: true, loaded: false });

    const folded = recipe([bypassBn], { stage: 'fold-batchnorm', params: {} });
    const computed = await s.checkEdits({ recipe: folded, stepIndex: 1, backend: 'cpu' });
    expect(computed).toMatchObject({ ok: false, basis: 'the output of stage 1 (Fold BatchNorm)' });
    expect(!computed.ok && computed.error).toMatch(/^Edit 1 \(bypass node .*\) refused: there is no node/);

    // A disabled earlier stage does not run.
    const disabled: Recipe = {
      ...folded,
      stages: [{ ...folded.stages[0], enabled: false }, folded.stages[1]],
    };
    expect(await s.checkEdits({ recipe: disabled, stepIndex: 1, backend: 'cpu' })).toMatchObject({
      ok: true,
      basis: 'the original model',
    });

    // An earlier step the run would refuse is skipped here, and the answer says so.
    const invalid = recipe([bypassBn], { stage: 'prune-magnitude', params: { sparsity: 5 } });
    const skipped = await s.checkEdits({ recipe: invalid, stepIndex: 1, backend: 'cpu' });
    expect(skipped.ok).toBe(true);
    expect(skipped.ok && skipped.basis).toMatch(
      /^the original model \(stage 1, prune-magnitude, could not run: stage 1 \("prune-magnitude"\): field "sparsity"/,
    );

    const relu: GraphEdit = { kind: 'bypass-node', node: '/features/relu1/Relu', input: 0 };
    const run = await s.run({ runId: 'r1', recipe: recipe([relu], folded.stages[0]), backend: 'cpu' });
    expect(run.ok).toBe(true);
    const afterRun = await s.checkEdits({
      recipe: recipe([relu, { kind: 'rename-node', node: '/flatten/Flatten', to: 'flat' }], folded.stages[0]),
      stepIndex: 1,
      backend: 'cpu',
    });
    expect(afterRun).toMatchObject({
      ok: true,
      basis: 'the output of stage 1 (Fold BatchNorm) of the last run',
      notes: [
        'bypass node "/features/relu1/Relu" (1 node removed)',
        'rename node "/flatten/Flatten" to "flat"',
      ],
    });
  });

  it('refuses edits whose model onnxruntime does not load, and steps that are not edit-graph', async () => {
    const s = await sampleService();
    // Shapes still infer, but Relu has no attribute "slope": onnxruntime does not load the model.
    const slope: GraphEdit = {
      kind: 'set-attribute',
      node: '/features/relu1/Relu',
      name: 'slope',
      value: 0.1,
    };
    const r = await s.checkEdits({ recipe: recipe([slope]), stepIndex: 0, backend: 'cpu' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(
      /^Edit 1 \(set attribute slope of node "\/features\/relu1\/Relu"\) refused: the edited model does not load in onnxruntime-node: .*slope/,
    );
    // The edit that breaks loading is named, even with later edits after it.
    const later: GraphEdit = { kind: 'rename-node', node: '/flatten/Flatten', to: 'flat' };
    const both = await s.checkEdits({ recipe: recipe([slope, later]), stepIndex: 0, backend: 'cpu' });
    expect(!both.ok && both.error).toMatch(/^Edit 1 \(set attribute slope of node/);
    const after = await s.checkEdits({ recipe: recipe([later, slope]), stepIndex: 0, backend: 'cpu' });
    expect(!after.ok && after.error).toMatch(/^Edit 2 \(set attribute slope of node/);
    const notEdit = await s.checkEdits({
      recipe: { whittle: 1, stages: [{ stage: 'fold-batchnorm', params: {} }] },
      stepIndex: 0,
      backend: 'cpu',
    });
    expect(notEdit).toEqual({ ok: false, error: 'Step 1 is not an edit-graph stage.' });
  });

  it('leaves loading models over the node limit to the run, saying so', async () => {
    const s = new PipelineService({ runtime: async () => runtime });
    const big = transformerModel({ layers: 9, heads: 20, headSize: 1 });
    expect(big.graph.nodes.length).toBeGreaterThan(editLoadCheckMaxNodes);
    ok(await s.setModel([{ name: 'big.onnx', bytes: big.encode() }]));
    // Softmax has no attribute "slope": only loading the model in onnxruntime would tell.
    const slope: GraphEdit = {
      kind: 'set-attribute',
      node: '/encoder/layer.0/attention/self/Softmax',
      name: 'slope',
      value: 0.1,
    };
    expect(await s.checkEdits({ recipe: recipe([slope]), stepIndex: 0, backend: 'cpu' })).toMatchObject({
      ok: true,
      loaded: false,
    });
  });
});
