import { toBinary } from '@bufbuild/protobuf';
import type { Graph, Node } from '../onnx/ir';
import { AttributeProtoSchema, type TensorProto } from '../onnx/proto/onnx_pb';
import type { GraphSummary, NodeSummary } from '../onnx/summary';
import { tensorBytes, type ExternalFiles } from '../onnx/tensor';
import type { NodeChange } from '../passes/types';

/** How nodes are matched across two graphs and in stage change records: name, else first output, else op type. */
export function overlayKey(node: Pick<Node | NodeSummary, 'name' | 'outputs' | 'opType'>): string {
  return node.name || node.outputs[0] || node.opType;
}

/** A node present in both graphs whose content differs, with what differs. */
export interface ChangedNode {
  node: string;
  /** 'op type', 'inputs', 'outputs', 'attributes', or `weight <name>` per changed weight. */
  reasons: string[];
}

/** Which nodes differ between two graphs (matched by {@link overlayKey}). */
export interface GraphDiff {
  removed: string[];
  added: string[];
  changed: ChangedNode[];
  unchanged: number;
}

/** FNV-1a over bytes: cheap, and enough to tell whether a weight's content changed. */
function hashBytes(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16);
}

function weightFingerprint(t: TensorProto, external?: ExternalFiles): string {
  let content: string;
  try {
    content = hashBytes(tensorBytes(t, external));
  } catch {
    // External data that was not provided: compare what the file itself says.
    content = `external:${t.externalData.map((e) => `${e.key}=${e.value}`).join(',')}`;
  }
  return `${t.dataType}:${t.dims.join('x')}:${content}`;
}

function attributesFingerprint(node: Node): string {
  return [...node.proto.attribute]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((a) => `${a.name}=${hashBytes(toBinary(AttributeProtoSchema, a))}`)
    .join(';');
}

/**
 * Compare two versions of a graph node by node: by key (removed, added) and by content (op type,
 * inputs, outputs, attributes, and the bytes of the weights each node reads).
 */
export function diffGraphs(
  before: Graph,
  after: Graph,
  external: { before?: ExternalFiles; after?: ExternalFiles } = {},
): GraphDiff {
  const index = (g: Graph) => {
    const m = new Map<string, Node>();
    for (const n of g.nodes) if (!m.has(overlayKey(n))) m.set(overlayKey(n), n);
    return m;
  };
  const a = index(before);
  const b = index(after);
  const hashes = new Map<TensorProto, string>();
  const weight = (t: TensorProto, files?: ExternalFiles) => {
    let h = hashes.get(t);
    if (h === undefined) hashes.set(t, (h = weightFingerprint(t, files)));
    return h;
  };
  const diff: GraphDiff = { removed: [], added: [], changed: [], unchanged: 0 };
  for (const [key, x] of a) {
    const y = b.get(key);
    if (!y) {
      diff.removed.push(key);
      continue;
    }
    const reasons: string[] = [];
    if (x.opType !== y.opType || x.domain !== y.domain) reasons.push('op type');
    if (x.inputs.join('\n') !== y.inputs.join('\n')) reasons.push('inputs');
    if (x.outputs.join('\n') !== y.outputs.join('\n')) reasons.push('outputs');
    if (attributesFingerprint(x) !== attributesFingerprint(y)) reasons.push('attributes');
    y.inputs.forEach((name, slot) => {
      const tb = after.initializers.get(name);
      const ta = before.initializers.get(x.inputs[slot] ?? '');
      if (!tb && !ta) return;
      if (!tb || !ta || weight(ta, external.before) !== weight(tb, external.after))
        reasons.push(`weight ${name}`);
    });
    if (reasons.length) diff.changed.push({ node: key, reasons });
    else diff.unchanged++;
  }
  for (const key of b.keys()) if (!a.has(key)) diff.added.push(key);
  return diff;
}

export type OverlayKind = NodeChange['kind'];

/** What the graph view shows on one node after a stage. */
export interface NodeOverlay {
  node: string;
  kind: OverlayKind;
  /** Bit width of a quantized node's weights or activations, when the stage said. */
  bits?: number;
  /** Percentage of a pruned node's weights (or channels) that are zero / gone. */
  sparsity?: number;
  /** The stage's own words and the content differences found. */
  details: string[];
}

