/**
 * Time from opening a 1,000-node model (setInputFiles on `open-model`) to the model summary being ready
 * and to the first node of its graph being painted, in Debian's chromium against the built studio.
 *
 *   npx tsx bench/first-paint.ts [--nodes 1000] [--repeat 5]
 *
 * Uses the preview server on http://localhost:4173 when one is running; otherwise builds the studio
 * and starts one for the duration of the bench.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chromium } from '@playwright/test';
import { chainModel } from '../src/worker/testing/models';

const ORIGIN = 'http://localhost:4173';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function serverUp(): Promise<boolean> {
  try {
    return (await fetch(ORIGIN)).ok;
  } catch {
    return false;
  }
}

async function startServer(): Promise<ChildProcess> {
  console.log('No server on :4173; building and starting vite preview…');
  const child = spawn('sh', ['-c', 'npx vite build && exec npx vite preview --port 4173 --strictPort'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (await serverUp()) return child;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the preview server did not start within 180 s');
}

/** Installs `window.__bench` and a requestAnimationFrame loop that records both times once `t0` is set. */
function pageProbe(nodeCount: number): string {
  return `(() => {
    window.__bench = { t0: 0 };
    const tick = () => {
      const b = window.__bench;
      if (b.t0 > 0) {
        const now = performance.now();
        const panel = document.querySelector('[data-testid="model-summary"]');
        if (b.summary === undefined && panel && panel.getAttribute('data-state') === 'ready' &&
            panel.getAttribute('data-nodes') === '${nodeCount}')
          b.summary = now - b.t0;
        const el = document.querySelector('[data-testid="graph-node"][data-node-id="n0"][data-op="Mul"]');
        if (b.paint === undefined && el) {
          const r = el.getBoundingClientRect();
          const onScreen = r.width > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight;
          if (onScreen && el.checkVisibility({ opacityProperty: true, visibilityProperty: true }))
            b.paint = now - b.t0;
        }
      }
      if (b.summary === undefined || b.paint === undefined) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })()`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const nodes = arg('nodes', 1000);
  const repeat = arg('repeat', 5);
  const model = chainModel(nodes);
  const server = (await serverUp()) ? undefined : await startServer();
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
  const summaryMs: number[] = [];
  const paintMs: number[] = [];
  try {
    for (let i = 0; i < repeat; i++) {
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      await page.goto(ORIGIN);
      await page.waitForSelector('[data-testid="model-summary"]:not([data-state="loading"])');
      // Poll every animation frame in the page: the first frame in which the new model's first node
      // (n0 is a Mul in the chain, never in the sample) is laid out on screen counts as its paint.
      // The page script is a string because tsx would wrap functions in helpers the page lacks.
      await page.evaluate(pageProbe(nodes));
      const input = page.getByTestId('open-model');
      await page.evaluate('window.__bench.t0 = performance.now()');
      await input.setInputFiles({
        name: model.name,
        mimeType: 'application/octet-stream',
        buffer: Buffer.from(model.bytes),
      });
      await page.waitForFunction(
        'window.__bench.summary !== undefined && window.__bench.paint !== undefined',
        null,
        {
          timeout: 120_000,
        },
      );
      const b = await page.evaluate<{ summary: number; paint: number }>('window.__bench');
      summaryMs.push(b.summary);
      paintMs.push(b.paint);
      console.log(
        `run ${i + 1}: summary ready ${b.summary.toFixed(0)} ms, first node painted ${b.paint.toFixed(0)} ms`,
      );
      await page.close();
    }
  } finally {
    await browser.close();
    if (server?.pid) process.kill(-server.pid);
  }
  console.log(
    `\n${nodes}-node model (${(model.bytes.byteLength / 1024).toFixed(1)} KiB), ${repeat} runs, medians:` +
      `\n  open → model summary ready: ${median(summaryMs).toFixed(0)} ms` +
      `\n  open → first graph node painted: ${median(paintMs).toFixed(0)} ms` +
      `\n  paint / summary: ${(median(paintMs) / median(summaryMs)).toFixed(2)}×`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
