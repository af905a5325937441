import type { ElkNode } from 'elkjs/lib/elk-api';
import {
  collapsedView,
  groupBoxNode,
  groupPath,
  openGroups,
  type CollapsedView,
  type Grouping,
} from '../graph/grouping';
import type { GraphSummary } from '../onnx/summary';
import { layoutBand } from './band';
import { formatShape, type ConstantInput } from './format';
import { simplifyRoute } from './gapRouting';
import { estimateTextWidth, frameMetrics, frameMinWidth, nodeBox, pillSize, type NodeBox } from './nodeSize';
import {
  foldableConstants,
  foldedConstantInputs,
  maxLabelDimName,
  defaultBandSize,
  planBands,
  type PlanInput,
  type PlanOptions,
} from './plan';
import { stitchPlan } from './stitch';
import type {
  BandResult,
  GraphLayout,
  LayoutEdge,
  LayoutFrame,
  LayoutLabel,
  LayoutNode,
  PlacedNode,
  PlannedEdge,
  PlannedNode,
  PlannedNodeKind,
  Point,
  StitchedLayout,
} from './types';

/** Options of a grouped layout: those of a flat one, and the function that runs ELK on a band. */
export interface GroupedLayoutOptions extends Omit<PlanOptions, 'sizes'> {
  /** Lays out one band (default: ELK in this thread, {@link layoutBand}). */
  layoutBand?: (graph: ElkNode) => Promise<BandResult>;
}

/** What a caller can do while a layout runs: give up on it, and hear how far it got. */
export interface LayoutControl {
  /** Asked before every band: true stops the layout with a {@link LayoutCancelled} error. */
  cancelled?: () => boolean;
  /**
   * Bands done and known so far; with `partial`, the first bands of a large top level (and the frames
   * placed in them), drawn while the rest is laid out.
   */
  onProgress?: (done: number, total: number, partial?: GraphLayout) => void;
}

/** Thrown by {@link GroupedLayout.layout} when its {@link LayoutControl.cancelled} says so. */
export class LayoutCancelled extends Error {
  constructor() {
    super('layout cancelled');
    this.name = 'LayoutCancelled';
  }
}

/** One end of an edge inside a level: an item of the level, or a stub where a tensor enters or leaves it. */
interface End {
  item: string;
  kind: PlannedNodeKind;
}

/** A piece of an edge inside one level, in the level's coordinates. */
interface LevelRoute {
  sourcePort: string;
  targetPort: string;
  points: Point[];
}

/**
 * The layout of one level: the top of the graph, or the inside of one open group's frame, in its own
 * coordinates (for a frame, from its top-left corner, header included). It depends only on the
 * level's contents and on the open groups inside it, never on what lies outside: tensors coming in
 * and going out meet stubs, whose places become the frame's ports.
 */
export interface LevelLayout {
  /** The group, or '' for the top level. */
  group: string;
  /** The cache key: the group and the open groups inside it (see {@link GroupedLayout.levelKey}). */
  key: string;
  /** Frame size (header included); the top level's bounds. */
  width: number;
  height: number;
  /** Top level only: where its drawing sits (x may be negative when bands are stacked). */
  bounds: GraphLayout['bounds'];
  /** Operators, collapsed groups, pills (top level) and the frames of open child groups. */
  items: PlacedNode[];
  /** Where each tensor coming in enters the frame (x on its top border). */
  entries: Map<string, number>;
  /** Where each tensor going out leaves the frame (x on its bottom border). */
  exits: Map<string, number>;
  /** Edge pieces by level edge key ({@link levelEdgeKey}). */
  routes: Map<string, LevelRoute>;
  /** Tensor shape labels by source port. */
  labels: Map<string, LayoutLabel>;
  /** The level key of each open child group's frame. */
  children: Map<string, string>;
  bands: number;
  complete: boolean;
}

/** Least time between two partial layouts sent while a large top level is laid out (ms). */
const partialInterval = 250;

const plainKinds: ReadonlySet<PlannedNodeKind> = new Set(['op', 'group', 'input', 'output']);

