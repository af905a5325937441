import type { ElkExtendedEdge, ElkNode, ElkPort, LayoutOptions as ElkLayoutOptions } from 'elkjs/lib/elk-api';
import type { GraphSummary } from '../onnx/summary';
import { formatShape, type ConstantInput } from './format';
import {
  edgeLabelSize,
  estimateTextWidth,
  nodeBox,
  pillSize,
  type NodeSize,
  type TextMeasure,
} from './nodeSize';
import { topologicalOrder } from './order';
import type { Fanout, LayoutPlan, PlannedEdge, PlannedNode } from './types';

/** How hard ELK tries to avoid crossings: 'auto' is thorough on small graphs and quick on large ones. */
export type LayoutEffort = 'auto' | 'high' | 'low';

export interface PlanOptions {
  /** Node sizes by id, overriding the estimates from op type, name and weight badges. */
  sizes?: Readonly<Record<string, NodeSize>>;
  /** Text widths for sizing nodes and labels (default: estimates from character counts). */
  measureText?: TextMeasure;
  /** Label edges with tensor shapes (default true). */
  edgeLabels?: boolean;
  /**
   * Draw Constant / ConstantOfShape nodes that read no graph value as weight badges on their
   * consumers, the way initializers are drawn (default true). Exported models (PaddlePaddle,
   * spox) often store every weight that way; as boxes they would double the graph and widen it.
   */
  foldConstants?: boolean;
  effort?: LayoutEffort;
  /**
   * Largest band laid out by ELK in one piece (default {@link defaultBandSize}). Larger graphs are cut
   * into bands along the topological order, laid out band by band and stacked: ELK's cost and its
   * recursion depth grow with graph size (a 5,000-node chain overflows its stack in one piece).
   */
  bandSize?: number;
}

/** Nodes (operators plus input/output pills) per band, see {@link PlanOptions.bandSize}. */
export const defaultBandSize = 600;
/**
 * Above this many drawn nodes, 'auto' effort switches from network-simplex node placement (straight
 * trunks, compact, but the costlier part of ELK) to Brandes-Köpf.
 */
export const largeGraphNodes = 500;

const baseOptions: ElkLayoutOptions = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.spacing.nodeNode': '28',
  'elk.layered.spacing.nodeNodeBetweenLayers': '20',
  'elk.spacing.edgeNode': '14',
  'elk.spacing.edgeEdge': '10',
  'elk.layered.spacing.edgeNodeBetweenLayers': '12',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '8',
  'elk.spacing.edgeLabel': '3',
  // ELK finds components with a recursive search that overflows the stack on long chains.
  'elk.separateConnectedComponents': 'false',
  'elk.padding': '[top=12,left=12,bottom=12,right=12]',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
};

