import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as base, expect, type Page } from '@playwright/test';
import * as ort from 'onnxruntime-node';
import { loadDataset } from '../src/data/dataset';
import { Model } from '../src/onnx/ir';
import { summarizeModel, type ModelSummary } from '../src/onnx/summary';
import type { NamedBytes } from '../src/worker/testing/models';

// WHITTLE_ORIGIN lets a second preview server (another port) run the same tests.
export const ORIGIN = process.env.WHITTLE_ORIGIN ?? 'http://localhost:4173';
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const sampleFile = path.join(repoRoot, 'public/samples/digits-cnn.onnx');
export const sharedModelsDir = path.resolve(repoRoot, '../shared/models');

export function readBytes(file: string): Uint8Array {
  const b = readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function sharedModel(name: string): NamedBytes | undefined {
  const file = path.join(sharedModelsDir, name);
  return existsSync(file) ? { name, bytes: readBytes(file) } : undefined;
}

/** The facts the summary panel must show, computed in Node with the same codec. */
export function coreSummary(bytes: Uint8Array): ModelSummary {
  return summarizeModel(Model.decode(bytes), bytes.byteLength);
}

/** Wait until the summary panel is ready and shows exactly these numbers. */
export async function expectSummary(page: Page, summary: ModelSummary): Promise<void> {
  const panel = page.getByTestId('model-summary');
  await expect(panel).toHaveAttribute('data-state', 'ready');
  await expect(panel).toHaveAttribute('data-nodes', String(summary.nodes));
  await expect(panel).toHaveAttribute('data-initializers', String(summary.initializers));
  await expect(panel).toHaveAttribute('data-parameters', String(summary.parameters));
  await expect(panel).toHaveAttribute('data-bytes', String(summary.bytes));
}

/** Open files through the `open-model` file input. */
export async function openThroughInput(page: Page, files: NamedBytes[]): Promise<void> {
  await page.getByTestId('open-model').setInputFiles(
    files.map((f) => ({
      name: f.name,
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(f.bytes),
    })),
  );
}

/** The studio has finished its start-up: the sample (or an error when it is missing) is shown. */
export async function waitForStartup(page: Page): Promise<void> {
  await expect(page.getByTestId('model-summary')).not.toHaveAttribute('data-state', 'loading');
}

/**
 * Every test records the page's requests and fails when one leaves the studio's origin (no CDN, no
 * telemetry); `requests` gives the list to tests that look at it.
 */
export const test = base.extend<{ requests: string[] }>({
  requests: [
    async ({ page }, use) => {
      const urls: string[] = [];
      page.on('request', (r) => urls.push(r.url()));
      await use(urls);
      const foreign = urls.filter(
        (u) => !u.startsWith(`${ORIGIN}/`) && !u.startsWith(`blob:${ORIGIN}/`) && !u.startsWith('data:'),
      );
      expect(foreign, 'requests outside the studio origin').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Accuracy of a model on the sample's evaluation split, in onnxruntime-node, through our dataset loader. */
export async function sampleAccuracy(bytes: Uint8Array): Promise<number> {
  const model = Model.decode(bytes);
  const manifest = JSON.parse(
    readFileSync(path.join(repoRoot, 'public/samples', 'digits-dataset.json'), 'utf8'),
  ) as unknown;
  const ds = await loadDataset(
    manifest,
    async (p) => new Uint8Array(readFileSync(path.join(repoRoot, 'public/samples', p))),
    summarizeModel(model, bytes.byteLength).inputs,
  );
  const session = await ort.InferenceSession.create(bytes);
  let correct = 0;
  for (const i of ds.splits.evaluation) {
    const s = ds.sample(i);
    const feeds = Object.fromEntries(
      Object.entries(s.feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.data as Float32Array, t.dims)]),
    );
    const out = (await session.run(feeds))[session.outputNames[0]].data as Float32Array;
    let best = 0;
    for (let k = 1; k < out.length; k++) if (out[k] > out[best]) best = k;
    if (best === s.label) correct++;
  }
  await session.release();
  return correct / ds.splits.evaluation.length;
}
