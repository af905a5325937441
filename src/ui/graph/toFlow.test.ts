import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../onnx/builder';
import { DataType } from '../../onnx/dtype';
import { summarizeGraph } from '../../onnx/summary';
import { collapsedView, groupGraph, initialExpanded } from '../../graph/grouping';
import { transformerModel } from '../../graph/testing/transformer';
import { GroupedLayout } from '../../layout/hierarchy';
import { layoutGraph } from '../../layout/layoutGraph';
import { badgeString } from '../../layout/nodeSize';
import { roundedPath } from './paths';
import { toFlow } from './toFlow';

function summary() {
  const b = new GraphBuilder('view');
  const x = b.input('x', DataType.FLOAT, [1, 3, 8, 8]);
  const w = b.initializer('w', DataType.INT8, [4, 3, 3, 3], new Int8Array(108));
  const bias = b.initializer('bias', DataType.FLOAT, [4], new Float32Array(4));
  const c = b.info(
    b.op('Conv', [x, w, bias], { pads: [1, 1, 1, 1] }, 'a_conv_with_a_rather_long_name'),
    DataType.FLOAT,
    [1, 4, 8, 8],
  );
  const r = b.op('Relu', [c], {}, '');
  const y = b.node('Add', [r, c], {}, { outputs: ['y'], name: 'sum' })[0];
  b.output(y, DataType.FLOAT, [1, 4, 8, 8]);
  return summarizeGraph(b.model().graph);
}

describe('toFlow', () => {
  it('puts handles exactly where the layout routes start and end', async () => {
    const s = summary();
    const layout = await layoutGraph(s);
    const { nodes, edges } = toFlow(s, layout);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    expect(edges).toHaveLength(layout.edges.length);
    for (const e of edges) {
      const source = byId.get(e.source)!;
      const target = byId.get(e.target)!;
      const sh = source.handles!.find((h) => h.id === e.sourceHandle)!;
      const th = target.handles!.find((h) => h.id === e.targetHandle)!;
      // React Flow's anchor: bottom-centre of a source handle, top-centre of a target handle.
      const from = {
        x: source.position.x + sh.x + (sh.width ?? 1) / 2,
        y: source.position.y + sh.y + (sh.height ?? 1),
      };
      const to = { x: target.position.x + th.x + (th.width ?? 1) / 2, y: target.position.y + th.y };
      const points = e.data!.points;
      expect(from.x).toBeCloseTo(points[0].x, 0);
      expect(from.y).toBeCloseTo(points[0].y, 0);
      expect(to.x).toBeCloseTo(points[points.length - 1].x, 0);
      expect(to.y).toBeCloseTo(points[points.length - 1].y, 0);
      expect(e.type).toBe('route');
    }
  });

  it('gives operator nodes display data and graph inputs/outputs pills', async () => {
    const s = summary();
    const { nodes } = toFlow(s, await layoutGraph(s));
    const conv = nodes.find((n) => n.type === 'op' && n.data.opType === 'Conv');
    expect(conv?.type).toBe('op');
    if (conv?.type !== 'op') return;
    expect(conv.data.category).toBe('conv');
    expect(conv.data.name).toBe('a_conv_with_a_rather_long_name');
    expect(conv.data.badges.flat().map(badgeString)).toEqual(['W i8 4×3×3×3', 'B 4']);
    const pills = nodes.filter((n) => n.type === 'io');
    expect(pills.map((n) => [n.id, n.data.kind, n.data.typeText])).toEqual([
      ['in:x', 'input', 'float[1×3×8×8]'],
      ['out:y', 'output', 'float[1×4×8×8]'],
    ]);
    expect(pills.every((n) => n.selectable === false)).toBe(true);
    // Node data is display data: plain, cloneable, no functions.
    expect(() => structuredClone(nodes.map((n) => n.data))).not.toThrow();
  });
});

describe('toFlow with open groups', () => {
  it('makes frames parents of their contents, placed relative to them, with handles still on the routes', async () => {
    const summary = summarizeGraph(transformerModel({ layers: 2, heads: 3, headSize: 1 }).graph);
    const grouping = groupGraph(summary);
    const expanded = new Set([...initialExpanded(grouping), 'g:/encoder/layer.0']);
    const view = collapsedView(summary, grouping, expanded);
    const layout = await new GroupedLayout(summary, grouping).layout(expanded);
    const { nodes, edges } = toFlow(view.summary, layout);
    const frames = nodes.filter((n) => n.type === 'frame');
    expect(frames.map((f) => f.id)).toEqual(layout.frames.map((f) => f.id));
    expect(frames.map((f) => f.id)).toContain('g:/encoder/layer.0');
    // Every frame comes before the nodes inside it; absolute = parent's absolute + relative.
    const absolute = new Map<string, { x: number; y: number }>();
    nodes.forEach((n, i) => {
      const parent = n.parentId ? absolute.get(n.parentId) : { x: 0, y: 0 };
      expect(parent, `${n.id} comes after its parent ${n.parentId}`).toBeDefined();
      if (n.parentId) {
        expect(nodes.findIndex((m) => m.id === n.parentId)).toBeLessThan(i);
        expect(n.extent).toBe('parent');
      }
      absolute.set(n.id, { x: parent!.x + n.position.x, y: parent!.y + n.position.y });
    });
    for (const n of layout.nodes) expect(absolute.get(n.id)).toEqual({ x: n.x, y: n.y });
    for (const f of layout.frames) expect(absolute.get(f.id)).toEqual({ x: f.x, y: f.y });
    expect(frames.every((f) => f.selectable === false && f.draggable === false)).toBe(true);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    for (const e of edges) {
      const source = byId.get(e.source)!;
      const sh = source.handles!.find((h) => h.id === e.sourceHandle)!;
      const from = absolute.get(e.source)!;
      expect(from.x + sh.x + (sh.width ?? 1) / 2).toBeCloseTo(e.data!.points[0].x, 0);
      expect(from.y + sh.y + (sh.height ?? 1)).toBeCloseTo(e.data!.points[0].y, 0);
    }
  });
});

describe('roundedPath', () => {
  it('rounds the corners of an orthogonal route', () => {
    const d = roundedPath(
      [
        { x: 0, y: 0 },
        { x: 0, y: 20 },
        { x: 30, y: 20 },
        { x: 30, y: 50 },
      ],
      6,
    );
    expect(d).toBe('M0 0 L0 14 Q0 20 6 20 L24 20 Q30 20 30 26 L30 50');
  });

  it('keeps short jogs within their segments', () => {
    const d = roundedPath([
      { x: 0, y: 0 },
      { x: 0, y: 10 },
      { x: 4, y: 10 },
      { x: 4, y: 30 },
    ]);
    expect(d).toBe('M0 0 L0 8 Q0 10 2 10 L2 10 Q4 10 4 12 L4 30');
  });
});