const effortOptions: Record<'high' | 'low', ElkLayoutOptions> = {
  high: {
    'elk.layered.thoroughness': '7',
    'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  },
  low: {
    'elk.layered.thoroughness': '1',
    'elk.layered.crossingMinimization.greedySwitch.type': 'OFF',
    'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
    'elk.layered.nodePlacement.bk.fixedAlignment': 'BALANCED',
  },
};

/** Symbolic dimension names longer than this are shortened in edge labels (tooltips show them whole). */
export const maxLabelDimName = 12;

/** Ids of the stub nodes and edges that carry a tensor across band boundaries. */
export const bandIds = {
  entryStub: (port: string, band: number) => `enter@${band}@${port}`,
  exitStub: (port: string, band: number) => `leave@${band}@${port}`,
  exitEdge: (port: string, band: number) => `leave-edge@${band}@${port}`,
  passEdge: (port: string, band: number) => `pass-edge@${band}@${port}`,
  label: (port: string) => `label@${port}`,
};

/**
 * Sizes every node, gives each edge its ports (one per produced tensor at the bottom of the
 * producer, one per consumed tensor at the top of the consumer), orders the nodes topologically
 * (close to the model's order) and cuts that order into bands, each an ELK graph.
 */
export function planLayout(summary: GraphSummary, options: PlanOptions = {}): LayoutPlan {
  const measure = options.measureText ?? estimateTextWidth;
  const withLabels = options.edgeLabels ?? true;
  const folded = options.foldConstants === false ? new Set<string>() : foldableConstants(summary);
  const constantsOf = foldedConstantInputs(summary, folded);

  const nodes = new Map<string, PlannedNode>();
  const priority = new Map<string, number>();
  const outputsOf = new Map<string, readonly string[]>();
  summary.nodes.forEach((n, i) => {
    if (folded.has(n.id)) return;
    const given = options.sizes?.[n.id];
    const box = nodeBox(n, measure, constantsOf.get(n.id));
    nodes.set(n.id, { id: n.id, kind: 'op', ...(given ?? box), badges: box.badges, ports: [] });
    priority.set(n.id, i);
    outputsOf.set(n.id, n.outputs);
  });
  const pill = (id: string, kind: 'input' | 'output', name: string) =>
    nodes.set(id, { id, kind, ...(options.sizes?.[id] ?? pillSize(name, measure)), ports: [] });
  for (const v of summary.inputs) pill(`in:${v.name}`, 'input', v.name);
  for (const v of summary.outputs) pill(`out:${v.name}`, 'output', v.name);

  const edges: PlannedEdge[] = [];
  const labels = new Map<string, string | undefined>();
  const inputCount = new Map<string, number>();
  for (const e of summary.edges) {
    const source = nodes.get(e.source);
    const target = nodes.get(e.target);
    if (!source || !target) continue;
    const slot = source.kind === 'op' ? Math.max(0, outputsOf.get(e.source)!.indexOf(e.tensor)) : 0;
    const sourcePort = `${e.source}/o${slot}`;
    const k = inputCount.get(e.target) ?? 0;
    inputCount.set(e.target, k + 1);
    const targetPort = `${e.target}/i${k}`;
    if (!source.ports.some((p) => p.id === sourcePort)) source.ports.push({ id: sourcePort, side: 'bottom' });
    target.ports.push({ id: targetPort, side: 'top' });
    edges.push({ id: e.id, source: e.source, target: e.target, sourcePort, targetPort });
    if (!labels.has(sourcePort))
      labels.set(sourcePort, withLabels ? formatShape(e.shape, maxLabelDimName) : undefined);
  }

  // Pills sit just before their first consumer and just after their producer in the order.
  for (const e of edges) {
    if (nodes.get(e.source)!.kind === 'input') {
      const p = priority.get(e.target);
      if (p !== undefined) priority.set(e.source, Math.min(priority.get(e.source) ?? Infinity, p - 0.5));
    }
    if (nodes.get(e.target)!.kind === 'output') {
      const p = priority.get(e.source);
      if (p !== undefined) priority.set(e.target, p + 0.5);
    }
  }
  for (const id of nodes.keys()) if (!priority.has(id)) priority.set(id, summary.nodes.length);
  return planBands({ nodes: [...nodes.values()], edges, labels, priority, folded: [...folded] }, options);
}

/** A graph ready to be cut into bands: sized nodes with ports, edges between ports, and an order. */
export interface PlanInput {
  nodes: PlannedNode[];
  edges: PlannedEdge[];
  /** The shape label of each source port (its first edge carries it), or undefined for none. */
  labels: ReadonlyMap<string, string | undefined>;
  /** Where each node would like to be in the order (the model's node order); lower comes first. */
  priority: ReadonlyMap<string, number>;
  folded: string[];
}

/**
 * Orders the nodes topologically (close to their priorities) and cuts that order into bands, each
 * an ELK graph. Entry stubs go first and exit stubs last, in layers of their own.
 */
export function planBands(input: PlanInput, options: PlanOptions = {}): LayoutPlan {
  const measure = options.measureText ?? estimateTextWidth;
  const drawn = input.nodes.filter((n) => n.kind !== 'entry' && n.kind !== 'exit').length;
  const effort =
    options.effort === 'high' || options.effort === 'low'
      ? options.effort
      : drawn > largeGraphNodes
        ? 'low'
        : 'high';
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const fanouts = new Map<string, Fanout>();
  for (const e of input.edges) {
    let f = fanouts.get(e.sourcePort);
    if (!f)
      fanouts.set(
        e.sourcePort,
        (f = {
          port: e.sourcePort,
          source: e.source,
          band: 0,
          lastBand: 0,
          label: input.labels.get(e.sourcePort),
          edges: [],
        }),
      );
    f.edges.push(e.id);
  }
  const order = topologicalOrder(input.priority, input.edges);

  const bandSize = Math.max(2, options.bandSize ?? defaultBandSize);
  const bandCount = Math.max(1, Math.ceil(order.length / bandSize));
  const perBand = Math.ceil(order.length / bandCount);
  const bandOf: Record<string, number> = {};
  order.forEach((id, i) => (bandOf[id] = Math.floor(i / perBand)));
  const edgeById = new Map(input.edges.map((e) => [e.id, e]));
  for (const f of fanouts.values()) {
    f.band = bandOf[f.source];
    f.lastBand = Math.max(f.band, ...f.edges.map((id) => bandOf[edgeById.get(id)!.target]));
  }

  const members: string[][] = Array.from({ length: bandCount }, () => []);
  for (const id of order) members[bandOf[id]].push(id);
  const bandGraphs = members.map((ids, band) =>
    bandGraph(band, ids, nodes, [...fanouts.values()], edgeById, bandOf, effort, measure),
  );
  return {
    nodes: input.nodes,
    folded: input.folded,
    edges: input.edges,
    fanouts: [...fanouts.values()],
    bandOf,
    bandGraphs,
  };
}

/** For each consumer of a folded Constant node, the input slots the constant feeds (for its badges). */
export function foldedConstantInputs(
  summary: GraphSummary,
  folded: ReadonlySet<string>,
): Map<string, ConstantInput[]> {
  const constantsOf = new Map<string, ConstantInput[]>();
  if (folded.size === 0) return constantsOf;
  const opById = new Map(summary.nodes.map((n) => [n.id, n]));
  for (const e of summary.edges) {
    if (!folded.has(e.source)) continue;
    const consumer = opById.get(e.target);
    if (!consumer) continue;
    const list = constantsOf.get(e.target) ?? [];
    for (
      let slot = consumer.inputs.indexOf(e.tensor);
      slot >= 0;
      slot = consumer.inputs.indexOf(e.tensor, slot + 1)
    )
      list.push({ slot, shape: e.shape, dtype: e.dtype });
    constantsOf.set(e.target, list);
  }
  return constantsOf;
}

/**
 * Constant-category nodes that depend on nothing in the graph (no incoming edges: their inputs, if
 * any, are initializers) and feed only operators, not graph outputs.
 */
export function foldableConstants(summary: GraphSummary): Set<string> {
  const ops = new Set(summary.nodes.map((n) => n.id));
  const fed = new Set<string>();
  const feedsOutput = new Set<string>();
  const feedsSomething = new Set<string>();
  for (const e of summary.edges) {
    fed.add(e.target);
    feedsSomething.add(e.source);
    if (!ops.has(e.target)) feedsOutput.add(e.source);
  }
  const ids = new Set<string>();
  for (const n of summary.nodes)
    if (
      n.category === 'constant' &&
      n.subgraphs === 0 &&
      !fed.has(n.id) &&
      feedsSomething.has(n.id) &&
      !feedsOutput.has(n.id)
    )
      ids.add(n.id);
  return ids;
}

function bandGraph(
  band: number,
  members: readonly string[],
  nodes: ReadonlyMap<string, PlannedNode>,
  fanouts: readonly Fanout[],
  edgeById: ReadonlyMap<string, PlannedEdge>,
  bandOf: Readonly<Record<string, number>>,
  effort: 'high' | 'low',
  measure: TextMeasure,
): ElkNode {
  const children: ElkNode[] = members.map((id) => {
    const n = nodes.get(id)!;
    const fixed = n.ports.some((p) => p.x !== undefined);
    const layoutOptions: ElkLayoutOptions = { 'elk.portConstraints': fixed ? 'FIXED_POS' : 'FIXED_SIDE' };
    if (n.kind === 'entry') layoutOptions['elk.layered.layering.layerConstraint'] = 'FIRST_SEPARATE';
    if (n.kind === 'exit') layoutOptions['elk.layered.layering.layerConstraint'] = 'LAST_SEPARATE';
    return {
      id,
      width: n.width,
      height: n.height,
      ports: n.ports.map((p): ElkPort => ({
        id: p.id,
        width: 0,
        height: 0,
        ...(p.x === undefined ? {} : { x: p.x, y: p.side === 'top' ? 0 : n.height }),
        layoutOptions: { 'elk.port.side': p.side === 'top' ? 'NORTH' : 'SOUTH' },
      })),
      layoutOptions,
    };
  });
  const stub = (id: string, layer: 'FIRST_SEPARATE' | 'LAST_SEPARATE'): ElkNode => ({
    id,
    width: 1,
    height: 1,
    layoutOptions: { 'elk.layered.layering.layerConstraint': layer },
  });
  const elkEdges: ElkExtendedEdge[] = [];
  for (const f of fanouts) {
    if (band < f.band || band > f.lastBand) continue;
    const origin = band === f.band ? f.port : bandIds.entryStub(f.port, band);
    if (band > f.band) children.push(stub(origin, 'FIRST_SEPARATE'));
    const out: ElkExtendedEdge[] = [];
    for (const id of f.edges) {
      const e = edgeById.get(id)!;
      if (bandOf[e.target] === band) out.push({ id, sources: [origin], targets: [e.targetPort] });
    }
    if (band < f.lastBand) {
      const exit = bandIds.exitStub(f.port, band);
      children.push(stub(exit, 'LAST_SEPARATE'));
      const id = band === f.band ? bandIds.exitEdge(f.port, band) : bandIds.passEdge(f.port, band);
      out.push({ id, sources: [origin], targets: [exit] });
    }
    // The tensor's shape labels the first edge out of its port, just below the producer.
    if (band === f.band && f.label !== undefined && out.length > 0)
      out[0].labels = [
        {
          id: bandIds.label(f.port),
          text: f.label,
          ...edgeLabelSize(f.label, measure),
          layoutOptions: { 'elk.edgeLabels.placement': 'TAIL' },
        },
      ];
    elkEdges.push(...out);
  }
  return {
    id: `band${band}`,
    layoutOptions: { ...baseOptions, ...effortOptions[effort] },
    children,
    edges: elkEdges,
  };
}
