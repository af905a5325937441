/**
 * Training throughput of the bundled sample model (batch 32, Adam): samples per second of the
 * training steps, side by side in one run, in Node (TensorFlow.js CPU backend with our gradient
 * kernels) and in headless Chromium for each TensorFlow.js backend it offers (cpu, webgl, webgpu;
 * the GPUs there are SwiftShader, i.e. software). In Chromium the training runs in a Web Worker, as
 * in the studio. Each backend gets warm-up batches, then one epoch capped in samples and time.
 *
 *   npx tsx bench/training-throughput.ts [--samples 320] [--max-seconds 20] [--warmup 2]
 *                                        [--backends cpu,webgl,webgpu] [--no-browser]
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { build, preview } from 'vite';
import type { TrainingBackend } from '../src/train/backend';
import {
  loadSample,
  measureThroughput,
  type ThroughputOptions,
  type ThroughputResult,
} from './trainingBench';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, '..');
const samplesDir = path.join(repoRoot, 'public/samples');
const sampleFiles = ['digits-cnn.onnx', 'digits-dataset.json', 'digits-images.npy', 'digits-labels.npy'];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const options: ThroughputOptions = {
  samples: Number(arg('samples', '320')),
  maxSeconds: Number(arg('max-seconds', '20')),
  warmupBatches: Number(arg('warmup', '2')),
};
const browserBackends = arg('backends', 'cpu,webgl,webgpu').split(',') as TrainingBackend[];

interface Row extends ThroughputResult {
  where: string;
  note?: string;
}

/** What the page reports about its GPUs. */
interface PageEnvironment {
  userAgent: string;
  webglRenderer: string;
  webgpuAdapter: string;
}

async function nodeRow(): Promise<Row> {
  // TensorFlow.js's advice to install tfjs-node (not an option here) stays out of the table.
  (await import('@tensorflow/tfjs')).env().set('PROD', true);
  const sample = await loadSample(async (p) => new Uint8Array(readFileSync(path.join(samplesDir, p))));
  const row = { where: `Node ${process.version}`, ...(await measureThroughput('cpu', sample, options)) };
  console.log(`  Node cpu: ${row.error ?? `${row.samplesPerSecond.toFixed(1)} samples/s`}`);
  return row;
}

