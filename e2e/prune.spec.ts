import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';

const palette = (page: Page, stage: string) =>
  page.getByTestId('stage-palette').locator(`[data-stage="${stage}"]`);
const cards = (page: Page) => page.getByTestId('pipeline').getByTestId('stage-card');
const card = (page: Page, index: number) => page.locator(`[data-testid="stage-card"][data-index="${index}"]`);

test.beforeEach(async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('model-summary')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('dataset-panel')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('save-state')).not.toHaveAttribute('data-state', 'restoring');
});

test('the sparsity slider updates the live estimate, a sweep draws the curve, the pruned stage shows badges', async ({
  page,
}) => {
  while ((await cards(page).count()) > 0) await cards(page).first().getByTestId('stage-remove').click();
  await palette(page, 'prune-magnitude').dragTo(page.getByTestId('pipeline'));
  await expect(cards(page)).toHaveCount(1);
  const title = card(page, 0).locator('.card-title');
  if ((await title.getAttribute('aria-expanded')) !== 'true') await title.click();

  // The live estimate at the default sparsity, then after moving the slider.
  const estimate = card(page, 0).getByTestId('prune-estimate');
  await expect(estimate).toHaveAttribute('data-busy', 'false');
  const gzipAt = async () => Number(await estimate.getAttribute('data-gzip-bytes'));
  const before = await gzipAt();
  const slider = card(page, 0).locator('input[type="range"][data-param="sparsity"]');
  const moved = Date.now();
  await slider.fill('0.9');
  await expect.poll(async () => Number(await estimate.getAttribute('data-sparsity'))).toBeGreaterThan(0.85);
  await expect(estimate).toHaveAttribute('data-busy', 'false');
  const after = await gzipAt();
  console.log(
    `live estimate: slider → new figures in ${Date.now() - moved} ms (150 ms debounce included), worker ${await estimate.getAttribute('data-ms')} ms; gzip ${before} → ${after} bytes`,
  );
  expect(after).toBeGreaterThan(0);
  // More zeros compress better.
  expect(after).toBeLessThan(before);
  const fidelity = Number(await estimate.getAttribute('data-fidelity'));
  expect(fidelity).toBeGreaterThanOrEqual(0);
  expect(fidelity).toBeLessThanOrEqual(1);

  // A sweep over 0–95 % draws one point per sparsity.
  await card(page, 0).getByTestId('prune-sweep').click();
  const chart = card(page, 0).getByTestId('sweep-chart');
  await expect(chart).toBeVisible({ timeout: 60_000 });
  await expect(chart.getByTestId('sweep-point')).toHaveCount(20);
  const values = await chart
    .getByTestId('sweep-point')
    .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
  // No pruning keeps the model's accuracy; 95 % loses some of it.
  expect(values[0]).toBeGreaterThan(values[values.length - 1]);

  // Run, select the pruning stage's result: its pruned layers carry badges on the graph.
  await page.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'done', {
    timeout: 90_000,
  });
  await page.locator('[data-testid="stage-result"][data-index="1"]').click();
  await expect(page.getByTestId('graph-banner')).toContainText('stage 1');
  // Small layers (conv1) stay dense; bring a pruned one into view (off-screen nodes are not drawn).
  await page.getByTestId('graph-search').fill('conv2');
  await page.getByTestId('graph-search').press('Enter');
  const badges = page.locator('[data-testid="overlay-badge"][data-kind="pruned"]');
  await expect(badges.first()).toBeVisible();
  await expect(badges.first()).toHaveText(/^\d+%$/);
  await expect(page.getByTestId('overlay-legend')).toContainText('Stage 1');
  // Back to the original: the stage overlay goes away.
  await page.getByTestId('graph-banner').getByRole('button', { name: 'Back to original' }).click();
  await expect(page.getByTestId('overlay-badge')).toHaveCount(0);
});
