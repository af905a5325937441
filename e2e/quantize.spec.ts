import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';

const quantizeCard = (page: Page) =>
  page.getByTestId('pipeline').locator('[data-testid="stage-card"][data-stage="quantize-static"]').first();

/** The studio has opened the sample model and the sample dataset. */
async function ready(page: Page): Promise<void> {
  await expect(page.getByTestId('model-summary')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('dataset-panel')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('save-state')).not.toHaveAttribute('data-state', 'restoring');
}

test('analyze sensitivity on the quantize card, keep the most sensitive layer in float, run', async ({
  page,
}) => {
  await page.goto('/');
  await ready(page);
  const stages = await page
    .getByTestId('pipeline')
    .getByTestId('stage-card')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-stage')));
  expect(stages).toContain('fold-batchnorm');
  expect(stages).toContain('quantize-static');

  const card = quantizeCard(page);
  const title = card.locator('.card-title');
  if ((await title.getAttribute('aria-expanded')) !== 'true') await title.click();
  const panel = card.getByTestId('sensitivity-panel');
  await expect(panel).toBeVisible();

  await panel.getByTestId('analyze-sensitivity').click();
  await expect(panel).toHaveAttribute('data-state', 'done', { timeout: 90_000 });
  const chart = panel.getByTestId('sensitivity-chart');
  await expect(chart).toBeVisible();
  const bars = Number(await chart.getAttribute('data-bars'));
  expect(bars).toBeGreaterThan(1);
  await expect(chart.locator('.recharts-bar-rectangle')).toHaveCount(bars);
  await expect(panel.getByTestId('sensitivity-summary')).toContainText('samples');

  // The graph is painted as a heatmap: the overlay reaches the store with one entry per layer found.
  const picker = card.locator('[data-testid="layer-picker"][data-param="exclude"]');
  await expect(picker.locator('.layer-chip')).toHaveCount(0);
  // "Within X points" is measured on the whole quantized model before the list is filled.
  await panel.getByTestId('loss-budget').fill('0');
  await panel.getByTestId('keep-within-budget').click();
  await expect(panel.getByTestId('budget-note')).toContainText('points lost (measured)', { timeout: 60_000 });
  await panel.getByTestId('keep-count').fill('1');
  await panel.getByTestId('keep-most-sensitive').click();
  await expect(picker.locator('.layer-chip')).toHaveCount(1);

  // One undo step takes the filled list back.
  await page.getByTestId('undo').click();
  await expect(picker.locator('.layer-chip')).toHaveCount(0);
  await page.getByTestId('redo').click();
  await expect(picker.locator('.layer-chip')).toHaveCount(1);

  await page.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'done', {
    timeout: 90_000,
  });
  await expect(card).toHaveAttribute('data-status', 'done');
  const index = Number(await card.getAttribute('data-index'));
  const result = page.locator(`[data-testid="stage-result"][data-index="${index + 1}"]`);
  await expect(result).toHaveCount(1);
  expect(Number(await result.getAttribute('data-accuracy'))).toBeGreaterThan(0.95);
  const original = page.locator('[data-testid="stage-result"][data-index="0"]');
  expect(Number(await result.getAttribute('data-bytes'))).toBeLessThan(
    Number(await original.getAttribute('data-bytes')),
  );
  // The quantized model in the graph: the inspector shows a weight's scale, zero point and values.
  await result.click();
  const dqNodes = page.locator('[data-testid="graph-node"][data-op="DequantizeLinear"]');
  await expect(dqNodes.first()).toBeVisible();
  // Only nodes in view are rendered, and weights sit in their layers' frames: show the whole graph.
  await page.getByTestId('graph-view').getByRole('button', { name: 'Fit view' }).click();
  await page.waitForTimeout(400);
  const quant = page.getByTestId('inspector').getByTestId('quant-params');
  // Activations show their scale and zero point; a weight also shows its integer and dequantized values.
  await dqNodes.first().click();
  await expect(quant).toContainText('scale');
  let weightShown = false;
  for (let i = 0; i < (await dqNodes.count()) && !weightShown; i++) {
    await dqNodes.nth(i).click();
    const id = (await dqNodes.nth(i).getAttribute('data-node-id')) ?? '';
    await expect(page.getByTestId('inspector')).toHaveAttribute('data-details-id', id);
    await expect(quant).toBeVisible();
    weightShown = (await quant.getByTestId('quant-stats').count()) > 0;
  }
  expect(weightShown, 'a DequantizeLinear of a weight shows its values').toBe(true);
  await expect(quant).toContainText('per-channel');
  await expect(quant.locator('[data-testid="quant-stats"][data-kind="dequantized"]')).toBeVisible();
  await expect(quant.getByTestId('weight-histogram').first()).toBeVisible();
});
