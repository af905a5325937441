import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import { computeMetrics } from '../src/metrics/compute';
import { valueInfo } from '../src/onnx/builder';
import { Model } from '../src/onnx/ir';
import { expect, readBytes, sampleFile, test } from './fixtures';

/** The sample model as the studio opens it, its batch dimension fixed at 1 as MACs are counted per sample. */
function sampleAtBatchOne(): Model {
  const model = Model.decode(readBytes(sampleFile));
  const g = model.graph;
  g.inputs = g.inputs.map((v) => {
    const shape = g.valueShape(v.name)!.map((d) => (typeof d === 'number' ? d : 1));
    return valueInfo(v.name, g.valueElemType(v.name)!, shape);
  });
  g.invalidate();
  return model;
}

const node = (page: Page, id: string) => page.locator(`[data-testid="graph-node"][data-node-id="${id}"]`);
const graph = (page: Page) => page.getByTestId('graph-view');

async function ready(page: Page): Promise<void> {
  await expect(page.getByTestId('model-summary')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('dataset-panel')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('save-state')).not.toHaveAttribute('data-state', 'restoring');
  await expect(graph(page)).toHaveAttribute('data-state', 'ready');
}

/** Frame the whole graph (only the elements in view are rendered). */
async function fitView(page: Page): Promise<void> {
  await graph(page).locator('.react-flow__controls-fitview').click();
  await page.waitForTimeout(400);
}

/**
 * Click the middle of an edge's path, as a user would (its bounding box may be a zero-width line,
 * which Playwright's own click refuses).
 */
async function clickEdge(page: Page, id: string): Promise<void> {
  const path = graph(page).locator(`.react-flow__edge[data-id="${id}"] .react-flow__edge-interaction`);
  const at = await path.evaluate((el: SVGPathElement) => {
    const p = el.getPointAtLength(el.getTotalLength() / 2);
    const m = el.getScreenCTM()!;
    return { x: p.x * m.a + p.y * m.c + m.e, y: p.x * m.b + p.y * m.d + m.f };
  });
  await page.mouse.click(at.x, at.y);
}

/** The `data-highlight` of every rendered operator node, by node id. */
async function highlights(page: Page): Promise<Record<string, string | null>> {
  return graph(page)
    .getByTestId('graph-node')
    .evaluateAll((els) =>
      Object.fromEntries(els.map((e) => [e.getAttribute('data-node-id')!, e.getAttribute('data-highlight')])),
    );
}

test.beforeEach(async ({ page }) => {
  await page.goto('/');
  await ready(page);
});

test('clicking an edge selects its tensor: producer and consumers highlighted, the inspector lists them', async ({
  page,
}) => {
  const model = Model.decode(readBytes(sampleFile));
  const conv = model.graph.nodes[0];
  expect(conv.opType).toBe('Conv');
  expect(model.graph.nodes[1].opType).toBe('BatchNormalization');
  const tensor = conv.outputs[0];
  const count = model.graph.nodes.length;
  await fitView(page);
  await expect(graph(page).getByTestId('graph-node')).toHaveCount(count);

  const edge = graph(page).locator(`.react-flow__edge[data-id="n0>n1:${tensor}"]`);
  await clickEdge(page, `n0>n1:${tensor}`);
  await expect(graph(page)).toHaveAttribute('data-tensor', tensor);
  const marks = await highlights(page);
  expect(marks.n0).toBe('producer');
  expect(marks.n1).toBe('consumer');
  expect(Object.values(marks).filter((m) => m === 'dim')).toHaveLength(count - 2);
  await expect(edge).toHaveClass(/wh-edge--tensor/);
  await expect(graph(page).locator('.react-flow__edge.wh-edge--tensor')).toHaveCount(1);
  // The graph input's pill is dimmed too.
  await expect(graph(page).locator('[data-io="input"]')).toHaveAttribute('data-highlight', 'dim');

  const inspector = page.getByTestId('inspector-tensor');
  await expect(inspector).toHaveAttribute('data-tensor', tensor);
  await expect(inspector).toHaveAttribute('data-producer', 'n0');
  await expect(inspector).toHaveAttribute('data-consumers', 'n1');
  await expect(inspector.getByTestId('tensor-dtype')).toHaveText('float');
  await expect(inspector.getByTestId('tensor-shape')).toContainText('N');

  // A consumer in the inspector jumps to that node: the tensor selection ends.
  await inspector.getByTestId('tensor-consumer').getByRole('button').click();
  await expect(page.getByTestId('inspector')).toHaveAttribute('data-node-id', 'n1');
  await expect(page.getByTestId('inspector')).toHaveAttribute('data-op', 'BatchNormalization');
  await expect(graph(page)).not.toHaveAttribute('data-tensor');
  expect(Object.values(await highlights(page)).filter((m) => m !== null)).toEqual([]);

  // The graph input's edge: the producer is the input pill; Escape clears the selection.
  const input = model.graph.feedInputs()[0].name;
  await clickEdge(page, `in:${input}>n0:${input}`);
  await expect(graph(page)).toHaveAttribute('data-tensor', input);
  await expect(graph(page).locator('[data-io="input"]')).toHaveAttribute('data-highlight', 'producer');
  await expect(node(page, 'n0')).toHaveAttribute('data-highlight', 'consumer');
  await expect(page.getByTestId('inspector-tensor').getByTestId('tensor-producer')).toHaveAttribute(
    'data-node-id',
    `in:${input}`,
  );
  await page.keyboard.press('Escape');
  await expect(graph(page)).not.toHaveAttribute('data-tensor');
  await expect(page.getByTestId('inspector-tensor')).toHaveCount(0);
  await expect(node(page, 'n0')).not.toHaveAttribute('data-highlight');
});