/**
 * The key of an edge piece inside a level. Between two drawn items where one is a collapsed group,
 * all tensors share one edge (as {@link collapsedView} draws them); otherwise one edge per tensor and
 * target, since each tensor has one source in a level.
 */
function levelEdgeKey(source: End, target: End, tensor: string): string {
  if (
    plainKinds.has(source.kind) &&
    plainKinds.has(target.kind) &&
    (source.kind === 'group' || target.kind === 'group')
  )
    return `p:${source.item}\u0000${target.item}`;
  return `t:${tensor}\u0000${target.item}`;
}

const entryStub = (tensor: string): End => ({ item: `entry:${tensor}`, kind: 'entry' });
const exitStub = (tensor: string): End => ({ item: `exit:${tensor}`, kind: 'exit' });
const stubPort = (stub: string) => `${stub}/p`;
const isPill = (id: string) => id.startsWith('in:') || id.startsWith('out:');

/**
 * The layout of a grouped graph for any set of open groups, built level by level: each open group's
 * inside is laid out on its own (ELK, in bands when large) and cached by the group and the open
 * groups inside it, then placed as a fixed-size frame in the level above. Opening or closing a group
 * lays out that group (unless cached) and the levels above it; every other group's inner layout is
 * reused as it is. Edges crossing frames are joined from their pieces in each level.
 */
export class GroupedLayout {
  /** Levels laid out and ELK runs (bands) made so far: what caching saves shows here. */
  readonly stats = { levels: 0, bands: 0 };
  /** The levels the last call to {@link layout} had to lay out (the others came from the cache). */
  lastLaidOut: string[] = [];

  private readonly cache = new Map<string, LevelLayout>();
  private readonly folded: Set<string>;
  private readonly constantsOf: Map<string, ConstantInput[]>;
  private readonly indexOf = new Map<string, number>();
  private readonly chains = new Map<string, string[]>();
  private readonly depths = new Map<string, number>();
  private readonly edgesOf = new Map<string, number[]>();
  private readonly boxes = new Map<string, NodeBox>();
  private readonly measure;
  private readonly runBand;

  constructor(
    readonly summary: GraphSummary,
    readonly grouping: Grouping,
    private readonly options: GroupedLayoutOptions = {},
  ) {
    this.measure = options.measureText ?? estimateTextWidth;
    this.runBand = options.layoutBand ?? layoutBand;
    this.folded = options.foldConstants === false ? new Set() : foldableConstants(summary);
    this.constantsOf = foldedConstantInputs(summary, this.folded);
    summary.nodes.forEach((n, i) => this.indexOf.set(n.id, i));
    // Each edge belongs to the level holding both ends (the innermost group around both) and to
    // every group below that on the way to either end.
    summary.edges.forEach((e, i) => {
      if (this.folded.has(e.source)) return;
      const a = this.chainOf(e.source);
      const b = this.chainOf(e.target);
      let k = 0;
      while (k < a.length && k < b.length && a[k] === b[k]) k++;
      this.addEdge(k > 0 ? a[k - 1] : '', i);
      for (let j = k; j < a.length; j++) this.addEdge(a[j], i);
      for (let j = k; j < b.length; j++) this.addEdge(b[j], i);
    });
  }

  /**
   * The cache key of a level: the group and, recursively, the keys of the open groups inside it.
   * Two states of the view that open the same groups inside a group share its inner layout.
   */
  levelKey(group: string, open: ReadonlySet<string>): string {
    const children = group === '' ? this.grouping.roots : this.grouping.groups.get(group)!.childGroups;
    const inner = children.filter((c) => open.has(c)).map((c) => this.levelKey(c, open));
    return inner.length > 0 ? `${group}{${inner.join(',')}}` : group;
  }

  /** A cached level, by key. */
  cachedLevel(key: string): LevelLayout | undefined {
    return this.cache.get(key);
  }

