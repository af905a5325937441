import type { Locator, Page } from '@playwright/test';
import { groupGraph } from '../src/graph/grouping';
import { transformerModel } from '../src/graph/testing/transformer';
import { summarizeGraph } from '../src/onnx/summary';
import { expect, openThroughInput, test, waitForStartup } from './fixtures';

// A 24-layer BERT-like encoder with 37 unrolled attention heads: 10,021 nodes named like PyTorch's
// exporter names them (`/encoder/layer.3/attention/self/Softmax_5`).
const model = transformerModel({ layers: 24, heads: 37, headSize: 1 });
const bytes = model.encode();
const summary = summarizeGraph(model.graph);
const grouping = groupGraph(summary);
const deepName = '/encoder/layer.22/attention/self/Softmax_36';
const deepId = summary.nodes.find((n) => n.name === deepName)!.id;

/** Operator nodes React Flow has in the DOM, and all elements of the page. */
async function domCounts(page: Page): Promise<{ flowNodes: number; elements: number }> {
  return page.evaluate(() => ({
    flowNodes: document.querySelectorAll('.react-flow__node').length,
    elements: document.querySelectorAll('*').length,
  }));
}

/** Bounds far below the model size: the view renders what is on screen, not the model. */
const maxFlowNodes = 300;
const maxElements = 6000;

async function expectInside(inner: Locator, outer: Locator): Promise<void> {
  const a = await inner.boundingBox();
  const b = await outer.boundingBox();
  expect(a, 'the node has a box').not.toBeNull();
  expect(b, 'the canvas has a box').not.toBeNull();
  expect(a!.x).toBeGreaterThanOrEqual(b!.x);
  expect(a!.y).toBeGreaterThanOrEqual(b!.y);
  expect(a!.x + a!.width).toBeLessThanOrEqual(b!.x + b!.width);
  expect(a!.y + a!.height).toBeLessThanOrEqual(b!.y + b!.height);
}

test('a 10,000-node transformer opens grouped, expands on click, finds and centres a deep node, with a bounded DOM', async ({
  page,
}) => {
  test.setTimeout(180_000);
  expect(summary.nodes.length).toBeGreaterThanOrEqual(10_000);
  await page.goto('/');
  await waitForStartup(page);
  await openThroughInput(page, [{ name: 'transformer-10k.onnx', bytes }]);
  await expect(page.getByTestId('model-summary')).toHaveAttribute(
    'data-nodes',
    String(summary.nodes.length),
    {
      timeout: 60_000,
    },
  );
  const view = page.getByTestId('graph-view');
  const canvas = view.locator('.react-flow');
  await expect(view.getByTestId('graph-node').first()).toBeVisible({ timeout: 60_000 });
  // The first view shows the top of the graph at a readable zoom; "Fit view" shows every layer.
  await view.getByRole('button', { name: 'Fit view' }).click();
  await expect(view.locator('[data-testid="graph-node"][data-op="Group"]').first()).toBeVisible();
  // Collapsed layers: a few dozen items stand for 10,021 nodes.
  expect(Number(await view.getAttribute('data-items'))).toBeLessThan(100);
  const first = await domCounts(page);
  expect(first.flowNodes).toBeGreaterThan(0);
  expect(first.flowNodes).toBeLessThan(maxFlowNodes);
  expect(first.elements).toBeLessThan(maxElements);

  // A click on a layer opens it: its child groups and nodes are drawn within a few seconds.
  const group = view.locator('[data-testid="graph-node"][data-op="Group"]').first();
  const groupId = (await group.getAttribute('data-node-id'))!;
  const inside = grouping.groups.get(groupId)!;
  const children = [...inside.childGroups, ...inside.members];
  expect(children.length).toBeGreaterThan(0);
  const childSelector = children.map((id) => `[data-testid="graph-node"][data-node-id="${id}"]`).join(', ');
  const clicked = Date.now();
  await group.click();
  await expect(view.locator(childSelector).first()).toBeVisible({ timeout: 5_000 });
  const expandMs = Date.now() - clicked;
  await expect(view.locator(`[data-testid="graph-node"][data-node-id="${groupId}"]`)).toHaveCount(0);
  await expect(page.locator(`[data-testid="graph-path"] [data-group="${groupId}"]`)).toBeVisible();
  expect(expandMs).toBeLessThan(5_000);

  // Search finds a node deep in layer 22 (closed), opens its groups and centres it.
  const search = page.getByTestId('graph-search');
  await search.fill(deepName);
  await expect(page.getByTestId('graph-search-count')).not.toHaveAttribute('data-count', '0');
  const searched = Date.now();
  await search.press('Enter');
  const deep = view.locator(`[data-testid="graph-node"][data-node-id="${deepId}"]`);
  await expect(deep).toBeVisible({ timeout: 15_000 });
  await expect(deep).toHaveAttribute('data-op', 'Softmax');
  // The centring pans with an animation: wait until the node has come to rest inside the canvas.
  await expect(async () => expectInside(deep, canvas)).toPass({ timeout: 5_000 });
  const searchMs = Date.now() - searched;

  const after = await domCounts(page);
  expect(after.flowNodes).toBeLessThan(maxFlowNodes);
  expect(after.elements).toBeLessThan(maxElements);
  console.log(
    `10k graph: ${summary.nodes.length} nodes; expand ${expandMs} ms; search+centre ${searchMs} ms; ` +
      `DOM ${first.flowNodes}/${first.elements} → ${after.flowNodes}/${after.elements} (flow nodes/elements)`,
  );
});
