import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { Page } from '@playwright/test';
import { Model } from '../src/onnx/ir';
import { readProvenance } from '../src/pipeline/provenance';
import { expect, test } from './fixtures';

async function ready(page: Page): Promise<void> {
  await expect(page.getByTestId('model-summary')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('dataset-panel')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('save-state')).not.toHaveAttribute('data-state', 'restoring');
}

/**
 * Find a node of the sample's graph with the search box (only nodes in view are rendered), select
 * it (ids `n<index>` in the model's node order) and wait for its edit actions.
 */
async function select(page: Page, id: string, name: string, editedAs = name): Promise<void> {
  const search = page.getByTestId('graph-search');
  await search.fill(name);
  await search.press('Enter');
  await page.locator(`[data-testid="graph-node"][data-node-id="${id}"]`).click();
  await expect(page.getByTestId('edit-actions')).toHaveAttribute('data-node', editedAs);
}

const editCard = (page: Page) => page.locator('[data-testid="stage-card"][data-stage="edit-graph"]');
const editCount = (page: Page) => editCard(page).getByTestId('edit-list');

test('edits from the inspector are checked, recorded in an edit-graph stage, run and exported', async ({
  page,
}) => {
  test.setTimeout(180_000);
  await page.goto('/');
  await ready(page);
  const cards = page.getByTestId('stage-card');
  const defaultStages = await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-stage')));
  expect(defaultStages).not.toContain('edit-graph');

  // Rename the first Gemm: a new edit-graph stage at the end of the pipeline holds it.
  await select(page, 'n9', '/classifier/fc1/Gemm');
  await page.getByTestId('edit-rename').click();
  await page.getByTestId('edit-rename-input').fill('/classifier/hidden/Gemm');
  await page.getByTestId('edit-rename-apply').click();
  await expect(editCount(page)).toHaveAttribute('data-count', '1');
  await expect(cards).toHaveCount(defaultStages.length + 1);
  await expect(editCard(page)).toHaveAttribute('data-index', String(defaultStages.length));
  await expect(page.getByTestId('edit-done')).toContainText('recorded in stage');

  // Deleting Flatten, which the Gemm reads, is refused at once with the stage's message.
  await select(page, 'n8', '/flatten/Flatten');
  await page.getByTestId('edit-delete').click();
  const error = page.getByTestId('edit-error');
  // Checked on the model entering the stage (after quantization, a QuantizeLinear reads Flatten).
  await expect(error).toContainText(
    'Edit 2 (delete node "/flatten/Flatten") refused: its output "/flatten/Flatten_output_0" is read by 1 node(s) ("/flatten/Flatten_output_0_Q")',
  );
  await expect(error).toContainText(`Checked on the output of stage ${defaultStages.length}`);
  await expect(editCount(page)).toHaveAttribute('data-count', '1');
  await expect(cards).toHaveCount(defaultStages.length + 1);

  // Bypass the first Relu; fix the batch dimension of the input the first Conv reads.
  await select(page, 'n2', '/features/relu1/Relu');
  await expect(error).toHaveCount(0);
  await page.getByTestId('edit-bypass').click();
  await expect(editCount(page)).toHaveAttribute('data-count', '2');
  await select(page, 'n0', '/features/conv1/Conv');
  await page
    .locator('[data-testid="edit-actions"] [data-testid="edit-set-dims"][data-input="image"]')
    .click();
  await expect(page.locator('[data-testid="edit-dim"][data-index="0"]')).toHaveValue('N');
  await page.locator('[data-testid="edit-dim"][data-index="0"]').fill('1');
  await page.getByTestId('edit-dims-apply').click();
  await expect(editCount(page)).toHaveAttribute('data-count', '3');

  // Attributes: alpha of the renamed Gemm (edits follow the earlier rename) is taken; pooling
  // strides that no longer fit the Gemm after them are refused by onnxruntime-web when the edited
  // model is loaded in the worker.
  await select(page, 'n9', '/classifier/fc1/Gemm', '/classifier/hidden/Gemm');
  await expect(page.getByTestId('edit-actions')).toContainText('as /classifier/hidden/Gemm');
  await page.locator('[data-testid="edit-attribute"][data-attr="alpha"]').click();
  await expect(page.getByTestId('edit-attribute-input')).toHaveValue('1');
  await page.getByTestId('edit-attribute-input').fill('2');
  await page.getByTestId('edit-attribute-apply').click();
  await expect(editCount(page)).toHaveAttribute('data-count', '4');
  await select(page, 'n3', '/features/pool1/MaxPool');
  await page.locator('[data-testid="edit-attribute"][data-attr="strides"]').click();
  await expect(page.getByTestId('edit-attribute-input')).toHaveValue('2, 2');
  await page.getByTestId('edit-attribute-input').fill('1, 1');
  await page.getByTestId('edit-attribute-apply').click();
  await expect(error).toContainText(
    'Edit 5 (set attribute strides of node "/features/pool1/MaxPool") refused',
  );
  await expect(error).toContainText('the edited model does not load in onnxruntime-web');
  await expect(editCount(page)).toHaveAttribute('data-count', '4');

  // A cut, then removed from the stage card (and undone/redone through the pipeline's history).
  await select(page, 'n10', '/classifier/relu1/Relu');
  await page.locator('[data-testid="edit-cut"][data-tensor="/classifier/relu1/Relu_output_0"]').click();
  await expect(editCount(page)).toHaveAttribute('data-count', '5');
  await editCard(page).getByTestId('edit-remove').nth(4).click();
  await expect(editCount(page)).toHaveAttribute('data-count', '4');
  await page.getByTestId('undo').click();
  await expect(editCount(page)).toHaveAttribute('data-count', '5');
  await page.getByTestId('redo').click();
  await expect(editCount(page)).toHaveAttribute('data-count', '4');
  await expect(editCard(page).getByTestId('edit-item')).toHaveText([
    /rename node "\/classifier\/fc1\/Gemm" to "\/classifier\/hidden\/Gemm"/,
    /bypass node "\/features\/relu1\/Relu"/,
    /set input "image" dims to \[1, 1, 28, 28\]/,
    /set attribute alpha of node "\/classifier\/hidden\/Gemm"/,
  ]);

  await page.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'done', {
    timeout: 120_000,
  });
  const last = page.getByTestId('stage-result').last();
  await expect(last).toHaveAttribute('data-index', String(defaultStages.length + 1));
  await last.click();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-model').click(),
  ]);
  const bytes = new Uint8Array(readFileSync(await download.path()));

  const model = Model.decode(bytes);
  const names = model.graph.nodes.map((n) => n.name);
  expect(names).toContain('/classifier/hidden/Gemm');
  expect(names).not.toContain('/classifier/fc1/Gemm');
  expect(names).not.toContain('/features/relu1/Relu');
  expect(names).toContain('/features/relu2/Relu');
  expect(names).toContain('/flatten/Flatten');
  expect(readProvenance(bytes)?.recipe.stages.at(-1)).toMatchObject({
    stage: 'edit-graph',
    params: {
      edits: [
        { kind: 'rename-node' },
        { kind: 'bypass-node' },
        { kind: 'set-input-dims' },
        { kind: 'set-attribute', name: 'alpha', value: 2 },
      ],
    },
  });
  expect(model.graph.nodes.find((n) => n.name === '/classifier/hidden/Gemm')?.attribute('alpha')?.f).toBe(2);
  expect(model.graph.nodes.find((n) => n.name === '/classifier/fc2/Gemm')?.attribute('alpha')?.f).toBe(1);

  const session = await ort.InferenceSession.create(bytes);
  try {
    const input = model.graph.inputs.find((v) => v.name === 'image')!;
    const dims =
      input.type?.value.case === 'tensorType'
        ? input.type.value.value.shape?.dim.map((d) =>
            d.value.case === 'dimValue' ? Number(d.value.value) : null,
          )
        : undefined;
    expect(dims).toEqual([1, 1, 28, 28]);
    const image = new ort.Tensor('float32', new Float32Array(28 * 28).fill(0.5), [1, 1, 28, 28]);
    const out = await session.run({ image });
    expect(out[session.outputNames[0]].dims).toEqual([1, 10]);
  } finally {
    await session.release();
  }
});