test('a Conv node shows the MACs computed in Node, and "Cost" labels every node', async ({ page }) => {
  const model = sampleAtBatchOne();
  const macs = computeMetrics(model.graph).macsByNode;
  const convs = model.graph.nodes.flatMap((n, i) =>
    n.opType === 'Conv' ? [{ id: `n${i}`, name: n.name }] : [],
  );
  expect(convs).toHaveLength(2);
  await fitView(page);

  for (const conv of convs) {
    await node(page, conv.id).click();
    const inspector = page.getByTestId('inspector');
    await expect(inspector).toHaveAttribute('data-node-id', conv.id);
    const expected = macs.get(conv.name)!;
    expect(expected).toBeGreaterThan(0);
    await expect(inspector.getByTestId('inspector-macs')).toHaveAttribute('data-macs', String(expected));
    await expect(inspector.getByTestId('inspector-macs')).toHaveText(expected.toLocaleString('en-US'));
  }

  await page.getByTestId('graph-show-cost').click();
  await expect(graph(page)).toHaveAttribute('data-costs', 'ready');
  const labels = await graph(page)
    .getByTestId('node-cost')
    .evaluateAll((els) =>
      els.map((e) => ({
        id: e.getAttribute('data-node-id')!,
        macs: e.getAttribute('data-macs'),
        params: e.getAttribute('data-params'),
      })),
    );
  const byId = new Map(labels.map((l) => [l.id, l]));
  model.graph.nodes.forEach((n, i) => {
    const m = macs.get(n.name) ?? 0;
    const params = n.inputs.reduce((s, name) => {
      const t = model.graph.initializers.get(name);
      return s + (t ? t.dims.reduce((a, d) => a * Number(d), 1) : 0);
    }, 0);
    const label = byId.get(`n${i}`);
    if (m === 0 && params === 0) expect(label, n.name).toBeUndefined();
    else expect(label, n.name).toEqual({ id: `n${i}`, macs: String(m), params: String(params) });
  });
  await expect(graph(page).getByTestId('node-cost').first()).toContainText('MACs');
  await page.getByTestId('graph-show-cost').click();
  await expect(graph(page).getByTestId('node-cost')).toHaveCount(0);
});

