import type { EdgeSummary, GraphSummary, NodeSummary } from '../onnx/summary';

/**
 * A group of operator nodes: a level of the name hierarchy (`/encoder/layer.3/attention`) or one
 * repetition of a block detected in a flat run of nodes (Conv-BatchNormalization-Relu ×N).
 */
export interface NodeGroup {
  /** `g:<path>` for name groups, `r:<container>@<first node index>` for repeated blocks and their repetitions. */
  id: string;
  /** What the view shows: the last path segment, `Conv·BatchNormalization·Relu ×8`, or `#3`. */
  label: string;
  kind: 'name' | 'repeat' | 'repetition';
  /** The enclosing group, or null at the top level. */
  parent: string | null;
  /** Groups directly inside, ordered by their first node. */
  childGroups: string[];
  /** Node ids directly inside (not in a child group), in graph order. */
  members: string[];
  /** Number of operator nodes inside, at any depth. */
  size: number;
  /** Index of the first node inside, for ordering. */
  first: number;
}

/** The groups of one graph summary and where each node sits. */
export interface Grouping {
  groups: Map<string, NodeGroup>;
  /** Top-level groups, ordered by their first node. */
  roots: string[];
  /** Node ids in no group, in graph order. */
  rootMembers: string[];
  /** The innermost group of each grouped node id. */
  groupOf: Map<string, string>;
}

export interface GroupingOptions {
  /** Longest repeated block looked for, in nodes (default 48). */
  maxPeriod?: number;
  /** Fewest repetitions that make a repeated block (default 3). */
  minRepeats?: number;
  /** Fewest nodes a run of repetitions must cover (default 6). */
  minRunNodes?: number;
}

const nodeIndex = (id: string) => Number(id.slice(1));

/** The group path in a node name: `/encoder/layer.3/attention/self/MatMul` → encoder, layer.3, attention, self. */
export function namePath(name: string): string[] {
  const parts = name.split('/').filter((s) => s !== '');
  return parts.slice(0, -1);
}

/**
 * Group a graph's nodes by the hierarchy in their names, then detect repeated blocks among nodes
 * whose names carry no hierarchy (at the top level and inside each name group).
 */
