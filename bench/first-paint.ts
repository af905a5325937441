/**
 * Drop → first paint → interactive for generated transformers of about 1k, 10k and 50k nodes, side
 * by side in one run, in Debian's chromium against the built studio:
 * - summary: the model summary panel shows the dropped model's node count;
 * - first paint: the model's first node (n0, a Gather the sample lacks) is laid out on screen;
 * - interactive: a click on that node, queued as soon as it is painted, is answered (the inspector
 *   shows that node's details, computed by the model worker).
 *
 *   npx tsx bench/first-paint.ts [--sizes 1k,10k,50k] [--repeat 3] [--port 4173]
 *
 * Uses the preview server on the port when one is running; otherwise builds the studio and starts one.
 */
import {
  benchModel,
  dropScript,
  median,
  numberArg,
  openStudio,
  stringArg,
  studioPage,
  modelSizes,
  type SizeLabel,
} from './studioBrowser';

interface Times {
  summary: number;
  paint: number;
  interactive: number;
}

/**
 * Page script: every animation frame after the drop, look for the three moments. The click is
 * queued as a task (as an input event would be), so a busy main thread delays its answer.
 */
function probeScript(nodes: number): string {
  return `(() => {
    window.__bench = { t0: 0 };
    const tick = () => {
      const b = window.__bench;
      if (b.t0 > 0) {
        const now = performance.now();
        const panel = document.querySelector('[data-testid="model-summary"]');
        if (b.summary === undefined && panel && panel.getAttribute('data-state') === 'ready' &&
            panel.getAttribute('data-nodes') === '${nodes}')
          b.summary = now - b.t0;
        const el = document.querySelector('[data-testid="graph-node"][data-node-id="n0"][data-op="Gather"]');
        if (b.paint === undefined && el) {
          const r = el.getBoundingClientRect();
          const onScreen = r.width > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight;
          if (onScreen && el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) {
            b.paint = now - b.t0;
            setTimeout(() => el.click(), 0);
          }
        }
        const inspector = document.querySelector('[data-testid="inspector"][data-details-id="n0"][data-op="Gather"]');
        if (b.interactive === undefined && b.paint !== undefined && inspector) b.interactive = now - b.t0;
      }
      if (b.summary === undefined || b.paint === undefined || b.interactive === undefined)
        requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })()`;
}

async function main(): Promise<void> {
  const labels = stringArg('sizes', '1k,10k,50k').split(',') as SizeLabel[];
  for (const l of labels) if (!(l in modelSizes)) throw new Error(`unknown size "${l}" (1k, 10k, 50k)`);
  const repeat = numberArg('repeat', 3);
  const studio = await openStudio();
  const rows: { label: string; nodes: number; mib: number; times: Times[] }[] = [];
  try {
    for (const label of labels) {
      const model = benchModel(label);
      const row = { label, nodes: model.nodes, mib: model.bytes.byteLength / 2 ** 20, times: [] as Times[] };
      rows.push(row);
      for (let i = 0; i < repeat; i++) {
        const page = await studioPage(studio, model);
        await page.waitForSelector('[data-testid="graph-node"]', { timeout: 60_000 });
        await page.evaluate(probeScript(model.nodes));
        await page.evaluate(dropScript);
        await page.waitForFunction('window.__bench.interactive !== undefined', null, { timeout: 300_000 });
        const t = await page.evaluate<Times>('window.__bench');
        row.times.push(t);
        console.log(
          `${label} run ${i + 1}: summary ${t.summary.toFixed(0)} ms, first paint ${t.paint.toFixed(0)} ms, ` +
            `interactive ${t.interactive.toFixed(0)} ms`,
        );
        await page.close();
      }
    }
  } finally {
    await studio.close();
  }

  const m = (row: (typeof rows)[number], k: keyof Times) => median(row.times.map((t) => t[k]));
  console.log(`\nDrop → … in chromium, medians of ${repeat} runs (${studio.origin}):`);
  console.log(
    'model   nodes    file MiB   summary ms   first paint ms   interactive ms   paint ms / 1k nodes',
  );
  for (const r of rows)
    console.log(
      `${r.label.padEnd(6)} ${String(r.nodes).padStart(6)} ${r.mib.toFixed(1).padStart(10)} ${m(r, 'summary')
        .toFixed(0)
        .padStart(
          12,
        )} ${m(r, 'paint').toFixed(0).padStart(16)} ${m(r, 'interactive').toFixed(0).padStart(16)} ${(
        (m(r, 'paint') / r.nodes) *
        1000
      )
        .toFixed(0)
        .padStart(21)}`,
    );
  const base = rows[0];
  for (const r of rows.slice(1))
    console.log(
      `${r.label} / ${base.label}: ${(r.nodes / base.nodes).toFixed(1)}× the nodes, first paint ` +
        `${(m(r, 'paint') / m(base, 'paint')).toFixed(2)}×, interactive ${(m(r, 'interactive') / m(base, 'interactive')).toFixed(2)}×`,
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
