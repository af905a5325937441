import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Page } from '@playwright/test';
import { expect, sampleAccuracy, test } from './fixtures';

const palette = (page: Page, stage: string) =>
  page.getByTestId('stage-palette').locator(`[data-stage="${stage}"]`);
const cards = (page: Page) => page.getByTestId('pipeline').getByTestId('stage-card');
const card = (page: Page, index: number) => page.locator(`[data-testid="stage-card"][data-index="${index}"]`);

async function setNumber(page: Page, index: number, param: string, value: string): Promise<void> {
  const title = card(page, index).locator('.card-title');
  if ((await title.getAttribute('aria-expanded')) !== 'true') await title.click();
  const input = card(page, index).locator(`input.param-number[data-param="${param}"]`);
  await input.fill(value);
  await input.blur();
  await expect(input).toHaveValue(value);
  await title.click();
}

/**
 * Issue 8's combined pipeline, end to end in the studio on the sample and its full splits:
 * distill (width 0.5) → 50 % magnitude pruning with fine-tuning → QAT int8 → clustering. At least
 * 20× smaller gzip than the float original within 2 points, and the exported model scores in
 * onnxruntime-node exactly what the studio measured.
 */
test('distill → prune + fine-tune → QAT int8 → cluster: ≥ 20× smaller within 2 points, export scores the same', async ({
  page,
}) => {
  test.setTimeout(600_000);
  await page.goto('/');
  await expect(page.getByTestId('model-summary')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('dataset-panel')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('save-state')).not.toHaveAttribute('data-state', 'restoring');
  while ((await cards(page).count()) > 0) await cards(page).first().getByTestId('stage-remove').click();
  for (const stage of ['distill', 'prune-magnitude', 'quantize-aware', 'cluster-weights'])
    await palette(page, stage).getByRole('button', { name: /^Add / }).click();
  await expect(cards(page)).toHaveCount(4);
  await setNumber(page, 0, 'epochs', '6');
  await setNumber(page, 0, 'learningRate', '0.003');
  await setNumber(page, 1, 'sparsity', '0.5');
  await setNumber(page, 1, 'fineTuneEpochs', '2');
  await setNumber(page, 2, 'epochs', '1');

  await page.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('training-view')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'done', {
    timeout: 540_000,
  });

  const rows = await page.getByTestId('stage-result').evaluateAll((els) =>
    els.map((e) => ({
      stage: e.getAttribute('data-stage'),
      gzip: Number(e.getAttribute('data-gzip-bytes')),
      accuracy: Number(e.getAttribute('data-accuracy')),
    })),
  );
  console.log(
    rows
      .map((r) => `${r.stage || 'original'}: ${(r.accuracy * 100).toFixed(1)} %, gzip ${r.gzip} B`)
      .join('\n'),
  );
  expect(rows).toHaveLength(5);
  const [original, , , , final] = rows;
  expect(final!.gzip * 20).toBeLessThanOrEqual(original!.gzip);
  expect(final!.accuracy).toBeGreaterThanOrEqual(original!.accuracy - 0.02);

  await page.getByTestId('stage-result').last().click();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-model').click(),
  ]);
  const exported = new Uint8Array(readFileSync(await download.path()));
  expect(gzipSync(exported, { level: 9 }).byteLength * 20).toBeLessThanOrEqual(original!.gzip * 1.01);
  expect(await sampleAccuracy(exported)).toBe(final!.accuracy);
});