export function groupGraph(summary: GraphSummary, options: GroupingOptions = {}): Grouping {
  const groups = new Map<string, NodeGroup>();
  const rootMembers: string[] = [];
  const ensure = (path: string[]): NodeGroup => {
    const id = `g:/${path.join('/')}`;
    let g = groups.get(id);
    if (g) return g;
    const parent = path.length > 1 ? ensure(path.slice(0, -1)) : null;
    g = {
      id,
      label: path[path.length - 1],
      kind: 'name',
      parent: parent?.id ?? null,
      childGroups: [],
      members: [],
      size: 0,
      first: Infinity,
    };
    groups.set(id, g);
    parent?.childGroups.push(id);
    return g;
  };
  summary.nodes.forEach((n, i) => {
    const path = namePath(n.name);
    if (path.length === 0) {
      rootMembers.push(n.id);
      return;
    }
    const g = ensure(path);
    g.members.push(n.id);
    for (let x: NodeGroup | undefined = g; x; x = x.parent ? groups.get(x.parent) : undefined) {
      x.size++;
      x.first = Math.min(x.first, i);
    }
  });
  // A group of one node is noise: the node moves up to where its group was.
  for (const g of [...groups.values()].sort((a, b) => b.id.length - a.id.length)) {
    if (g.size > 1) continue;
    const parent = g.parent ? groups.get(g.parent) : undefined;
    const moved = [...g.members];
    for (const c of g.childGroups) moved.push(...groups.get(c)!.members);
    if (parent) {
      parent.members.push(...moved);
      parent.members.sort((a, b) => nodeIndex(a) - nodeIndex(b));
      parent.childGroups = parent.childGroups.filter((c) => c !== g.id);
    } else rootMembers.push(...moved);
    groups.delete(g.id);
  }
  rootMembers.sort((a, b) => nodeIndex(a) - nodeIndex(b));
  const roots = [...groups.values()].filter((g) => g.parent === null).map((g) => g.id);

  const grouping: Grouping = { groups, roots, rootMembers, groupOf: new Map() };
  const opCode = new Map<string, number>();
  const codeOf = (id: string) => {
    const op = summary.nodes[nodeIndex(id)].opType;
    let c = opCode.get(op);
    if (c === undefined) opCode.set(op, (c = opCode.size));
    return c;
  };
  const containers: (NodeGroup | null)[] = [null, ...groups.values()];
  for (const container of containers) {
    const members = container ? container.members : grouping.rootMembers;
    const runs = findRepeats(members.map(codeOf), options);
    if (runs.length === 0) continue;
    const keep: string[] = [];
    let at = 0;
    for (const run of runs) {
      keep.push(...members.slice(at, run.start));
      const block = members.slice(run.start, run.start + run.period * run.repeats);
      const ops = block.slice(0, run.period).map((id) => summary.nodes[nodeIndex(id)].opType);
      const id = `r:${container?.id ?? ''}@${nodeIndex(block[0])}`;
      const repeat: NodeGroup = {
        id,
        label: `${ops.length > 4 ? `${ops.slice(0, 4).join('·')}…` : ops.join('·')} ×${run.repeats}`,
        kind: 'repeat',
        parent: container?.id ?? null,
        childGroups: [],
        members: [],
        size: block.length,
        first: nodeIndex(block[0]),
      };
      groups.set(id, repeat);
      for (let k = 0; k < run.repeats; k++) {
        const part = block.slice(k * run.period, (k + 1) * run.period);
        const rid = `${id}#${k + 1}`;
        groups.set(rid, {
          id: rid,
          label: `#${k + 1}`,
          kind: 'repetition',
          parent: id,
          childGroups: [],
          members: part,
          size: part.length,
          first: nodeIndex(part[0]),
        });
        repeat.childGroups.push(rid);
      }
      if (container) container.childGroups.push(id);
      else grouping.roots.push(id);
      at = run.start + run.period * run.repeats;
    }
    keep.push(...members.slice(at));
    if (container) container.members = keep;
    else grouping.rootMembers = keep;
  }
  const byFirst = (a: string, b: string) => groups.get(a)!.first - groups.get(b)!.first;
  grouping.roots.sort(byFirst);
  for (const g of groups.values()) {
    g.childGroups.sort(byFirst);
    for (const m of g.members) grouping.groupOf.set(m, g.id);
  }
  return grouping;
}

/** A run of `repeats` back-to-back copies of a block of `period` items starting at `start`. */
export interface RepeatRun {
  start: number;
  period: number;
  repeats: number;
}

/**
 * Runs of a repeated block in a sequence of op-type codes, left to right, each the run covering
 * the most items at its start (the shortest block among equals).
 */
export function findRepeats(codes: readonly number[], options: GroupingOptions = {}): RepeatRun[] {
  const maxPeriod = options.maxPeriod ?? 48;
  const minRepeats = options.minRepeats ?? 3;
  const minRunNodes = options.minRunNodes ?? 6;
  const n = codes.length;
  const same = (a: number, b: number, len: number) => {
    for (let k = 0; k < len; k++) if (codes[a + k] !== codes[b + k]) return false;
    return true;
  };
  const runs: RepeatRun[] = [];
  let i = 0;
  while (i < n) {
    let best: RepeatRun | undefined;
    for (let p = 1; p <= maxPeriod && i + p * minRepeats <= n; p++) {
      let repeats = 1;
      while (i + (repeats + 1) * p <= n && same(i, i + repeats * p, p)) repeats++;
      if (
        repeats >= minRepeats &&
        p * repeats >= minRunNodes &&
        (!best || p * repeats > best.period * best.repeats)
      )
        best = { start: i, period: p, repeats };
    }
    if (best) {
      runs.push(best);
      i += best.period * best.repeats;
    } else i++;
  }
  return runs;
}

