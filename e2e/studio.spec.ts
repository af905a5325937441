import { existsSync, readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import { badInputs, externalDataModel, smallCnn, type NamedBytes } from '../src/worker/testing/models';
import {
  coreSummary,
  expect,
  expectSummary,
  openThroughInput,
  ORIGIN,
  readBytes,
  sampleFile,
  sharedModel,
  test,
  waitForStartup,
} from './fixtures';

const hasSample = existsSync(sampleFile);

async function openSmallCnn(page: Page): Promise<NamedBytes> {
  const cnn = smallCnn();
  await openThroughInput(page, [cnn]);
  await expectSummary(page, coreSummary(cnn.bytes));
  return cnn;
}

async function runAndRead(page: Page) {
  await page.getByTestId('run-model').click();
  const result = page.getByTestId('run-result');
  await expect(result).toBeVisible({ timeout: 90_000 });
  return {
    medianMs: Number(await result.getAttribute('data-median-ms')),
    p95Ms: Number(await result.getAttribute('data-p95-ms')),
    backend: await result.getAttribute('data-backend'),
    threads: Number(await result.getAttribute('data-threads')),
  };
}

test.beforeEach(async ({ page }) => {
  await page.goto('/');
  await waitForStartup(page);
});

test('the bundled sample opens at start with its exact numbers', async ({ page }) => {
  expect(hasSample, 'public/samples/digits-cnn.onnx is missing: run `npm run samples`').toBe(true);
  const summary = coreSummary(readBytes(sampleFile));
  await expectSummary(page, summary);
  await expect(page.getByTestId('app-error')).toHaveCount(0);
  await expect(page.getByTestId('graph-node').first()).toBeVisible();
  await expect(page.getByTestId('model-summary')).toContainText('digits-cnn.onnx');
  for (const op of Object.keys(summary.ops))
    await expect(page.getByTestId('model-summary')).toContainText(op);
});

test('a model opened through open-model shows the core summary numbers', async ({ page }) => {
  await openSmallCnn(page);
  const panel = page.getByTestId('model-summary');
  await expect(panel).toContainText('small-cnn.onnx');
  await expect(panel).toContainText('whittle-tests');
  // The symbolic batch dim is shown by name.
  await expect(panel.locator('.dim-symbolic').first()).toHaveText('batch');
  await expect(page.getByTestId('graph-node')).toHaveCount(4);
  await expect(page.getByTestId('run-dim')).toHaveAttribute('data-dim', 'batch');
});

test('mnist-8 from ../shared/models opens with the core summary numbers', async ({ page }) => {
  const mnist = sharedModel('mnist-8.onnx');
  test.skip(!mnist, '../shared/models is absent');
  await openThroughInput(page, [mnist!]);
  const summary = coreSummary(mnist!.bytes);
  await expectSummary(page, summary);
  // The canvas renders only the nodes in view; each one shown must be one of the model's operators.
  const nodes = page.getByTestId('graph-node');
  await expect(nodes.first()).toBeVisible();
  const ops = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute('data-op')));
  expect(ops.length).toBeLessThanOrEqual(summary.nodes);
  for (const op of ops) expect(Object.keys(summary.ops)).toContain(op);
});

test('a file dropped on the page opens', async ({ page }) => {
  const cnn = smallCnn();
  const dataTransfer = await page.evaluateHandle(
    ({ name, base64 }) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
      return dt;
    },
    { name: cnn.name, base64: Buffer.from(cnn.bytes).toString('base64') },
  );
  await page.dispatchEvent('main', 'dragenter', { dataTransfer });
  await expect(page.getByTestId('drop-overlay')).toBeVisible();
  await page.dispatchEvent('main', 'dragover', { dataTransfer });
  await page.dispatchEvent('main', 'drop', { dataTransfer });
  await expect(page.getByTestId('drop-overlay')).toHaveCount(0);
  await expectSummary(page, coreSummary(cnn.bytes));
  await expect(page.getByTestId('graph-node')).toHaveCount(4);
});

test('clicking a graph node opens the inspector with its weights', async ({ page }) => {
  await openSmallCnn(page);
  await page.locator('[data-testid="graph-node"][data-op="Conv"]').click();
  const inspector = page.getByTestId('inspector');
  await expect(inspector).toHaveAttribute('data-op', 'Conv');
  await expect(inspector.getByTestId('inspector-op')).toHaveText('Conv');
  await expect(inspector).toContainText('kernel_shape');
  const weight = inspector.locator('[data-testid="weight"][data-name="conv.weight"]');
  await expect(weight).toContainText('sparsity');
  // 8 of the 36 conv weights are zero.
  await expect(weight).toContainText('22.2%');
  const histogram = weight.getByTestId('weight-histogram');
  await expect(histogram).toBeVisible();
  await expect(histogram.locator('.recharts-bar-rectangle').first()).toBeVisible();

  await page.locator('[data-testid="graph-node"][data-op="Gemm"]').click();
  await expect(inspector).toHaveAttribute('data-op', 'Gemm');
  await expect(inspector.locator('[data-testid="weight"]')).toHaveCount(2);
  await expect(inspector).toContainText('transB');
});

