import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { makeTensor } from '../onnx/tensor';
import { Model } from '../onnx/ir';
import { summarizeGraph, type GraphSummary } from '../onnx/summary';
import { sharedModelsDir } from '../test/fixtures';
import { layoutBand, layoutGraph, planLayout, stitchLayout } from './layoutGraph';
import { nodeBox, pillSize } from './nodeSize';
import type { GraphLayout, LayoutNode } from './types';

const f32 = (n: number) => new Float32Array(n);

/** x → Conv → Relu → {Conv → Relu, Conv 1×1} → Add → Flatten → Gemm → y, plus Relu's output as a second graph output. */
function branchingModel(): Model {
  const b = new GraphBuilder('branching');
  const s = [1, 4, 8, 8];
  const x = b.input('x', DataType.FLOAT, s);
  const conv = (input: string, k: number, name: string) =>
    b.info(
      b.op(
        'Conv',
        [
          input,
          b.initializer(`${name}.w`, DataType.FLOAT, [4, 4, k, k], f32(16 * k * k)),
          b.initializer(`${name}.b`, DataType.FLOAT, [4], f32(4)),
        ],
        { pads: k === 3 ? [1, 1, 1, 1] : [0, 0, 0, 0] },
        name,
      ),
      DataType.FLOAT,
      s,
    );
  const c1 = conv(x, 3, 'conv1');
  const r1 = b.node('Relu', [c1], {}, { name: 'relu1', outputs: ['features'] })[0];
  const c2 = conv(r1, 3, 'conv2');
  const r2 = b.info(b.op('Relu', [c2], {}, 'relu2'), DataType.FLOAT, s);
  const c3 = conv(r1, 1, 'shortcut');
  const sum = b.info(b.op('Add', [r2, c3], {}, 'add'), DataType.FLOAT, s);
  const flat = b.info(b.op('Flatten', [sum], {}, 'flatten'), DataType.FLOAT, [1, 256]);
  const w = b.initializer('fc.w', DataType.FLOAT, [256, 10], f32(2560));
  const bias = b.initializer('fc.b', DataType.FLOAT, [10], f32(10));
  const y = b.node('Gemm', [flat, w, bias], {}, { name: 'fc', outputs: ['y'] })[0];
  b.output(y, DataType.FLOAT, [1, 10]);
  b.output('features', DataType.FLOAT, s);
  return b.model({ opset: 17 });
}

/** `blocks` residual blocks (Conv → Relu → Conv → Add(skip) → Relu), 5 operators each. */
function residualChain(blocks: number): Model {
  const b = new GraphBuilder('chain');
  let x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
  for (let i = 0; i < blocks; i++) {
    const w1 = b.initializer(`w${i}a`, DataType.FLOAT, [2, 2, 1, 1], f32(4));
    const w2 = b.initializer(`w${i}b`, DataType.FLOAT, [2, 2, 1, 1], f32(4));
    const h = b.op('Relu', [b.op('Conv', [x, w1], {}, `b${i}.conv1`)], {}, `b${i}.relu1`);
    const sum = b.op('Add', [b.op('Conv', [h, w2], {}, `b${i}.conv2`), x], {}, `b${i}.add`);
    x = b.op('Relu', [sum], {}, `b${i}.relu2`);
  }
  b.output(x, DataType.FLOAT, [1, 2, 4, 4]);
  return b.model({ opset: 17 });
}

const near = (a: number, b: number) => Math.abs(a - b) <= 1;