/** The groups enclosing a node, outermost first (what to expand to show it). */
export function groupPath(grouping: Grouping, nodeId: string): string[] {
  const path: string[] = [];
  for (let g = grouping.groupOf.get(nodeId); g; g = grouping.groups.get(g)?.parent ?? undefined)
    path.unshift(g);
  return path;
}

export interface ExpansionOptions {
  /** Groups with more nodes than this start collapsed (default 12), and so do repetitions of a block. */
  threshold?: number;
  /**
   * Large groups are still opened, outermost first, while the view shows at most this many items
   * (default 60): a model that is one `/model` group opens to its layers.
   */
  budget?: number;
}

/** The groups a fresh view shows expanded. */
export function initialExpanded(grouping: Grouping, options: ExpansionOptions = {}): Set<string> {
  const threshold = options.threshold ?? 12;
  const budget = options.budget ?? 60;
  const expanded = new Set<string>();
  // One repetition of a block is only worth a box: repetitions open on demand, whatever their size.
  for (const g of grouping.groups.values())
    if (g.size <= threshold && g.kind !== 'repetition') expanded.add(g.id);
  const visible = (id: string): number => {
    const g = grouping.groups.get(id)!;
    if (!expanded.has(id)) return 1;
    return g.members.length + g.childGroups.reduce((s, c) => s + visible(c), 0);
  };
  let count = grouping.rootMembers.length + grouping.roots.reduce((s, r) => s + visible(r), 0);
  // Open one whole level at a time so that siblings (layer.0 … layer.23) look alike.
  let level = grouping.roots;
  while (level.length) {
    const closed = level.filter((id) => !expanded.has(id));
    const before = closed.reduce((s, id) => s + visible(id), 0);
    for (const id of closed) expanded.add(id);
    const after = closed.reduce((s, id) => s + visible(id), 0);
    if (count - before + after > budget) {
      for (const id of closed) expanded.delete(id);
      break;
    }
    count += after - before;
    level = level.flatMap((id) => grouping.groups.get(id)!.childGroups);
  }
  return expanded;
}

/** A group drawn as one box in a collapsed view. */
export interface CollapsedGroup {
  id: string;
  label: string;
  kind: NodeGroup['kind'];
  /** Operator nodes inside. */
  size: number;
  /** Operator counts inside, most frequent first. */
  ops: [string, number][];
}

/** What the view draws for a grouping and a set of expanded groups. */
export interface CollapsedView {
  /**
   * Visible operator nodes and one node per collapsed group (id = group id, opType `Group`, name
   * `<label> · <size> nodes`), with
   * edges between visible items: one per pair (the first tensor's name and shape), none inside a box.
   */
  summary: GraphSummary;
  /** The collapsed groups shown. */
  groups: Map<string, CollapsedGroup>;
  /** For each visible item, the innermost expanded group around it (for frames), if any. */
  parentOf: Map<string, string>;
  /** How many distinct tensors each visible edge stands for. */
  edgeTensors: Map<string, number>;
  /** The visible item that shows each node id: itself, or its outermost collapsed group. */
  itemOf: (id: string) => string;
}

/**
 * The node a collapsed group is drawn as: id = group id, opType `Group`, name `<label> · <size> nodes`
 * (parameters 0: the view fills in the sum).
 */
export function groupBoxNode(g: NodeGroup): NodeSummary {
  return {
    id: g.id,
    name: `${g.label} · ${g.size.toLocaleString('en-US')} nodes`,
    opType: 'Group',
    domain: '',
    category: 'other',
    inputs: [],
    outputs: [],
    weights: [],
    subgraphs: 0,
    parameters: 0,
  };
}

/**
 * The groups drawn open (as frames): expanded, with every enclosing group expanded too, outermost
 * first in graph order. Expanded groups inside a closed one do not show, so two expansion states
 * with the same open groups draw the same view.
 */