  /**
   * The layout of the view with `expanded` groups open: open groups as frames around their
   * contents, collapsed ones as boxes, the edges of {@link collapsedView} routed through the frames.
   */
  async layout(expanded: ReadonlySet<string>, control: LayoutControl = {}): Promise<GraphLayout> {
    const started = performance.now();
    const open = new Set(openGroups(this.grouping, expanded));
    const { keys, missing } = this.missingLevels('', open);
    this.lastLaidOut = [];
    let view: CollapsedView | undefined;
    const viewOf = () => (view ??= collapsedView(this.summary, this.grouping, open));
    let done = 0;
    let total = missing.length;
    let lastPartial = -Infinity;
    for (const group of missing) {
      const level = await this.layoutLevel(group, keys, control, {
        planned: (bands) => (total += bands - 1),
        band: (partial) => {
          done++;
          control.onProgress?.(done, total, partial && this.compose(partial, viewOf(), started));
        },
        wantsPartial: () => {
          // The first bands of a large top level are drawn while the rest is laid out; after the
          // first, a new partial layout at most every few hundred milliseconds.
          if (group !== '' || !control.onProgress) return false;
          const now = performance.now();
          if (now - lastPartial < partialInterval) return false;
          lastPartial = now;
          return true;
        },
      });
      this.keep(level);
      this.lastLaidOut.push(group);
    }
    return this.compose(this.cache.get(keys.get('')!)!, viewOf(), started);
  }