/** Bit width named in a change detail: `int8`, `uint8`, `int4`, `fp16`, `(4-bit indices)`. */
export function detailBits(detail: string | undefined): number | undefined {
  if (!detail) return undefined;
  const m = /(\d+)-bit/.exec(detail) ?? /\b(?:u?int|fp|float|bfloat)(\d+)\b/i.exec(detail);
  return m ? Number(m[1]) : undefined;
}

/** Sparsity named in a change detail: `87.5%`, or `3 of 8 channels removed` (37.5). */
export function detailSparsity(detail: string | undefined): number | undefined {
  if (!detail) return undefined;
  const pct = /(\d+(?:\.\d+)?)\s*%/.exec(detail);
  if (pct) return Number(pct[1]);
  const of = /(\d+) of (\d+)/.exec(detail);
  return of && Number(of[2]) > 0 ? (100 * Number(of[1])) / Number(of[2]) : undefined;
}

// When a node is named by several records, the most specific one wins.
const precedence: OverlayKind[] = ['quantized', 'pruned', 'fused', 'removed', 'added', 'changed'];

/**
 * The per-node overlay of one stage: its change records combined with the differences between its
 * input and output graphs (a node the stage changed without saying so shows as `changed`).
 */
export function stageOverlay(
  diff: GraphDiff | undefined,
  changes: readonly NodeChange[],
): Map<string, NodeOverlay> {
  const overlay = new Map<string, NodeOverlay>();
  const note = (node: string, kind: OverlayKind, detail?: string) => {
    let o = overlay.get(node);
    if (!o) overlay.set(node, (o = { node, kind, details: [] }));
    else if (precedence.indexOf(kind) < precedence.indexOf(o.kind)) o.kind = kind;
    if (detail && !o.details.includes(detail)) o.details.push(detail);
    if (kind === 'quantized') o.bits ??= detailBits(detail);
    if (kind === 'pruned') o.sparsity ??= detailSparsity(detail);
  };
  for (const c of changes) note(c.node, c.kind, c.detail);
  if (diff) {
    for (const k of diff.removed) note(k, 'removed');
    for (const k of diff.added) note(k, 'added');
    for (const c of diff.changed) note(c.node, 'changed', c.reasons.join(', '));
  }
  return overlay;
}

/** The overlay keyed by the summary's node ids, for drawing badges on one graph (before or after). */
export function overlayByNodeId(
  summary: GraphSummary,
  overlay: ReadonlyMap<string, NodeOverlay>,
): Map<string, NodeOverlay> {
  const byId = new Map<string, NodeOverlay>();
  for (const n of summary.nodes) {
    const o = overlay.get(overlayKey(n));
    if (o) byId.set(n.id, o);
  }
  return byId;
}

/** The marks of a comparison of two versions of a graph, keyed by each graph's node ids. */
export interface CompareOverlays {
  /** On the earlier graph: nodes that are gone, and nodes that changed. */
  before: Map<string, NodeOverlay>;
  /** On the later graph: nodes that are new, and nodes that changed. */
  after: Map<string, NodeOverlay>;
}

/**
 * What to mark on each of two graphs shown in turn (before/after): their differences, with the
 * words of the stages that ran between them when their change records are given (quantized with bit
 * width, pruned with sparsity, fused). A node is `removed` only when the later graph lacks it and
 * `added` only when the earlier graph lacks it; a record saying otherwise marks it `changed`.
 */
export function compareOverlays(
  before: GraphSummary,
  after: GraphSummary,
  diff: GraphDiff,
  changes: readonly NodeChange[] = [],
): CompareOverlays {
  const merged = stageOverlay(diff, changes);
  const beforeKeys = new Set(before.nodes.map((n) => overlayKey(n)));
  const afterKeys = new Set(after.nodes.map((n) => overlayKey(n)));
  const side = (summary: GraphSummary, gone: OverlayKind, onlyHere: (key: string) => boolean) => {
    const byId = overlayByNodeId(summary, merged);
    for (const [id, o] of byId)
      if (o.kind === gone || ((o.kind === 'removed' || o.kind === 'added') && !onlyHere(o.node)))
        byId.set(id, { ...o, kind: 'changed' });
    return byId;
  };
  return {
    before: side(before, 'added', (key) => !afterKeys.has(key)),
    after: side(after, 'removed', (key) => !beforeKeys.has(key)),
  };
}
