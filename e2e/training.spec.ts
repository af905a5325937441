import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';

const palette = (page: Page, stage: string) =>
  page.getByTestId('stage-palette').locator(`[data-stage="${stage}"]`);
const cards = (page: Page) => page.getByTestId('pipeline').getByTestId('stage-card');
const card = (page: Page, index: number) => page.locator(`[data-testid="stage-card"][data-index="${index}"]`);
const result = (page: Page, index: number) =>
  page.locator(`[data-testid="stage-result"][data-index="${index}"]`);

/** The studio has opened the sample model and the sample dataset. */
async function ready(page: Page): Promise<void> {
  await expect(page.getByTestId('model-summary')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('dataset-panel')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('save-state')).not.toHaveAttribute('data-state', 'restoring');
}

async function setNumber(page: Page, index: number, param: string, value: string): Promise<void> {
  const title = card(page, index).locator('.card-title');
  if ((await title.getAttribute('aria-expanded')) !== 'true') await title.click();
  const input = card(page, index).locator(`input.param-number[data-param="${param}"]`);
  await input.fill(value);
  await expect(input).toHaveValue(value);
}

/**
 * Small epochs: 300 training and 200 validation (calibration) samples instead of 1000 and 500, so
 * an epoch takes seconds on the CPU backend; the evaluation split keeps its 1000 samples.
 */
async function smallSplits(page: Page): Promise<void> {
  const panel = page.getByTestId('dataset-panel');
  const details = panel.locator('details.dataset-details');
  if ((await details.getAttribute('open')) === null) await details.locator('summary').click();
  for (const [split, n] of [
    ['train', '300'],
    ['calibration', '200'],
  ] as const) {
    const input = panel.getByTestId(`split-${split}`);
    await input.fill(n);
    await input.press('Enter');
    await expect(panel).toHaveAttribute('data-state', 'ready');
    await expect(input).toHaveValue(n);
  }
  await expect(panel.getByTestId('split-evaluation')).toHaveValue('1000');
}

/** The pipeline of the issue: 80 % magnitude pruning, then two epochs of fine-tuning. */
async function pruneAndFineTune(page: Page): Promise<void> {
  while ((await cards(page).count()) > 0) await cards(page).first().getByTestId('stage-remove').click();
  await palette(page, 'prune-magnitude').dragTo(page.getByTestId('pipeline'));
  await expect(cards(page)).toHaveCount(1);
  await setNumber(page, 0, 'sparsity', '0.8');
  // The palette's add button appends (the expanded card above may cover the drop area).
  await palette(page, 'fine-tune').getByRole('button', { name: /^Add / }).click();
  await expect(cards(page)).toHaveCount(2);
  await expect(card(page, 1)).toHaveAttribute('data-stage', 'fine-tune');
  await setNumber(page, 1, 'epochs', '2');
}

/** Longest gap between animation frames over `ms`: the page stays responsive while the worker trains. */
function longestFrameGap(page: Page, ms: number): Promise<number> {
  return page.evaluate(
    (duration) =>
      new Promise<number>((resolve) => {
        const start = performance.now();
        let last = start;
        let worst = 0;
        const tick = (now: number) => {
          worst = Math.max(worst, now - last);
          last = now;
          if (now - start < duration) requestAnimationFrame(tick);
          else resolve(worst);
        };
        requestAnimationFrame(tick);
      }),
    ms,
  );
}

