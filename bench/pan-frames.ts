/**
 * Frame times while panning the generated 10,000-node transformer in the graph view, in Debian's
 * chromium against the built studio: a requestAnimationFrame loop in the page records every frame
 * while Playwright drags the canvas (mouse down on the empty pane, ~60 moves a second, down, up and
 * back), in three views of the same model side by side, after the same idle measurement:
 * - first view: the collapsed layers at the readable zoom the studio opens with;
 * - fit view: every item of the collapsed view on screen;
 * - deep node revealed: a search for a node in layer 22 opens its groups (about a hundred items),
 *   then "Fit view" puts them all on screen.
 *
 *   npx tsx bench/pan-frames.ts [--size 10k] [--seconds 3] [--port 4173]
 */
import type { Page } from '@playwright/test';
import {
  benchModel,
  dropScript,
  median,
  modelSizes,
  numberArg,
  openStudio,
  quantile,
  stringArg,
  studioPage,
  type SizeLabel,
} from './studioBrowser';

interface FrameStats {
  frames: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  fps: number;
  /** Frames longer than 50 ms (a visible stall). */
  long: number;
  /** Frames in which the canvas transform had changed: the drag really panned. */
  moved: number;
}

const samplerScript = `(() => {
  window.__frames = { on: false, times: [], moved: 0, last: '' };
  const tick = (t) => {
    const f = window.__frames;
    if (f.on) {
      f.times.push(t);
      const transform = document.querySelector('[data-testid="graph-view"] .react-flow__viewport')?.style.transform ?? '';
      if (transform !== f.last) f.moved++;
      f.last = transform;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})()`;

function stats(times: number[], moved: number): FrameStats {
  const deltas = times.slice(1).map((t, i) => t - times[i]);
  const span = times.length > 1 ? times[times.length - 1] - times[0] : NaN;
  return {
    frames: deltas.length,
    medianMs: median(deltas),
    p95Ms: quantile(deltas, 0.95),
    maxMs: Math.max(...deltas),
    fps: (deltas.length / span) * 1000,
    long: deltas.filter((d) => d > 50).length,
    moved,
  };
}

async function sample(page: Page, action: () => Promise<void>): Promise<FrameStats> {
  await page.evaluate(`(() => {
    const f = window.__frames;
    f.times = [];
    f.moved = 0;
    f.last = document.querySelector('[data-testid="graph-view"] .react-flow__viewport')?.style.transform ?? '';
    f.on = true;
  })()`);
  await action();
  await page.evaluate('window.__frames.on = false');
  const f = await page.evaluate<{ times: number[]; moved: number }>('window.__frames');
  return stats(f.times, f.moved);
}

/** A point of the canvas with only the empty pane under it (a drag there pans rather than moves a node). */
async function emptyPanePoint(page: Page): Promise<{ x: number; y: number }> {
  const point = await page.evaluate<{ x: number; y: number } | null>(`(() => {
    const pane = document.querySelector('[data-testid="graph-view"] .react-flow__pane');
    const r = pane.getBoundingClientRect();
    for (let fy = 0.5; fy < 0.95; fy += 0.05)
      for (const fx of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
        const x = r.left + r.width * fx, y = r.top + r.height * fy;
        const el = document.elementFromPoint(x, y);
        if (el && el.classList.contains('react-flow__pane')) return { x, y };
      }
    return null;
  })()`);
  if (!point) throw new Error('no empty spot of the canvas to drag');
  return point;
}

