/**
 * What the browser benchmarks (first-paint.ts, pan-frames.ts) share: the built studio served by
 * `vite preview`, Debian's chromium, generated transformer models, and dropping a file on the page.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chromium, type Browser, type Page } from '@playwright/test';
import { transformerModel } from '../src/graph/testing/transformer';
import { summarizeGraph } from '../src/onnx/summary';

/** A generated model of one size, ready to drop. */
export interface BenchModel {
  label: string;
  name: string;
  bytes: Uint8Array;
  nodes: number;
}

/** Generated PyTorch-named transformers of about 1k, 10k and 50k nodes (as bench/graph-scale.bench.ts). */
export const modelSizes = {
  '1k': { layers: 4, heads: 20 },
  '10k': { layers: 24, heads: 37 },
  '50k': { layers: 48, heads: 100 },
} as const;

export type SizeLabel = keyof typeof modelSizes;

export function benchModel(label: SizeLabel): BenchModel {
  const model = transformerModel({ ...modelSizes[label], headSize: 1 });
  return {
    label,
    name: `transformer-${label}.onnx`,
    bytes: model.encode(),
    nodes: summarizeGraph(model.graph).nodes.length,
  };
}

/** A numeric `--name value` argument. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** A string `--name value` argument. */
export function stringArg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Linear-interpolated quantile, q in [0, 1]. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

async function serverUp(origin: string): Promise<boolean> {
  try {
    return (await fetch(origin)).ok;
  } catch {
    return false;
  }
}

/** The studio being benchmarked: an origin, and the server started for it (if one was). */
export interface Studio {
  origin: string;
  browser: Browser;
  close(): Promise<void>;
}

/**
 * Launch Debian's chromium against the studio on `--port` (default 4173): a preview server already
 * there is used as it is; otherwise the studio is built and served for the duration of the bench.
 */
export async function openStudio(): Promise<Studio> {
  const port = numberArg('port', 4173);
  const origin = `http://localhost:${port}`;
  let server: ChildProcess | undefined;
  if (!(await serverUp(origin))) {
    console.log(`No server on :${port}; building and starting vite preview…`);
    server = spawn('sh', ['-c', `npx vite build && exec npx vite preview --port ${port} --strictPort`], {
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
    });
    const deadline = Date.now() + 180_000;
    while (!(await serverUp(origin))) {
      if (Date.now() > deadline) throw new Error('the preview server did not start within 180 s');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-sync',
    ],
  });
  return {
    origin,
    browser,
    async close() {
      await browser.close();
      if (server?.pid) process.kill(-server.pid);
    },
  };
}

/** A fresh page on the studio, started up (the sample open), with `model` fetchable as a File. */
export async function studioPage(studio: Studio, model: BenchModel): Promise<Page> {
  const page = await studio.browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.route(`${studio.origin}/__bench/${model.name}`, (route) =>
    route.fulfill({ body: Buffer.from(model.bytes), contentType: 'application/octet-stream' }),
  );
  await page.goto(studio.origin);
  await page.waitForSelector('[data-testid="model-summary"][data-state="ready"]', { timeout: 120_000 });
  // The file is read into the page before the clock starts: the drop itself is what is timed.
  // Page scripts are strings: tsx would wrap functions in helpers the page lacks.
  await page.evaluate(`(async () => {
    const bytes = await (await fetch('/__bench/${model.name}')).arrayBuffer();
    window.__benchFile = new File([bytes], '${model.name}');
  })()`);
  return page;
}

/** Page script: drop the prepared file on the page, as a user's drop does, and note the time in `window.__bench.t0`. */
export const dropScript = `(() => {
  const dt = new DataTransfer();
  dt.items.add(window.__benchFile);
  window.__bench.t0 = performance.now();
  document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
})()`;