function overlaps(a: LayoutNode, b: LayoutNode): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** The properties every layout must have, whatever the graph. */
function checkLayout(summary: GraphSummary, layout: GraphLayout) {
  const byId = new Map(layout.nodes.map((n) => [n.id, n]));
  const folded = new Set(layout.folded);
  const expectedIds = [
    ...summary.nodes.filter((n) => !folded.has(n.id)).map((n) => n.id),
    ...summary.inputs.map((v) => `in:${v.name}`),
    ...summary.outputs.map((v) => `out:${v.name}`),
  ];
  expect([...byId.keys()].sort()).toEqual([...expectedIds].sort());

  for (const n of summary.nodes) {
    if (folded.has(n.id)) continue;
    const placed = byId.get(n.id)!;
    expect(Number.isFinite(placed.x) && Number.isFinite(placed.y)).toBe(true);
    if (
      n.opType !== 'Constant' &&
      n.opType !== 'ConstantOfShape' &&
      !summary.edges.some((e) => folded.has(e.source) && e.target === n.id)
    ) {
      const box = nodeBox(n);
      expect([placed.width, placed.height]).toEqual([box.width, box.height]);
      expect(placed.badges).toEqual(box.badges);
    }
  }
  for (const v of summary.inputs) expect(byId.get(`in:${v.name}`)!.width).toBe(pillSize(v.name).width);

  for (let i = 0; i < layout.nodes.length; i++)
    for (let j = i + 1; j < layout.nodes.length; j++)
      expect(
        overlaps(layout.nodes[i], layout.nodes[j]),
        `${layout.nodes[i].id} overlaps ${layout.nodes[j].id}`,
      ).toBe(false);

  expect(layout.edges.map((e) => e.id).sort()).toEqual(
    summary.edges
      .filter((e) => !folded.has(e.source))
      .map((e) => e.id)
      .sort(),
  );
  for (const e of layout.edges) {
    const s = byId.get(e.source)!;
    const t = byId.get(e.target)!;
    // Data flows down: a producer sits entirely above each consumer.
    expect(s.y + s.height, `${e.source} above ${e.target}`).toBeLessThan(t.y);
    const sp = s.ports.find((p) => p.id === e.sourcePort)!;
    const tp = t.ports.find((p) => p.id === e.targetPort)!;
    expect(sp.side).toBe('bottom');
    expect(tp.side).toBe('top');
    expect(sp.x).toBeGreaterThanOrEqual(0);
    expect(sp.x).toBeLessThanOrEqual(s.width);
    const first = e.points[0];
    const last = e.points[e.points.length - 1];
    expect(e.points.length).toBeGreaterThanOrEqual(2);
    expect(near(first.x, s.x + sp.x) && near(first.y, s.y + sp.y), `${e.id} starts at its source port`).toBe(
      true,
    );
    expect(near(last.x, t.x + tp.x) && near(last.y, t.y + tp.y), `${e.id} ends at its target port`).toBe(
      true,
    );
    for (let k = 1; k < e.points.length; k++) {
      const a = e.points[k - 1];
      const b = e.points[k];
      expect(near(a.x, b.x) || near(a.y, b.y), `${e.id} segment ${k} is orthogonal`).toBe(true);
    }
    if (e.label)
      for (const n of layout.nodes)
        expect(overlaps({ ...e.label, id: '', kind: 'op', ports: [] }, n)).toBe(false);
  }
  // Each consumer of a node gets a port of its own.
  for (const n of layout.nodes) {
    const tops = n.ports.filter((p) => p.side === 'top');
    expect(new Set(tops.map((p) => Math.round(p.x))).size).toBe(tops.length);
  }
  const { bounds } = layout;
  for (const n of layout.nodes) {
    expect(n.x).toBeGreaterThanOrEqual(bounds.x - 1);
    expect(n.y).toBeGreaterThanOrEqual(bounds.y - 1);
    expect(n.x + n.width).toBeLessThanOrEqual(bounds.x + bounds.width + 1);
    expect(n.y + n.height).toBeLessThanOrEqual(bounds.y + bounds.height + 1);
  }
}

