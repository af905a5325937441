import { readFileSync } from 'node:fs';
import { PDFDocument } from 'pdf-lib';
import type { Page } from '@playwright/test';
import { readProvenance } from '../src/pipeline/provenance';
import { formatBytes, formatPercent } from '../src/report/format';
import { pdfPlainText } from '../src/report/testing/pdfText';
import { expect, sampleAccuracy, test } from './fixtures';

async function ready(page: Page): Promise<void> {
  await expect(page.getByTestId('model-summary')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('dataset-panel')).toHaveAttribute('data-state', 'ready');
}

test('run the default pipeline, export model, recipe and PDF report; the model scores what the studio showed', async ({
  page,
}) => {
  test.setTimeout(180_000);
  await page.goto('/');
  await ready(page);
  await page.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'done', {
    timeout: 120_000,
  });

  const rows = page.getByTestId('stage-result');
  const pageNumbers = await rows.evaluateAll((els) =>
    els.map((e) => ({
      bytes: Number(e.getAttribute('data-bytes')),
      accuracy: Number(e.getAttribute('data-accuracy')),
    })),
  );
  const stageTitles = await page
    .getByTestId('pipeline')
    .locator('[data-testid="stage-card"] .card-title')
    .allTextContents();
  const last = rows.last();
  const lastIndex = await last.getAttribute('data-index');
  const studioAccuracy = Number(await last.getAttribute('data-accuracy'));
  await last.click();

  const [modelDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-model').click(),
  ]);
  expect(modelDownload.suggestedFilename()).toMatch(/^digits-cnn\.whittle-.+\.onnx$/);
  const exported = new Uint8Array(readFileSync(await modelDownload.path()));
  const provenance = readProvenance(exported);
  expect(provenance?.recipe.stages.length).toBe(Number(lastIndex));
  // The exported model loads in onnxruntime-node and scores exactly what the studio measured.
  expect(await sampleAccuracy(exported)).toBe(studioAccuracy);

  const [recipeDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-recipe').click(),
  ]);
  const recipe = JSON.parse(readFileSync(await recipeDownload.path(), 'utf8')) as {
    whittle: number;
    stages: unknown[];
  };
  expect(recipe.whittle).toBe(1);
  expect(recipe.stages).toHaveLength(Number(lastIndex));

  const [reportDownload] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.getByTestId('export-report').click(),
  ]);
  expect(reportDownload.suggestedFilename()).toBe('digits-cnn.whittle-report.pdf');
  const pdf = new Uint8Array(readFileSync(await reportDownload.path()));
  expect(new TextDecoder().decode(pdf.subarray(0, 5))).toBe('%PDF-');
  const doc = await PDFDocument.load(pdf);
  expect(doc.getPageCount()).toBeGreaterThanOrEqual(3);
  const [width, height] = [doc.getPage(0).getWidth(), doc.getPage(0).getHeight()];
  expect(Math.round(width)).toBe(595); // A4
  expect(Math.round(height)).toBe(842);
  // The report names every stage and prints the same numbers as the page (one shared formatter).
  const text = (await pdfPlainText(pdf)).replace(/\s+/g, ' ');
  expect(text).toContain('digits-cnn.onnx');
  for (const title of stageTitles) expect(text).toContain(title.trim());
  for (const n of pageNumbers) {
    expect(text).toContain(formatBytes(n.bytes));
    expect(text).toContain(formatPercent(n.accuracy));
  }
});