  /**
   * Lays out ahead of time, one level at a time, the inside of each collapsed group the view of
   * `expanded` shows, as it would look opened (with the groups already expanded inside it), so that
   * opening it only has the levels above it left to place. Groups with more direct items than one
   * band are left alone. Yields to other tasks between levels and stops when `cancelled` says so;
   * returns the number of levels laid out.
   */
  async prefetch(
    expanded: ReadonlySet<string>,
    control: Pick<LayoutControl, 'cancelled'> = {},
  ): Promise<number> {
    const open = new Set(openGroups(this.grouping, expanded));
    const maxItems = this.options.bandSize ?? defaultBandSize;
    let count = 0;
    for (const level of ['', ...open]) {
      const children = level === '' ? this.grouping.roots : this.grouping.groups.get(level)!.childGroups;
      for (const closed of children) {
        if (open.has(closed)) continue;
        const inner = new Set(open);
        const add = (id: string) => {
          inner.add(id);
          for (const c of this.grouping.groups.get(id)!.childGroups) if (expanded.has(c)) add(c);
        };
        add(closed);
        const { keys, missing } = this.missingLevels(closed, inner);
        for (const group of missing) {
          const g = this.grouping.groups.get(group)!;
          if (g.members.length + g.childGroups.length > maxItems) break;
          if (control.cancelled?.()) return count;
          try {
            this.keep(
              await this.layoutLevel(group, keys, control, {
                planned() {},
                band() {},
                wantsPartial: () => false,
              }),
            );
          } catch (e) {
            if (e instanceof LayoutCancelled) return count;
            throw e;
          }
          count++;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    }
    return count;
  }

  /** The keys of the levels under `top` (itself included) and those not cached, inner ones first. */
  private missingLevels(
    top: string,
    open: ReadonlySet<string>,
  ): { keys: Map<string, string>; missing: string[] } {
    const keys = new Map<string, string>();
    const missing: string[] = [];
    const visit = (group: string): string => {
      const children = group === '' ? this.grouping.roots : this.grouping.groups.get(group)!.childGroups;
      const inner = children.filter((c) => open.has(c)).map(visit);
      const key = inner.length > 0 ? `${group}{${inner.join(',')}}` : group;
      keys.set(group, key);
      if (!this.cache.has(key)) missing.push(group);
      return key;
    };
    visit(top);
    return { keys, missing };
  }

  private keep(level: LevelLayout): void {
    this.cache.set(level.key, level);
    this.stats.levels++;
  }

  private addEdge(level: string, edge: number): void {
    let list = this.edgesOf.get(level);
    if (!list) this.edgesOf.set(level, (list = []));
    list.push(edge);
  }

  private chainOf(id: string): string[] {
    if (isPill(id)) return [];
    let c = this.chains.get(id);
    if (!c) this.chains.set(id, (c = groupPath(this.grouping, id)));
    return c;
  }

  private depthOf(group: string): number {
    if (group === '') return 0;
    let d = this.depths.get(group);
    if (d === undefined) {
      d = 0;
      for (let g: string | null = group; g; g = this.grouping.groups.get(g)!.parent) d++;
      this.depths.set(group, d);
    }
    return d;
  }

  /** Where a node or pill sits in a level: itself, the child group around it, or outside (null). */
  private endAt(level: string, id: string, open: ReadonlyMap<string, string>): End | null {
    if (isPill(id))
      return level === '' ? { item: id, kind: id.startsWith('in:') ? 'input' : 'output' } : null;
    const chain = this.chainOf(id);
    const depth = this.depthOf(level);
    if (depth > 0 && chain[depth - 1] !== level) return null;
    if (chain.length === depth) return { item: id, kind: 'op' };
    const child = chain[depth];
    return { item: child, kind: open.has(child) ? 'frame' : 'group' };
  }

  private opBox(id: string): NodeBox {
    let b = this.boxes.get(id);
    if (!b) {
      const node = this.summary.nodes[this.indexOf.get(id)!];
      this.boxes.set(id, (b = nodeBox(node, this.measure, this.constantsOf.get(id))));
    }
    return b;
  }

  private groupBox(id: string): NodeBox {
    let b = this.boxes.get(id);
    if (!b) this.boxes.set(id, (b = nodeBox(groupBoxNode(this.grouping.groups.get(id)!), this.measure)));
    return b;
  }

  /** The ELK input of one level: its items, stubs for tensors crossing its frame, its edge pieces. */
  private levelInput(level: string, keys: ReadonlyMap<string, string>): PlanInput {
    const withLabels = this.options.edgeLabels ?? true;
    const group = level === '' ? undefined : this.grouping.groups.get(level)!;
    const members = group ? group.members : this.grouping.rootMembers;
    const children = group ? group.childGroups : this.grouping.roots;
    const nodes = new Map<string, PlannedNode>();
    const priority = new Map<string, number>();
    for (const id of members) {
      if (this.folded.has(id)) continue;
      const box = this.opBox(id);
      nodes.set(id, { id, kind: 'op', width: box.width, height: box.height, badges: box.badges, ports: [] });
      priority.set(id, this.indexOf.get(id)!);
    }
    for (const c of children) {
      const key = keys.get(c);
      const inner = key === undefined ? undefined : this.cache.get(key);
      if (inner) {
        nodes.set(c, {
          id: c,
          kind: 'frame',
          width: inner.width,
          height: inner.height,
          ports: [
            ...[...inner.entries].map(([t, x]) => ({ id: `${c}//in:${t}`, side: 'top' as const, x })),
            ...[...inner.exits].map(([t, x]) => ({ id: `${c}//out:${t}`, side: 'bottom' as const, x })),
          ],
        });
      } else {
        const box = this.groupBox(c);
        nodes.set(c, { id: c, kind: 'group', width: box.width, height: box.height, ports: [] });
      }
      priority.set(c, this.grouping.groups.get(c)!.first);
    }
    if (!group) {
      for (const v of this.summary.inputs)
        nodes.set(`in:${v.name}`, {
          id: `in:${v.name}`,
          kind: 'input',
          ...pillSize(v.name, this.measure),
          ports: [],
        });
      for (const v of this.summary.outputs)
        nodes.set(`out:${v.name}`, {
          id: `out:${v.name}`,
          kind: 'output',
          ...pillSize(v.name, this.measure),
          ports: [],
        });
    }

    const open = new Map([...keys].filter(([g]) => g !== ''));
    const edges: PlannedEdge[] = [];
    const labels = new Map<string, string | undefined>();
    const seen = new Set<string>();
    const inputCount = new Map<string, number>();
    const addPort = (node: PlannedNode, id: string, side: 'top' | 'bottom') => {
      if (!node.ports.some((p) => p.id === id)) node.ports.push({ id, side });
    };
    for (const i of this.edgesOf.get(level) ?? []) {
      const e = this.summary.edges[i];
      const inside = this.endAt(level, e.source, open);
      const reached = this.endAt(level, e.target, open);
      if (!inside && !reached) continue;
      const source = inside ?? entryStub(e.tensor);
      const target = reached ?? exitStub(e.tensor);
      if (source.item === target.item) continue;
      const key = levelEdgeKey(source, target, e.tensor);
      if (seen.has(key)) continue;
      seen.add(key);
      for (const end of [source, target])
        if ((end.kind === 'entry' || end.kind === 'exit') && !nodes.has(end.item)) {
          nodes.set(end.item, {
            id: end.item,
            kind: end.kind,
            width: 1,
            height: 1,
            ports: [{ id: stubPort(end.item), side: end.kind === 'entry' ? 'bottom' : 'top' }],
          });
          priority.set(end.item, end.kind === 'entry' ? -1 : Number.MAX_SAFE_INTEGER);
        }
      const from = nodes.get(source.item)!;
      const to = nodes.get(target.item)!;
      let sourcePort: string;
      if (source.kind === 'op') {
        const slot = this.summary.nodes[this.indexOf.get(source.item)!].outputs.indexOf(e.tensor);
        sourcePort = `${source.item}/o${Math.max(0, slot)}`;
      } else if (source.kind === 'input') sourcePort = `${source.item}/o0`;
      else if (source.kind === 'group') sourcePort = `${source.item}//o`;
      else if (source.kind === 'frame') sourcePort = `${source.item}//out:${e.tensor}`;
      else sourcePort = stubPort(source.item);
      if (source.kind === 'op' || source.kind === 'input' || source.kind === 'group')
        addPort(from, sourcePort, 'bottom');
      let targetPort: string;
      if (target.kind === 'frame') targetPort = `${target.item}//in:${e.tensor}`;
      else if (target.kind === 'exit') targetPort = stubPort(target.item);
      else {
        const k = inputCount.get(target.item) ?? 0;
        inputCount.set(target.item, k + 1);
        targetPort = target.kind === 'group' ? `${target.item}//i${k}` : `${target.item}/i${k}`;
        addPort(to, targetPort, 'top');
      }
      edges.push({ id: key, source: source.item, target: target.item, sourcePort, targetPort });
      if (plainKinds.has(source.kind) && !labels.has(sourcePort))
        labels.set(sourcePort, withLabels ? formatShape(e.shape, maxLabelDimName) : undefined);
    }

    // Pills sit just before their first consumer and just after their producer in the order.
    for (const e of edges) {
      const s = nodes.get(e.source)!;
      const t = nodes.get(e.target)!;
      if (s.kind === 'input') {
        const p = priority.get(e.target);
        if (p !== undefined && t.kind !== 'exit')
          priority.set(e.source, Math.min(priority.get(e.source) ?? Infinity, p - 0.5));
      }
      if (t.kind === 'output') {
        const p = priority.get(e.source);
        if (p !== undefined) priority.set(e.target, p + 0.5);
      }
    }
    for (const id of nodes.keys()) if (!priority.has(id)) priority.set(id, this.summary.nodes.length);
    return { nodes: [...nodes.values()], edges, labels, priority, folded: [] };
  }

  private async layoutLevel(
    level: string,
    keys: ReadonlyMap<string, string>,
    control: LayoutControl,
    hooks: { planned(bands: number): void; band(partial?: LevelLayout): void; wantsPartial(): boolean },
  ): Promise<LevelLayout> {
    const plan = planBands(this.levelInput(level, keys), this.options);
    const total = plan.bandGraphs.length;
    hooks.planned(total);
    const results: BandResult[] = [];
    for (const graph of plan.bandGraphs) {
      if (control.cancelled?.()) throw new LayoutCancelled();
      results.push(await this.runBand(graph));
      this.stats.bands++;
      const partial =
        results.length < total && hooks.wantsPartial()
          ? this.toLevel(level, keys, stitchPlan(plan, results, 0))
          : undefined;
      hooks.band(partial);
    }
    return this.toLevel(level, keys, stitchPlan(plan, results, 0));
  }

  /** Moves a stitched level into frame coordinates and keeps what frames and edges need. */
  private toLevel(level: string, keys: ReadonlyMap<string, string>, stitched: StitchedLayout): LevelLayout {
    const group = level === '' ? undefined : this.grouping.groups.get(level)!;
    const b = stitched.bounds;
    let dx = 0;
    let dy = 0;
    let width = b.width;
    let height = b.height;
    if (group) {
      width = Math.max(b.width, frameMinWidth(group.label, group.size, this.measure));
      // Contents narrower than the header sit in the middle of the frame.
      dx = -b.x + (width - b.width) / 2;
      dy = -b.y + frameMetrics.headerHeight;
      height = Math.max(b.height, 24) + frameMetrics.headerHeight;
    }
    const items: PlacedNode[] = [];
    const entries = new Map<string, number>();
    const exits = new Map<string, number>();
    const stubX = new Map<string, number>();
    const children = new Map<string, string>();
    for (const n of stitched.nodes) {
      const x = n.x + dx;
      const y = n.y + dy;
      if (n.kind === 'entry' || n.kind === 'exit') {
        const px = x + (n.ports[0]?.x ?? n.width / 2);
        stubX.set(n.id, px);
        (n.kind === 'entry' ? entries : exits).set(n.id.slice(n.kind.length + 1), px);
        continue;
      }
      items.push({ ...n, x, y });
      if (n.kind === 'frame') children.set(n.id, keys.get(n.id)!);
    }
    const routes = new Map<string, LevelRoute>();
    const labels = new Map<string, LayoutLabel>();
    for (const e of stitched.edges) {
      const points = e.points.map((p) => ({ x: p.x + dx, y: p.y + dy }));
      // A tensor coming in runs from the frame's top border to its stub; one going out, on to the bottom.
      const entry = stubX.get(e.source);
      if (entry !== undefined && e.source.startsWith('entry:')) points.unshift({ x: entry, y: 0 });
      const exit = stubX.get(e.target);
      if (exit !== undefined && e.target.startsWith('exit:')) points.push({ x: exit, y: height });
      routes.set(e.id, { sourcePort: e.sourcePort, targetPort: e.targetPort, points: simplifyRoute(points) });
      if (e.label) labels.set(e.sourcePort, { ...e.label, x: e.label.x + dx, y: e.label.y + dy });
    }
    return {
      group: level,
      key: keys.get(level)!,
      width,
      height,
      bounds: group ? { x: 0, y: 0, width, height } : b,
      items,
      entries,
      exits,
      routes,
      labels,
      children,
      bands: stitched.bands,
      complete: stitched.complete,
    };
  }

  /** Places the frames of the cached levels under `top` and joins each visible edge from its pieces. */
  private compose(top: LevelLayout, view: CollapsedView, started: number): GraphLayout {
    const nodes: LayoutNode[] = [];
    const frames: LayoutFrame[] = [];
    const levels = new Map<string, { layout: LevelLayout; origin: Point }>();
    const place = (layout: LevelLayout, origin: Point, parent: string | undefined) => {
      levels.set(layout.group, { layout, origin });
      for (const n of layout.items) {
        const x = n.x + origin.x;
        const y = n.y + origin.y;
        if (n.kind === 'frame') {
          const g = this.grouping.groups.get(n.id)!;
          const frame: LayoutFrame = {
            id: n.id,
            label: g.label,
            kind: g.kind,
            size: g.size,
            x,
            y,
            width: n.width,
            height: n.height,
          };
          if (parent) frame.parent = parent;
          frames.push(frame);
          const inner = this.cache.get(layout.children.get(n.id)!);
          if (inner) place(inner, { x, y }, n.id);
          continue;
        }
        const node: LayoutNode = {
          id: n.id,
          kind: n.kind === 'group' ? 'op' : (n.kind as LayoutNode['kind']),
          x,
          y,
          width: n.width,
          height: n.height,
          ports: n.ports,
        };
        if (n.badges) node.badges = n.badges;
        if (parent) node.parent = parent;
        nodes.push(node);
      }
    };
    place(top, { x: 0, y: 0 }, undefined);

    // The tensors each visible edge stands for, in graph order: the first one routed draws it.
    const visibleEnd = (id: string) => (isPill(id) ? id : view.itemOf(id));
    const merged = new Map<string, string>();
    for (const e of view.summary.edges)
      if (view.groups.has(e.source) || view.groups.has(e.target))
        merged.set(`${e.source}\u0000${e.target}`, e.id);
    const tensorsOf = new Map<string, string[]>();
    for (const e of this.summary.edges) {
      if (this.folded.has(e.source)) continue;
      const source = visibleEnd(e.source);
      const target = visibleEnd(e.target);
      if (source === target) continue;
      const id = source === e.source && target === e.target ? e.id : merged.get(`${source}\u0000${target}`);
      if (id === undefined) continue;
      const list = tensorsOf.get(id);
      if (!list) tensorsOf.set(id, [e.tensor]);
      else if (!list.includes(e.tensor)) list.push(e.tensor);
    }
    const labelled = new Set<string>();
    const edges: LayoutEdge[] = [];
    for (const e of view.summary.edges) {
      for (const tensor of tensorsOf.get(e.id) ?? []) {
        const route = this.route(e.source, e.target, tensor, view, levels);
        if (!route) continue;
        const edge: LayoutEdge = {
          id: e.id,
          source: e.source,
          target: e.target,
          sourcePort: route.sourcePort,
          targetPort: route.targetPort,
          points: route.points,
        };
        const labelKey = `${route.level}\u0000${route.sourcePort}`;
        const label = levels.get(route.level)!.layout.labels.get(route.sourcePort);
        if (label && !labelled.has(labelKey)) {
          labelled.add(labelKey);
          const o = levels.get(route.level)!.origin;
          edge.label = { ...label, x: label.x + o.x, y: label.y + o.y };
        }
        edges.push(edge);
        break;
      }
    }
    return {
      nodes,
      frames,
      edges,
      bounds: top.bounds,
      bands: top.bands,
      folded: [...this.folded].filter((id) => view.itemOf(id) === id),
      complete: top.complete,
      durationMs: performance.now() - started,
    };
  }

  /** The route of a visible edge carrying `tensor`, joined from its pieces level by level, if all are laid out. */
  private route(
    source: string,
    target: string,
    tensor: string,
    view: CollapsedView,
    levels: ReadonlyMap<string, { layout: LevelLayout; origin: Point }>,
  ): (LevelRoute & { level: string }) | null {
    const kindOf = (id: string): PlannedNodeKind =>
      id.startsWith('in:')
        ? 'input'
        : id.startsWith('out:')
          ? 'output'
          : view.groups.has(id)
            ? 'group'
            : 'op';
    const levelOf = (id: string) => (isPill(id) ? '' : (view.parentOf.get(id) ?? ''));
    const up = (g: string) => (g === '' ? null : (this.grouping.groups.get(g)!.parent ?? ''));
    const from = levelOf(source);
    const to = levelOf(target);
    const above = new Set<string>();
    for (let g: string | null = to; g !== null; g = up(g)) above.add(g);
    let common = from;
    while (!above.has(common)) common = up(common)!;

    const pieces: [string, string][] = [];
    let end: End = { item: source, kind: kindOf(source) };
    for (let g = from; g !== common; g = up(g)!) {
      pieces.push([g, levelEdgeKey(end, exitStub(tensor), tensor)]);
      end = { item: g, kind: 'frame' };
    }
    const down: string[] = [];
    for (let g = to; g !== common; g = up(g)!) down.unshift(g);
    const last: End = { item: target, kind: kindOf(target) };
    pieces.push([
      common,
      levelEdgeKey(end, down.length > 0 ? { item: down[0], kind: 'frame' } : last, tensor),
    ]);
    down.forEach((g, i) =>
      pieces.push([
        g,
        levelEdgeKey(
          entryStub(tensor),
          i + 1 < down.length ? { item: down[i + 1], kind: 'frame' } : last,
          tensor,
        ),
      ]),
    );

    const points: Point[] = [];
    let first: LevelRoute | undefined;
    let lastPiece: LevelRoute | undefined;
    for (const [g, key] of pieces) {
      const placed = levels.get(g);
      const piece = placed?.layout.routes.get(key);
      if (!placed || !piece) return null;
      for (const p of piece.points) points.push({ x: p.x + placed.origin.x, y: p.y + placed.origin.y });
      first ??= piece;
      lastPiece = piece;
    }
    return {
      level: from,
      sourcePort: first!.sourcePort,
      targetPort: lastPiece!.targetPort,
      points: simplifyRoute(points),
    };
  }
}