/** Drag the canvas for `seconds`: down, back up, then right and back left, about 60 moves a second. */
async function pan(page: Page, seconds: number): Promise<void> {
  const start = await emptyPanePoint(page);
  const steps = Math.round(seconds * 60);
  await page.mouse.move(start.x, start.y);
  await page.mouse.down();
  const t0 = performance.now();
  for (let i = 1; i <= steps; i++) {
    const phase = i / steps;
    const dy = phase < 0.5 ? Math.sin(phase * 2 * Math.PI) * 300 : 0;
    const dx = phase >= 0.5 ? Math.sin((phase - 0.5) * 2 * Math.PI) * 300 : 0;
    await page.mouse.move(start.x + dx, start.y - dy);
    // Pace the moves like a hand: one per 1/60 s, whatever each move cost.
    const due = t0 + (i * 1000) / 60;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await page.mouse.up();
}

async function settle(page: Page): Promise<void> {
  await page.waitForSelector('[data-testid="graph-view"][data-state="ready"]', { timeout: 120_000 });
  await page.waitForTimeout(1000);
}

async function main(): Promise<void> {
  const label = stringArg('size', '10k') as SizeLabel;
  if (!(label in modelSizes)) throw new Error(`unknown size "${label}" (1k, 10k, 50k)`);
  const seconds = numberArg('seconds', 3);
  const model = benchModel(label);
  const deep = `/encoder/layer.${modelSizes[label].layers - 2}/attention/self/Softmax_${modelSizes[label].heads - 1}`;
  const studio = await openStudio();
  const rows: { view: string; items: number; flowNodes: number; s: FrameStats }[] = [];
  try {
    const page = await studioPage(studio, model);
    await page.waitForSelector('[data-testid="graph-node"]', { timeout: 60_000 });
    await page.evaluate('window.__bench = { t0: 0 }');
    await page.evaluate(dropScript);
    await page.waitForSelector(`[data-testid="model-summary"][data-nodes="${model.nodes}"]`, {
      timeout: 120_000,
    });
    await page.waitForSelector('[data-testid="graph-node"][data-node-id="n0"][data-op="Gather"]', {
      timeout: 120_000,
    });
    await settle(page);
    await page.evaluate(samplerScript);
    const record = async (view: string, action: () => Promise<void>) => {
      const items = Number(await page.getAttribute('[data-testid="graph-view"]', 'data-items'));
      const s = await sample(page, action);
      const flowNodes = await page.locator('.react-flow__node').count();
      rows.push({ view, items, flowNodes, s });
      console.log(
        `${view}: ${s.frames} frames, median ${s.medianMs.toFixed(1)} ms, p95 ${s.p95Ms.toFixed(1)} ms, ` +
          `max ${s.maxMs.toFixed(0)} ms, ${s.fps.toFixed(1)} fps, view moved in ${s.moved} frames`,
      );
    };
    await record('idle (no input)', () => page.waitForTimeout(seconds * 1000));
    await record('pan: first view', () => pan(page, seconds));

    await page.getByRole('button', { name: 'Fit view' }).click();
    await page.waitForTimeout(800);
    await record('pan: fit view', () => pan(page, seconds));

    const search = page.getByTestId('graph-search');
    await search.fill(deep);
    await search.press('Enter');
    await settle(page);
    await page.getByRole('button', { name: 'Fit view' }).click();
    await page.waitForTimeout(800);
    await record('pan: deep node revealed, fit view', () => pan(page, seconds));
  } finally {
    await studio.close();
  }

  const idle = rows[0].s;
  console.log(
    `\nPanning the ${model.nodes.toLocaleString('en-US')}-node transformer (${label}), ${seconds} s drags, in chromium:`,
  );
  console.log(
    'view                                  items  rendered  frames  moved  median ms  p95 ms  max ms    fps  >50 ms  p95 / idle p95',
  );
  for (const r of rows)
    console.log(
      `${r.view.padEnd(36)} ${String(r.items).padStart(6)} ${String(r.flowNodes).padStart(9)} ${String(r.s.frames).padStart(7)} ${String(r.s.moved).padStart(6)} ${r.s.medianMs
        .toFixed(1)
        .padStart(10)} ${r.s.p95Ms.toFixed(1).padStart(7)} ${r.s.maxMs.toFixed(0).padStart(7)} ${r.s.fps
        .toFixed(1)
        .padStart(6)} ${String(r.s.long).padStart(7)} ${(r.s.p95Ms / idle.p95Ms).toFixed(2).padStart(15)}`,
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