export function openGroups(grouping: Grouping, expanded: ReadonlySet<string>): string[] {
  const open: string[] = [];
  const visit = (ids: readonly string[]) => {
    for (const id of ids)
      if (expanded.has(id)) {
        open.push(id);
        visit(grouping.groups.get(id)!.childGroups);
      }
  };
  visit(grouping.roots);
  return open;
}

/** The graph as drawn with only `expanded` groups open. */
export function collapsedView(
  summary: GraphSummary,
  grouping: Grouping,
  expanded: ReadonlySet<string>,
): CollapsedView {
  const shownAs = new Map<string, string | null>();
  const groupItem = (id: string): string | null => {
    const known = shownAs.get(id);
    if (known !== undefined) return known;
    const g = grouping.groups.get(id)!;
    const above = g.parent ? groupItem(g.parent) : null;
    const item = above ?? (expanded.has(id) ? null : id);
    shownAs.set(id, item);
    return item;
  };
  const itemOf = (id: string): string => {
    const g = grouping.groupOf.get(id);
    return (g && groupItem(g)) ?? id;
  };
  const nodes: NodeSummary[] = [];
  const groups = new Map<string, CollapsedGroup>();
  const parentOf = new Map<string, string>();
  const innerOps = new Map<string, Map<string, number>>();
  const params = new Map<string, number>();
  const order: { first: number; node: NodeSummary }[] = [];
  summary.nodes.forEach((n, i) => {
    const item = itemOf(n.id);
    if (item === n.id) {
      order.push({ first: i, node: n });
      const g = grouping.groupOf.get(n.id);
      if (g) parentOf.set(n.id, g);
      return;
    }
    let ops = innerOps.get(item);
    if (!ops) {
      innerOps.set(item, (ops = new Map()));
      const g = grouping.groups.get(item)!;
      if (g.parent) parentOf.set(item, g.parent);
      order.push({ first: i, node: groupBoxNode(g) });
    }
    ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
    params.set(item, (params.get(item) ?? 0) + n.parameters);
  });
  for (const { node } of order) {
    if (node.opType === 'Group' && innerOps.has(node.id)) {
      const g = grouping.groups.get(node.id)!;
      node.parameters = params.get(node.id) ?? 0;
      groups.set(node.id, {
        id: node.id,
        label: g.label,
        kind: g.kind,
        size: g.size,
        ops: [...innerOps.get(node.id)!].sort((a, b) => b[1] - a[1]),
      });
    }
    nodes.push(node);
  }
  const edges: EdgeSummary[] = [];
  const tensorsOf = new Map<string, Set<string>>();
  const byPair = new Map<string, EdgeSummary>();
  const visibleEnd = (id: string) => (id.startsWith('in:') || id.startsWith('out:') ? id : itemOf(id));
  for (const e of summary.edges) {
    const source = visibleEnd(e.source);
    const target = visibleEnd(e.target);
    if (source === target) continue;
    // Several tensors between two operators stay apart; those into or out of a box merge.
    const pair =
      source === e.source && target === e.target ? `${source}>${target}:${e.tensor}` : `${source}>${target}`;
    const seen = byPair.get(pair);
    if (seen) {
      tensorsOf.get(seen.id)!.add(e.tensor);
      continue;
    }
    const edge: EdgeSummary =
      source === e.source && target === e.target ? e : { ...e, id: `${pair}:${e.tensor}`, source, target };
    byPair.set(pair, edge);
    tensorsOf.set(edge.id, new Set([e.tensor]));
    edges.push(edge);
  }
  const edgeTensors = new Map([...tensorsOf].map(([id, t]) => [id, t.size]));
  return {
    summary: { nodes, edges, inputs: summary.inputs, outputs: summary.outputs },
    groups,
    parentOf,
    edgeTensors,
    itemOf,
  };
}