/** Build a page whose worker runs {@link measureThroughput}, in a temporary folder. */
async function buildPage(dir: string): Promise<string> {
  const bench = path.relative(dir, path.join(benchDir, 'trainingBench.ts')).split(path.sep).join('/');
  writeFileSync(
    path.join(dir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>training throughput</title><script type="module" src="./main.ts"></script>',
  );
  writeFileSync(
    path.join(dir, 'worker.ts'),
    `import { loadSample, measureThroughput } from '${bench}';
self.onmessage = async (e) => {
  try {
    const { backends, options } = e.data;
    const sample = await loadSample(async (p) => {
      const r = await fetch('/samples/' + p);
      if (!r.ok) throw new Error(p + ': HTTP ' + r.status);
      return new Uint8Array(await r.arrayBuffer());
    });
    const results = [];
    for (const b of backends) {
      const r = await measureThroughput(b, sample, options);
      console.log('Chromium ' + b + ': ' + (r.error ?? r.samplesPerSecond.toFixed(1) + ' samples/s'));
      results.push(r);
    }
    self.postMessage({ results });
  } catch (err) {
    self.postMessage({ error: String(err instanceof Error ? err.message : err) });
  }
};
`,
  );
  writeFileSync(
    path.join(dir, 'main.ts'),
    `function webglRenderer() {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return 'none';
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  return info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : 'unknown';
}
async function webgpuAdapter() {
  const gpu = navigator.gpu;
  if (!gpu) return 'none';
  const a = await gpu.requestAdapter();
  if (!a) return 'no adapter';
  const i = a.info ?? {};
  return [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') + (i.isFallbackAdapter ? ' (fallback adapter)' : '');
}
window.__environment = async () => ({ userAgent: navigator.userAgent, webglRenderer: webglRenderer(), webgpuAdapter: await webgpuAdapter() });
window.__bench = (backends, options) => new Promise((resolve, reject) => {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (e) => {
    worker.terminate();
    if (e.data.error) reject(new Error(e.data.error));
    else resolve(e.data.results);
  };
  worker.onerror = (e) => reject(new Error(e.message));
  worker.postMessage({ backends, options });
});
window.__ready = true;
`,
  );
  const outDir = path.join(dir, 'dist');
  await build({
    root: dir,
    configFile: false,
    logLevel: 'error',
    publicDir: false,
    worker: { format: 'es' },
    build: { outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
  });
  mkdirSync(path.join(outDir, 'samples'));
  for (const f of sampleFiles) copyFileSync(path.join(samplesDir, f), path.join(outDir, 'samples', f));
  return outDir;
}

async function browserRows(): Promise<{ rows: Row[]; environment: PageEnvironment }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'whittle-training-bench-'));
  try {
    console.log('  building the page…');
    const outDir = await buildPage(dir);
    const server = await preview({
      root: dir,
      configFile: false,
      logLevel: 'warn',
      build: { outDir },
      preview: { port: 0, host: '127.0.0.1' },
    });
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--enable-unsafe-webgpu',
        '--enable-unsafe-swiftshader',
      ],
    });
    try {
      const address = server.httpServer.address();
      if (!address || typeof address === 'string') throw new Error('the preview server has no port');
      const page = await browser.newPage();
      page.on('console', (m) => console.log(`  [page] ${m.text()}`));
      page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
      // localhost: a secure context, which WebGPU needs.
      await page.goto(`http://localhost:${address.port}/`);
      await page.waitForFunction('window.__ready === true');
      const environment = (await page.evaluate('window.__environment()')) as PageEnvironment;
      const results = (await page.evaluate(
        `window.__bench(${JSON.stringify(browserBackends)}, ${JSON.stringify(options)})`,
      )) as ThroughputResult[];
      const chromiumVersion = /Chrome\/([\d.]+)/.exec(environment.userAgent)?.[1] ?? '?';
      const rows = results.map((r) => ({
        where: `Chromium ${chromiumVersion} (worker)`,
        ...r,
        note:
          r.backend === 'webgl'
            ? environment.webglRenderer
            : r.backend === 'webgpu'
              ? environment.webgpuAdapter
              : undefined,
      }));
      return { rows, environment };
    } finally {
      await browser.close();
      await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pad(cells: string[][]): string[] {
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  return cells.map((r) =>
    r.map((x, c) => (c >= 2 && c <= 7 ? x.padStart(widths[c]!) : x.padEnd(widths[c]!))).join('  '),
  );
}

console.log(
  `Training throughput, sample model (digits-cnn, 156,538 parameters), batch 32, Adam; up to ${options.samples} samples or ${options.maxSeconds} s after ${options.warmupBatches} warm-up batches.`,
);
const rows: Row[] = [await nodeRow()];
if (!process.argv.includes('--no-browser')) {
  const { rows: browser, environment } = await browserRows();
  rows.push(...browser);
  console.log(`WebGL renderer: ${environment.webglRenderer}; WebGPU adapter: ${environment.webgpuAdapter}`);
}
const reference = rows[0]!.samplesPerSecond;
const table = [
  ['where', 'backend', 'samples/s', 'vs Node cpu', 'samples', 'warm-up s', 'loss', 'accuracy', 'note'],
  ...rows.map((r) => [
    r.where,
    r.error ? r.requested : r.backend,
    r.error ? '—' : r.samplesPerSecond.toFixed(1),
    r.error || !reference ? '—' : `${(r.samplesPerSecond / reference).toFixed(2)}×`,
    r.error ? '—' : String(r.samples),
    r.error ? '—' : r.warmupSeconds.toFixed(1),
    r.error ? '—' : r.loss.toFixed(4),
    r.error ? '—' : `${(r.accuracy * 100).toFixed(1)} %`,
    r.error ? `not available: ${r.error}` : (r.note ?? ''),
  ]),
];
for (const line of pad(table)) console.log(line);
const failed = rows.filter((r) => r.error && r.requested === 'cpu');
process.exitCode = failed.length ? 1 : 0;