describe('layoutGraph', () => {
  it('lays out a small branching graph top to bottom with ports, routes and shape labels', async () => {
    const summary = summarizeGraph(branchingModel().graph);
    const layout = await layoutGraph(summary);
    checkLayout(summary, layout);
    expect(layout.bands).toBe(1);

    const add = summary.nodes.find((n) => n.opType === 'Add')!;
    expect(layout.nodes.find((n) => n.id === add.id)!.ports.filter((p) => p.side === 'top')).toHaveLength(2);
    // relu1's output feeds conv2, the shortcut and a graph output: one port, one label for all three.
    const relu1 = summary.nodes.find((n) => n.name === 'relu1')!;
    const fromRelu1 = layout.edges.filter((e) => e.source === relu1.id);
    expect(fromRelu1).toHaveLength(3);
    expect(new Set(fromRelu1.map((e) => e.sourcePort)).size).toBe(1);
    expect(fromRelu1.filter((e) => e.label)).toHaveLength(1);
    expect(fromRelu1.find((e) => e.label)!.label!.text).toBe('1×4×8×8');
    const toY = layout.edges.find((e) => e.target === 'out:y')!;
    expect(toY.label?.text).toBe('1×10');
  });

  it('keeps the same guarantees when a graph is cut into bands', async () => {
    const summary = summarizeGraph(branchingModel().graph);
    const progress: [number, number][] = [];
    const layout = await layoutGraph(summary, { bandSize: 4, onProgress: (d, t) => progress.push([d, t]) });
    expect(layout.bands).toBeGreaterThan(2);
    expect(progress).toEqual(Array.from({ length: layout.bands }, (_, i) => [i + 1, layout.bands]));
    checkLayout(summary, layout);

    const chain = summarizeGraph(residualChain(40).graph);
    const banded = await layoutGraph(chain, { bandSize: 50, effort: 'low' });
    expect(banded.bands).toBe(5);
    checkLayout(chain, banded);
  });

  it('stitches a prefix of bands into a partial layout that later bands do not move', async () => {
    const chain = summarizeGraph(residualChain(12).graph);
    const plan = planLayout(chain, { bandSize: 20 });
    expect(plan.bandGraphs.length).toBe(4);
    const results = [];
    for (const g of plan.bandGraphs) results.push(await layoutBand(g));
    const full = stitchLayout(plan, results, 0);
    expect(full.complete).toBe(true);
    checkLayout(chain, full);
    // Bands may finish out of order (parallel workers): only the prefix before the first hole counts.
    const partial = stitchLayout(plan, [results[0], results[1], undefined, results[3]], 0);
    expect(partial.complete).toBe(false);
    const inPrefix = (id: string) => plan.bandOf[id] < 2;
    expect(partial.nodes.map((n) => n.id).sort()).toEqual(
      plan.nodes
        .filter((n) => inPrefix(n.id))
        .map((n) => n.id)
        .sort(),
    );
    const fullById = new Map(full.nodes.map((n) => [n.id, n]));
    for (const n of partial.nodes) expect([n.x, n.y]).toEqual([fullById.get(n.id)!.x, fullById.get(n.id)!.y]);
    expect(partial.edges.length).toBeGreaterThan(0);
    for (const e of partial.edges) {
      expect(inPrefix(e.source) && inPrefix(e.target)).toBe(true);
      expect(e.points).toEqual(full.edges.find((f) => f.id === e.id)!.points);
    }
  });

  it('draws weights held by Constant nodes as badges on their consumers', async () => {
    const b = new GraphBuilder('constants');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const weight = makeTensor('w', DataType.FLOAT, [3, 2, 1, 1], f32(6));
    const w = b.info(b.op('Constant', [], { value: weight }, 'weight'), DataType.FLOAT, [3, 2, 1, 1]);
    const shape = b.op(
      'Constant',
      [],
      { value: makeTensor('s', DataType.INT64, [2], [1, -1]) },
      'target_shape',
    );
    const conv = b.op('Conv', [x, w], {}, 'conv');
    const flat = b.op('Reshape', [conv, shape], {}, 'flatten');
    const y = b.node('Identity', [flat], {}, { outputs: ['y'], name: 'out' })[0];
    // A constant that is itself a graph output stays a box.
    const k = b.node(
      'Constant',
      [],
      { value: makeTensor('k', DataType.FLOAT, [1], [1]) },
      { outputs: ['k'], name: 'k' },
    )[0];
    b.output(y, DataType.FLOAT, [1, 48]);
    b.output(k, DataType.FLOAT, [1]);
    const summary = summarizeGraph(b.model().graph);
    const id = (name: string) => summary.nodes.find((n) => n.name === name)!.id;

    const layout = await layoutGraph(summary);
    checkLayout(summary, layout);
    expect(layout.folded.sort()).toEqual([id('weight'), id('target_shape')].sort());
    const badges = (name: string) => layout.nodes.find((n) => n.id === id(name))!.badges!.flat();
    expect(badges('conv')).toEqual([{ label: 'W', shape: '3×2×1×1', dtype: '', constant: true }]);
    // Shapes of Constant outputs come from shape inference when it knows them.
    const shapeEdge = summary.edges.find((e) => e.source === id('target_shape'))!;
    expect(badges('flatten')).toEqual([
      {
        label: 'shape',
        shape: shapeEdge.shape ? '2' : 'const',
        dtype: shapeEdge.dtype === 'int64' ? 'i64' : '',
        constant: true,
      },
    ]);
    expect(layout.nodes.some((n) => n.id === id('k'))).toBe(true);

    const unfolded = await layoutGraph(summary, { foldConstants: false });
    checkLayout(summary, unfolded);
    expect(unfolded.folded).toEqual([]);
    expect(unfolded.nodes.filter((n) => n.kind === 'op')).toHaveLength(summary.nodes.length);
  });

  it('handles a graph whose input is its output, and an empty graph', async () => {
    const b = new GraphBuilder('passthrough');
    b.input('x', DataType.FLOAT, [2]);
    b.output('x', DataType.FLOAT, [2]);
    const summary = summarizeGraph(b.model().graph);
    const layout = await layoutGraph(summary);
    checkLayout(summary, layout);
    expect(layout.edges.map((e) => [e.source, e.target, e.label?.text])).toEqual([['in:x', 'out:x', '2']]);

    const empty = await layoutGraph({ nodes: [], edges: [], inputs: [], outputs: [] });
    expect(empty.nodes).toEqual([]);
    expect(empty.complete).toBe(true);
  });

  it('can leave edges unlabelled and take given node sizes', async () => {
    const summary = summarizeGraph(branchingModel().graph);
    const sizes = Object.fromEntries(summary.nodes.map((n) => [n.id, { width: 150, height: 50 }]));
    const layout = await layoutGraph(summary, { edgeLabels: false, sizes });
    expect(layout.edges.every((e) => e.label === undefined)).toBe(true);
    expect(layout.nodes.filter((n) => n.kind === 'op').every((n) => n.width === 150 && n.height === 50)).toBe(
      true,
    );
  });

  const mnist = path.join(sharedModelsDir, 'mnist-8.onnx');
  it.skipIf(!existsSync(mnist))('lays out mnist-8 from ../shared/models', async () => {
    const model = Model.decode(new Uint8Array(readFileSync(mnist)));
    const summary = summarizeGraph(model.graph);
    const layout = await layoutGraph(summary);
    checkLayout(summary, layout);
    expect(layout.nodes.filter((n) => n.kind === 'op')).toHaveLength(12);
    const input = layout.nodes.find((n) => n.id === 'in:Input3')!;
    const output = layout.nodes.find((n) => n.id === 'out:Plus214_Output_0')!;
    expect(input.y).toBeLessThan(Math.min(...layout.nodes.filter((n) => n.kind === 'op').map((n) => n.y)));
    expect(output.y).toBeGreaterThan(
      Math.max(...layout.nodes.filter((n) => n.kind === 'op').map((n) => n.y)),
    );
    expect(layout.edges.find((e) => e.source === 'in:Input3')!.label?.text).toBe('1×1×28×28');
  });
});