test('run on WASM shows a latency, the backend and the threads', async ({ page }) => {
  await openSmallCnn(page);
  await page.getByTestId('run-dim').fill('2');
  await page.getByTestId('run-count').fill('10');
  const r = await runAndRead(page);
  expect(r.backend).toBe('wasm');
  expect(r.medianMs).toBeGreaterThan(0);
  expect(r.p95Ms).toBeGreaterThanOrEqual(r.medianMs);
  expect(r.threads).toBeGreaterThanOrEqual(1);
  const isolated = await page.evaluate(() => crossOriginIsolated);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  expect(isolated).toBe(true);
  expect(r.threads).toBe(Math.min(4, cores));
  await expect(page.getByTestId('run-result')).toContainText('logits');
  await expect(page.getByTestId('run-result')).toContainText('float32[2×10]');
});

test('run on WebGPU when the browser offers it', async ({ page }) => {
  const gpuOption = page.getByTestId('run-backend').locator('option[value="webgpu"]');
  // Capabilities arrive from the worker shortly after start.
  await expect(page.getByTestId('run-backend').locator('option[value="wasm"]')).toContainText('thread');
  if (await gpuOption.isDisabled()) {
    const reason = await page.getByTestId('webgpu-reason').textContent();
    test.skip(true, `WebGPU unavailable in this chromium: ${reason}`);
  }
  await openSmallCnn(page);
  await page.getByTestId('run-backend').selectOption('webgpu');
  await page.getByTestId('run-count').fill('5');
  const r = await runAndRead(page);
  expect(r.backend).toBe('webgpu');
  expect(r.medianMs).toBeGreaterThan(0);
});

test('export downloads exactly the bytes that were opened', async ({ page }) => {
  const cnn = await openSmallCnn(page);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-model').click(),
  ]);
  expect(download.suggestedFilename()).toBe('small-cnn.onnx');
  const saved = readFileSync(await download.path());
  expect(Buffer.compare(saved, Buffer.from(cnn.bytes))).toBe(0);
});

test('export of the bundled sample is byte-identical to the file served', async ({ page }) => {
  expect(hasSample, 'public/samples/digits-cnn.onnx is missing: run `npm run samples`').toBe(true);
  await expectSummary(page, coreSummary(readBytes(sampleFile)));
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-model').click(),
  ]);
  expect(download.suggestedFilename()).toBe('digits-cnn.onnx');
  expect(Buffer.compare(readFileSync(await download.path()), readFileSync(sampleFile))).toBe(0);
});

test('bad inputs show an error naming the problem and keep the previous model', async ({ page }) => {
  // The previous model is the sample the studio opened at start.
  expect(hasSample, 'public/samples/digits-cnn.onnx is missing: run `npm run samples`').toBe(true);
  const sample = readBytes(sampleFile);
  const previous = coreSummary(sample);
  await expectSummary(page, previous);
  await page.locator('[data-testid="graph-node"][data-op="Conv"]').first().click();
  const inspector = page.getByTestId('inspector');
  await expect(inspector).toHaveAttribute('data-op', 'Conv');
  const selected = await inspector.getAttribute('data-node-id');
  for (const bad of badInputs(sample)) {
    await test.step(bad.label, async () => {
      await openThroughInput(page, [bad]);
      const error = page.getByTestId('app-error');
      await expect(error).toBeVisible();
      await expect(error).toHaveAttribute('role', 'alert');
      await expect(error).toContainText(bad.name);
      await expect(error).toContainText(bad.message);
      await expectSummary(page, previous);
      await expect(page.getByTestId('model-summary')).toContainText('digits-cnn.onnx');
      await expect(page.locator(`[data-testid="graph-node"][data-node-id="${selected}"]`)).toBeVisible();
      await expect(inspector).toHaveAttribute('data-node-id', selected!);
      await expect(inspector.getByTestId('weight-histogram').first()).toBeVisible();
      await error.getByRole('button', { name: 'Dismiss error' }).click();
      await expect(error).toHaveCount(0);
    });
  }
  // The previous model still runs.
  const r = await runAndRead(page);
  expect(r.backend).toBe('wasm');
  expect(r.medianMs).toBeGreaterThan(0);
  await expect(page.getByTestId('run-result')).toContainText('logits');
});

test('a model with external data opens and runs when both files are given', async ({ page }) => {
  const ext = externalDataModel();
  await openThroughInput(page, [ext.model]);
  await expect(page.getByTestId('app-error')).toContainText(
    '"ext-weights.bin", which was not opened with it',
  );
  await openThroughInput(page, [ext.model, ext.data]);
  await expectSummary(page, coreSummary(ext.model.bytes));
  await expect(page.getByTestId('model-summary')).toContainText('ext-weights.bin');
  const r = await runAndRead(page);
  expect(r.medianMs).toBeGreaterThan(0);
  await expect(page.getByTestId('run-result')).toContainText('float32[1×3]');
});

test('no request leaves the studio origin', async ({ page, requests }) => {
  await openSmallCnn(page);
  await page.locator('[data-testid="graph-node"][data-op="Conv"]').click();
  await expect(page.getByTestId('weight-histogram').first()).toBeVisible();
  await runAndRead(page);
  // The runtime binary is one of the requests, served by the studio itself.
  expect(requests.some((u) => u.startsWith(`${ORIGIN}/`) && u.endsWith('.wasm'))).toBe(true);
  expect(requests.every((u) => u.startsWith(`${ORIGIN}/`) || u.startsWith(`blob:${ORIGIN}/`))).toBe(true);
});
