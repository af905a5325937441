import type { Locator, Page } from '@playwright/test';
import { groupGraph } from '../src/graph/grouping';
import { transformerModel } from '../src/graph/testing/transformer';
import { Model } from '../src/onnx/ir';
import { summarizeGraph } from '../src/onnx/summary';
import { expect, openThroughInput, readBytes, sampleFile, test, waitForStartup } from './fixtures';

const graph = (page: Page) => page.getByTestId('graph-view');
const node = (page: Page, id: string) =>
  graph(page).locator(`[data-testid="graph-node"][data-node-id="${id}"]`);
const frame = (page: Page, id: string) =>
  graph(page).locator(`[data-testid="group-frame"][data-group-id="${id}"]`);

type Box = { x: number; y: number; width: number; height: number };

async function box(l: Locator): Promise<Box> {
  const b = await l.boundingBox();
  expect(b, 'the element has a box').not.toBeNull();
  return b!;
}

/** Whether `inner` lies inside `outer` on screen (half a pixel of rounding allowed). */
const within = (inner: Box, outer: Box) =>
  inner.x >= outer.x - 0.5 &&
  inner.y >= outer.y - 0.5 &&
  inner.x + inner.width <= outer.x + outer.width + 0.5 &&
  inner.y + inner.height <= outer.y + outer.height + 0.5;

/** Screen boxes of the drawn frames and nodes with these ids, read in one go. */
async function screenBoxes(page: Page, ids: string[]): Promise<Record<string, Box>> {
  return page.evaluate((wanted) => {
    const out: Record<string, { x: number; y: number; width: number; height: number }> = {};
    for (const el of document.querySelectorAll<HTMLElement>(
      '[data-testid="group-frame"], [data-testid="graph-node"]',
    )) {
      const id = el.dataset.groupId ?? el.dataset.nodeId;
      if (!id || !wanted.includes(id)) continue;
      const r = el.getBoundingClientRect();
      out[id] = { x: r.x, y: r.y, width: r.width, height: r.height };
    }
    return out;
  }, ids);
}

async function fitView(page: Page): Promise<void> {
  await graph(page).getByRole('button', { name: 'Fit view' }).click();
  await page.waitForTimeout(400);
}

test('an open group is a frame around its children, and its collapse button closes it', async ({ page }) => {
  const summary = summarizeGraph(Model.decode(readBytes(sampleFile)).graph);
  const features = groupGraph(summary).groups.get('g:/features')!;
  expect(features.members.length).toBe(8);
  await page.goto('/');
  await expect(graph(page)).toHaveAttribute('data-state', 'ready');
  await fitView(page);

  const f = frame(page, 'g:/features');
  await expect(f).toBeVisible();
  await expect(f).toContainText('features');
  await expect(f).toContainText('8 nodes');
  const outer = await box(f);
  for (const id of features.members) {
    await expect(node(page, id)).toBeVisible();
    expect(within(await box(node(page, id)), outer), `${id} inside the features frame`).toBe(true);
  }
  // Flatten sits between the two frames, in neither.
  const flatten = summary.nodes.find((n) => n.opType === 'Flatten')!.id;
  expect(within(await box(node(page, flatten)), outer)).toBe(false);
  await expect(frame(page, 'g:/classifier')).toBeVisible();
  expect(within(await box(node(page, flatten)), await box(frame(page, 'g:/classifier')))).toBe(false);

  // The frame's collapse button closes the group: one box stands for its 8 nodes.
  await f.getByTestId('group-frame-collapse').click();
  await expect(f).toHaveCount(0);
  const group = node(page, 'g:/features');
  await expect(group).toBeVisible();
  await expect(group).toHaveAttribute('data-op', 'Group');
  for (const id of features.members) await expect(node(page, id)).toHaveCount(0);
  await expect(graph(page)).toHaveAttribute('data-state', 'ready');

  // A click on the box opens it again, framed as before.
  await group.click();
  await expect(frame(page, 'g:/features')).toBeVisible();
  await expect(node(page, 'g:/features')).toHaveCount(0);
  await expect(node(page, features.members[0])).toBeAttached();
});

// The 24-layer transformer of e2e/large-graph.spec.ts at 9,781 nodes (36 unrolled heads).
const model = transformerModel({ layers: 24, heads: 36, headSize: 1 });
const bytes = model.encode();
const bigGrouping = groupGraph(summarizeGraph(model.graph));
const layer = (i: number) => `g:/encoder/layer.${i}`;

/** Clicks a layer's box and waits until its frame is drawn; returns the time it took. */
async function openLayer(page: Page, id: string): Promise<number> {
  await fitView(page);
  const started = Date.now();
  await node(page, id).click();
  await expect(frame(page, id)).toBeAttached({ timeout: 10_000 });
  return Date.now() - started;
}

test('layers of a 10,000-node model open as nested frames, a second one beside the first, and close from their frame', async ({
  page,
}) => {
  test.setTimeout(180_000);
  await page.goto('/');
  await waitForStartup(page);
  await openThroughInput(page, [{ name: 'transformer-10k.onnx', bytes }]);
  await expect(page.getByTestId('model-summary')).toHaveAttribute('data-nodes', '9781', { timeout: 60_000 });
  await expect(graph(page).getByTestId('graph-node').first()).toBeVisible({ timeout: 60_000 });
  // The first view: embeddings and the encoder open, the layers closed inside the encoder's frame.
  await fitView(page);
  await expect(frame(page, 'g:/encoder')).toBeAttached();
  await expect(node(page, layer(0))).toBeVisible();
  expect(within(await box(node(page, layer(0))), await box(frame(page, 'g:/encoder')))).toBe(true);

  const first = await openLayer(page, layer(0));
  await expect(graph(page)).toHaveAttribute('data-state', 'ready');
  // layer.0's frame sits inside the encoder's, and its drawn children inside it (measured at once,
  // after the view has come to rest on the opened group).
  await page.waitForTimeout(500);
  const inner = bigGrouping.groups.get(layer(0))!;
  const boxes = await screenBoxes(page, ['g:/encoder', layer(0), ...inner.childGroups, ...inner.members]);
  expect(within(boxes[layer(0)], boxes['g:/encoder'])).toBe(true);
  const drawn = [...inner.childGroups, ...inner.members].filter((id) => boxes[id]);
  expect(drawn.length).toBeGreaterThan(0);
  for (const id of drawn) expect(within(boxes[id], boxes[layer(0)]), `${id} inside layer.0`).toBe(true);

  // A second layer opens beside the first: both frames stay.
  const second = await openLayer(page, layer(1));
  await expect(frame(page, layer(0))).toBeAttached();
  await expect(node(page, layer(1))).toHaveCount(0);
  console.log(
    `open layer.0: ${first} ms; open layer.1 with layer.0 open: ${second} ms (click → frame drawn)`,
  );

  // Its frame's collapse button closes it again; layer.0 stays open.
  await fitView(page);
  await frame(page, layer(1)).getByTestId('group-frame-collapse').click();
  await expect(frame(page, layer(1))).toHaveCount(0);
  await expect(node(page, layer(1))).toBeAttached();
  await expect(frame(page, layer(0))).toBeAttached();
  await expect(graph(page)).toHaveAttribute('data-state', 'ready');
});