test('after a run, two stages compare before/after with their differences marked', async ({ page }) => {
  test.setTimeout(180_000);
  const cards = page.getByTestId('pipeline').getByTestId('stage-card');
  while ((await cards.count()) > 0) await cards.first().getByTestId('stage-remove').click();
  await page
    .getByTestId('stage-palette')
    .locator('[data-stage="fold-batchnorm"]')
    .dragTo(page.getByTestId('pipeline'));
  await expect(cards).toHaveCount(1);
  await expect(page.getByTestId('compare-toggle')).toHaveCount(0);
  await page.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('pipeline-status')).toHaveAttribute('data-state', 'done', {
    timeout: 90_000,
  });

  await expect(page.getByTestId('compare-from')).toHaveValue('0');
  await expect(page.getByTestId('compare-to')).toHaveValue('1');
  await page.getByTestId('compare-toggle').click();
  await expect(graph(page)).toHaveAttribute('data-compare-side', 'from');
  await expect(page.getByTestId('compare-summary')).toHaveAttribute('data-removed', '2');
  await expect(page.getByTestId('compare-summary')).toHaveAttribute('data-added', '0');
  await expect(graph(page)).toHaveAttribute('data-state', 'ready');
  await fitView(page);
  // Before: the two BatchNormalization nodes are marked removed, the Convs they fold into as fused.
  await expect(graph(page).getByTestId('graph-node')).toHaveCount(12);
  const bn = graph(page).locator('[data-testid="graph-node"][data-op="BatchNormalization"]');
  await expect(bn).toHaveCount(2);
  for (const b of await bn.all()) await expect(b).toHaveAttribute('data-overlay', 'removed');
  const convs = graph(page).locator('[data-testid="graph-node"][data-op="Conv"]');
  for (const c of await convs.all()) await expect(c).toHaveAttribute('data-overlay', 'fused');
  await expect(graph(page).getByTestId('overlay-legend')).toContainText('Before');

  // A node selected on one side stays selected on the other when it is still there.
  await node(page, 'n0').click();
  await expect(page.getByTestId('inspector')).toHaveAttribute('data-op', 'Conv');
  await page.getByTestId('compare-toggle').click();
  await expect(graph(page)).toHaveAttribute('data-compare-side', 'to');
  await expect(graph(page)).toHaveAttribute('data-state', 'ready');
  await fitView(page);
  await expect(graph(page).getByTestId('graph-node')).toHaveCount(10);
  await expect(bn).toHaveCount(0);
  for (const c of await convs.all()) await expect(c).toHaveAttribute('data-overlay', 'fused');
  await expect(graph(page).getByTestId('overlay-legend')).toContainText('After');
  await expect(page.getByTestId('inspector')).toHaveAttribute('data-node-id', 'n0');
  await expect(page.getByTestId('inspector')).toHaveAttribute('data-op', 'Conv');
  // The inspector describes the folded Conv: its bias now holds the BatchNormalization's shift.
  await expect(page.getByTestId('inspector').locator('[data-testid="weight"]')).toHaveCount(2);

  await page.getByTestId('compare-toggle').click();
  await expect(graph(page)).toHaveAttribute('data-compare-side', 'from');
  await page.getByTestId('compare-close').click();
  await expect(graph(page)).not.toHaveAttribute('data-compare-side');
  await expect(page.getByTestId('compare-summary')).toHaveCount(0);
  await expect(graph(page).locator('[data-testid="graph-node"][data-overlay]')).toHaveCount(0);
});

test('the view downloads as SVG and PNG without any network request', async ({ page, requests }) => {
  await page.getByTestId('graph-show-cost').click();
  await expect(graph(page)).toHaveAttribute('data-costs', 'ready');
  const before = requests.length;

  const [svgDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-view-svg').click(),
  ]);
  expect(svgDownload.suggestedFilename()).toBe('digits-cnn.graph.svg');
  const svg = readFileSync((await svgDownload.path())!, 'utf8');
  expect(svg.startsWith('<svg')).toBe(true);
  // Every node of the view is drawn, even those scrolled out of the canvas, with their labels.
  const model = Model.decode(readBytes(sampleFile));
  for (const n of model.graph.nodes) expect(svg, n.name).toContain(n.name);
  expect(svg).toContain('BatchNormalization');
  expect(svg).toContain('MACs');

  const [pngDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-view-png').click(),
  ]);
  expect(pngDownload.suggestedFilename()).toBe('digits-cnn.graph.png');
  const png = readFileSync((await pngDownload.path())!);
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  expect(width).toBeGreaterThan(200);
  // The sample's 12 nodes stand in one column: the image is taller than wide, and taller than the canvas.
  expect(height).toBeGreaterThan(width);
  expect(height).toBeGreaterThan(900);

  const made = requests.slice(before).filter((u) => !u.startsWith('blob:') && !u.startsWith('data:'));
  expect(made, 'requests while exporting').toEqual([]);
  // Rendering went back to the visible elements only.
  await expect(graph(page).locator('.wh-flow')).not.toHaveAttribute('data-exporting');
});