test('prune + fine-tune: the live training view pauses, resumes and finishes; the tuned stage scores above the pruned one', async ({
  page,
}) => {
  test.setTimeout(180_000);
  await page.goto('/');
  await ready(page);
  await smallSplits(page);
  await pruneAndFineTune(page);

  await page.getByTestId('run-pipeline').click();
  const view = page.getByTestId('training-view');
  await expect(view).toBeVisible({ timeout: 60_000 });
  await expect(view).toHaveAttribute('data-state', 'running');
  await expect(page.getByTestId('training-epoch')).toHaveText(/^[12]\/2$/);
  await expect(page.getByTestId('training-chart')).toBeVisible();
  await expect(page.getByTestId('training-rate')).toHaveText(/\d samples\/s$/);
  const gap = await longestFrameGap(page, 1500);
  console.log(`longest frame gap while training: ${gap.toFixed(0)} ms`);
  expect(gap).toBeLessThan(500);

  // Pause: once the batch in flight has reported, nothing moves.
  await page.getByTestId('training-pause').click();
  await expect(view).toHaveAttribute('data-state', 'paused');
  await expect(page.getByTestId('training-resume')).toBeVisible();
  await page.waitForTimeout(1000);
  const chart = page.getByTestId('training-chart');
  const frozen = {
    batch: await page.getByTestId('training-batch').textContent(),
    epoch: await page.getByTestId('training-epoch').textContent(),
    points: await chart.getAttribute('data-points'),
  };
  await page.waitForTimeout(2000);
  expect(await page.getByTestId('training-batch').textContent()).toBe(frozen.batch);
  expect(await page.getByTestId('training-epoch').textContent()).toBe(frozen.epoch);
  expect(await chart.getAttribute('data-points')).toBe(frozen.points);
  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'running');

  // Resume: training goes on.
  await page.getByTestId('training-resume').click();
  await expect(view).toHaveAttribute('data-state', 'running');
  await expect
    .poll(async () => (await chart.getAttribute('data-points')) !== frozen.points, { timeout: 30_000 })
    .toBe(true);

  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'done', {
    timeout: 150_000,
  });
  await expect(view).toHaveAttribute('data-state', 'done');
  await expect(page.getByTestId('training-epoch')).toHaveText('2/2');
  await expect(chart).toHaveAttribute('data-epochs', '2');
  await expect(chart.locator('.recharts-line').first()).toBeVisible();
  await expect(page.getByTestId('training-validation')).toHaveText(/^\d+\.\d %$/);

  const pruned = Number(await result(page, 1).getAttribute('data-accuracy'));
  const tuned = Number(await result(page, 2).getAttribute('data-accuracy'));
  console.log(`accuracy: pruned 80 % ${pruned}, + 2 epochs fine-tune ${tuned}`);
  expect(tuned).toBeGreaterThan(pruned);
  await expect(result(page, 2).locator('.col-stage')).toHaveAttribute('title', /fine-tune: 2 epochs/);
});

test('a reload in the middle of training resumes from the last finished epoch', async ({ page }) => {
  test.setTimeout(180_000);
  await page.goto('/');
  await ready(page);
  await smallSplits(page);
  await pruneAndFineTune(page);
  await expect(page.getByTestId('save-state')).toHaveAttribute('data-state', 'saved');

  await page.getByTestId('run-pipeline').click();
  // Epoch 2 has started: epoch 1's checkpoint is in IndexedDB.
  await expect(page.getByTestId('training-epoch')).toHaveText('2/2', { timeout: 120_000 });
  await page.reload();
  await ready(page);
  await expect(cards(page)).toHaveCount(2);
  await expect(card(page, 1)).toHaveAttribute('data-stage', 'fine-tune');

  await page.getByTestId('run-pipeline').click();
  const view = page.getByTestId('training-view');
  await expect(view).toBeVisible({ timeout: 60_000 });
  // The first event after the resume is already in epoch 2, with epoch 1 in the curves.
  await expect(page.getByTestId('training-epoch')).toHaveText('2/2');
  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'done', {
    timeout: 150_000,
  });
  await expect(page.getByTestId('training-chart')).toHaveAttribute('data-epochs', '2');
  await expect(result(page, 2).locator('.col-stage')).toHaveAttribute(
    'title',
    /fine-tune: 2 epochs on cpu \(resumed after epoch 1\)/,
  );
});
