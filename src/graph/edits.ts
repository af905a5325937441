import { z } from 'zod';
import { attr, makeAttr, valueInfo, type AttrValue } from '../onnx/builder';
import { AttrType, type Dim, type Graph, type Model, type Node } from '../onnx/ir';
import type { TensorShapeProto_Dimension, ValueInfoProto } from '../onnx/proto/onnx_pb';
import { inferShapes, type ValueFacts } from '../onnx/shapes';
import { checkModel, ModelValidationError } from '../onnx/validate';
import type { NodeChange } from '../passes/types';

const nodeRef = z.string().min(1).describe('Node name (or first output name for an unnamed node)');

/** One graph edit, as a recipe stores it. */
export const graphEditSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('set-input-dims'),
    input: z.string().min(1),
    /** One entry per dim: a size, a symbolic name, or null for unknown. */
    dims: z.array(z.union([z.number().int().positive(), z.string().min(1), z.null()])),
  }),
  z.object({ kind: z.literal('rename-tensor'), from: z.string().min(1), to: z.string().min(1) }),
  z.object({ kind: z.literal('rename-node'), node: nodeRef, to: z.string().min(1) }),
  z.object({
    kind: z.literal('set-attribute'),
    node: nodeRef,
    name: z.string().min(1),
    value: z.union([z.number(), z.string(), z.array(z.number()), z.array(z.string())]),
    /** The attribute type; by default the existing attribute's, else inferred from the value. */
    type: z.enum(['int', 'float', 'string', 'ints', 'floats', 'strings']).optional(),
  }),
  z.object({ kind: z.literal('bypass-node'), node: nodeRef, input: z.number().int().min(0).default(0) }),
  z.object({
    kind: z.literal('delete-node'),
    node: nodeRef,
    /** A tensor of the same shape and type that readers of the node's output read instead. */
    replacement: z.string().min(1).optional(),
  }),
  z.object({ kind: z.literal('cut-graph'), outputs: z.array(z.string().min(1)).min(1) }),
]);

export type GraphEdit = z.output<typeof graphEditSchema>;

/** An edit that cannot be applied; the message names the edit and the node or tensor. */
export class GraphEditError extends Error {
  override name = 'GraphEditError';
  constructor(
    readonly edit: GraphEdit,
    readonly index: number,
    reason: string,
  ) {
    super(`Edit ${index + 1} (${describeEdit(edit)}) refused: ${reason}`);
  }
}

/** A short description of an edit for messages and notes. */
export function describeEdit(edit: GraphEdit): string {
  switch (edit.kind) {
    case 'set-input-dims':
      return `set input "${edit.input}" dims to [${edit.dims.map((d) => d ?? '?').join(', ')}]`;
    case 'rename-tensor':
      return `rename tensor "${edit.from}" to "${edit.to}"`;
    case 'rename-node':
      return `rename node "${edit.node}" to "${edit.to}"`;
    case 'set-attribute':
      return `set attribute ${edit.name} of node "${edit.node}"`;
    case 'bypass-node':
      return `bypass node "${edit.node}"`;
    case 'delete-node':
      return `delete node "${edit.node}"`;
    case 'cut-graph':
      return `cut graph at ${edit.outputs.map((o) => `"${o}"`).join(', ')}`;
  }
}

/** How edits and change records name a node: its name, or its first output when unnamed. */
export function editNodeKey(node: Node): string {
  return node.name || node.outputs[0] || node.opType;
}

class Refusal extends Error {}

function findNode(graph: Graph, ref: string): Node {
  const node =
    graph.nodes.find((n) => editNodeKey(n) === ref) ?? graph.nodes.find((n) => n.outputs[0] === ref);
  if (!node) throw new Refusal(`there is no node "${ref}" in the main graph`);
  return node;
}

const shapeText = (s: Dim[] | undefined) => (s ? `[${s.map((d) => d ?? '?').join(', ')}]` : 'unknown');
const sameShape = (a: ValueFacts | undefined, b: ValueFacts | undefined) =>
  !!a?.shape &&
  !!b?.shape &&
  a.shape.length === b.shape.length &&
  a.shape.every((d, i) => d !== undefined && d === b.shape![i]);

function readersText(graph: Graph, tensor: string): string {
  const readers = graph.consumers(tensor).map((n) => `"${editNodeKey(n)}"`);
  const parts = [];
  if (readers.length)
    parts.push(
      `read by ${readers.length} node(s) (${readers.slice(0, 3).join(', ')}${readers.length > 3 ? ', …' : ''})`,
    );
  if (graph.isGraphOutput(tensor)) parts.push('a graph output');
  return parts.join(' and ');
}

function isUsed(graph: Graph, tensor: string): boolean {
  return tensor !== '' && (graph.consumers(tensor).length > 0 || graph.isGraphOutput(tensor));
}

function removeDead(graph: Graph, cause: string, changes: NodeChange[]): void {
  const before = new Set(graph.nodes);
  graph.removeDeadCode();
  for (const n of before)
    if (!graph.nodes.includes(n))
      changes.push({ node: editNodeKey(n), kind: 'removed', detail: `dead after ${cause}` });
}

function setDim(dim: TensorShapeProto_Dimension, value: number | string | null): void {
  dim.value =
    typeof value === 'number'
      ? { case: 'dimValue', value: BigInt(value) }
      : typeof value === 'string'
        ? { case: 'dimParam', value }
        : { case: undefined };
}

function dimsOf(v: ValueInfoProto): TensorShapeProto_Dimension[] | undefined {
  return v.type?.value.case === 'tensorType' ? v.type.value.value.shape?.dim : undefined;
}

function setInputDims(model: Model, edit: Extract<GraphEdit, { kind: 'set-input-dims' }>): void {
  const graph = model.graph;
  const input = graph.feedInputs().find((v) => v.name === edit.input);
  if (!input) throw new Refusal(`"${edit.input}" is not a graph input`);
  const dims = dimsOf(input);
  if (!dims) throw new Refusal(`input "${edit.input}" has no declared shape`);
  if (dims.length !== edit.dims.length)
    throw new Refusal(`input "${edit.input}" has ${dims.length} dims, the edit gives ${edit.dims.length}`);
  const everywhere = [...graph.inputs, ...graph.outputs, ...graph.valueInfo];
  edit.dims.forEach((value, i) => {
    const old = dims[i].value;
    // A symbolic dim means the same size wherever it appears: fixing or renaming it does so everywhere.
    if (old.case === 'dimParam' && value !== old.value) {
      const symbol = old.value;
      for (const v of everywhere)
        for (const d of dimsOf(v) ?? [])
          if (d.value.case === 'dimParam' && d.value.value === symbol) setDim(d, value);
    } else setDim(dims[i], value);
  });
  graph.invalidate();
}

function renameTensor(graph: Graph, from: string, to: string, changes: NodeChange[]): void {
  const known = graph.defines(from) || graph.isGraphOutput(from);
  if (!known) throw new Refusal(`there is no tensor "${from}" in the main graph`);
  if (from === to) return;
  if (graph.defines(to) || graph.isGraphOutput(to) || graph.valueInfo.some((v) => v.name === to))
    throw new Refusal(`the name "${to}" is already used by another tensor`);
  const producer = graph.producer(from);
  const readers = [...graph.consumers(from)];
  graph.replaceUses(from, to, { graphOutputs: true });
  if (producer) producer.setOutput(producer.outputs.indexOf(from), to);
  for (const v of [...graph.inputs, ...graph.valueInfo]) if (v.name === from) v.name = to;
  const t = graph.initializers.get(from);
  if (t) {
    t.name = to;
    graph.initializers = new Map([...graph.initializers].map(([k, v]) => [k === from ? to : k, v]));
  }
  graph.invalidate();
  for (const n of producer ? [producer, ...readers] : readers)
    changes.push({ node: editNodeKey(n), kind: 'changed', detail: `tensor "${from}" renamed "${to}"` });
}

function attributeValue(
  edit: Extract<GraphEdit, { kind: 'set-attribute' }>,
  existing: AttrType | undefined,
): AttrValue {
  const byExisting: Partial<Record<AttrType, NonNullable<typeof edit.type>>> = {
    [AttrType.INT]: 'int',
    [AttrType.FLOAT]: 'float',
    [AttrType.STRING]: 'string',
    [AttrType.INTS]: 'ints',
    [AttrType.FLOATS]: 'floats',
    [AttrType.STRINGS]: 'strings',
  };
  const type = edit.type ?? (existing !== undefined ? byExisting[existing] : undefined);
  if (existing !== undefined && type === undefined)
    throw new Refusal(`attribute ${edit.name} holds a tensor or graph, which cannot be edited as a value`);
  const v = edit.value;
  const wrong = () =>
    new Refusal(`attribute ${edit.name} is of type ${type}, the value ${JSON.stringify(v)} is not`);
  switch (type) {
    case undefined:
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) throw wrong();
      return attr.int(v);
    case 'float':
      if (typeof v !== 'number') throw wrong();
      return attr.float(v);
    case 'string':
      if (typeof v !== 'string') throw wrong();
      return attr.string(v);
    case 'ints':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) throw wrong();
      return attr.ints(v as number[]);
    case 'floats':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw wrong();
      return attr.floats(v as number[]);
    case 'strings':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw wrong();
      return attr.strings(v as string[]);
  }
}

function applyOne(model: Model, edit: GraphEdit, changes: NodeChange[]): void {
  const graph = model.graph;
  const facts = () => inferShapes(graph, { opset: model.opsetVersion('') });
  switch (edit.kind) {
    case 'set-input-dims':
      return setInputDims(model, edit);
    case 'rename-tensor':
      return renameTensor(graph, edit.from, edit.to, changes);
    case 'rename-node': {
      const node = findNode(graph, edit.node);
      if (graph.nodes.some((n) => n !== node && n.name === edit.to))
        throw new Refusal(`another node is already named "${edit.to}"`);
      node.proto.name = edit.to;
      changes.push({ node: edit.to, kind: 'changed', detail: `renamed from "${edit.node}"` });
      return;
    }
    case 'set-attribute': {
      const node = findNode(graph, edit.node);
      node.setAttribute(makeAttr(edit.name, attributeValue(edit, node.attribute(edit.name)?.type)));
      changes.push({ node: editNodeKey(node), kind: 'changed', detail: `attribute ${edit.name} set` });
      return;
    }
    case 'bypass-node': {
      const node = findNode(graph, edit.node);
      const input = node.inputs[edit.input];
      if (!input) throw new Refusal(`node "${edit.node}" has no input ${edit.input}`);
      const extra = node.outputs.slice(1).find((o) => isUsed(graph, o));
      if (extra)
        throw new Refusal(
          `its output "${extra}" is ${readersText(graph, extra)}; only single-output pass-through nodes can be bypassed`,
        );
      const f = facts();
      const a = f.get(input);
      const b = f.get(node.outputs[0]);
      if (a?.shape && b?.shape && !sameShape(a, b))
        throw new Refusal(
          `its input "${input}" has shape ${shapeText(a.shape)} but its output "${node.outputs[0]}" has ${shapeText(b.shape)}`,
        );
      if (a?.elemType !== undefined && b?.elemType !== undefined && a.elemType !== b.elemType)
        throw new Refusal(
          `its input "${input}" and output "${node.outputs[0]}" have different element types`,
        );
      if (!graph.bypassNode(node, edit.input))
        throw new Refusal(
          `its output "${node.outputs[0]}" is a graph output and its input "${input}" is also read elsewhere or is a graph input`,
        );
      changes.push({ node: editNodeKey(node), kind: 'removed', detail: 'bypassed' });
      removeDead(graph, `bypassing "${edit.node}"`, changes);
      return;
    }
    case 'delete-node': {
      const node = findNode(graph, edit.node);
      const used = node.outputs.filter((o) => isUsed(graph, o));
      if (used.length > 0 && edit.replacement === undefined)
        throw new Refusal(
          `its output "${used[0]}" is ${readersText(graph, used[0])}; give a replacement tensor of the same shape`,
        );
      if (used.length > 1)
        throw new Refusal(
          `${used.length} of its outputs are used (${used.map((o) => `"${o}"`).join(', ')}); one replacement cannot stand for them`,
        );
      if (used.length === 1 && edit.replacement !== undefined) {
        const replacement = edit.replacement;
        if (!graph.sees(replacement) || node.outputs.includes(replacement))
          throw new Refusal(
            `the replacement "${replacement}" is not a tensor of the graph other than the node's outputs`,
          );
        const f = facts();
        const a = f.get(used[0]);
        const b = f.get(replacement);
        if (!sameShape(a, b))
          throw new Refusal(
            `the replacement "${replacement}" has shape ${shapeText(b?.shape)}, the output "${used[0]}" has ${shapeText(a?.shape)}`,
          );
        if (a?.elemType !== b?.elemType)
          throw new Refusal(
            `the replacement "${replacement}" and the output "${used[0]}" have different element types`,
          );
        graph.removeNode(node);
        graph.replaceUses(used[0], replacement, { graphOutputs: true });
      } else graph.removeNode(node);
      changes.push({ node: editNodeKey(node), kind: 'removed', detail: 'deleted' });
      removeDead(graph, `deleting "${edit.node}"`, changes);
      return;
    }
    case 'cut-graph': {
      const f = facts();
      const outputs = edit.outputs.map((name) => {
        if (!graph.defines(name) || graph.isInitializer(name))
          throw new Refusal(`there is no computed tensor "${name}" in the main graph`);
        const known = f.get(name);
        if (known?.elemType === undefined) throw new Refusal(`the element type of "${name}" is not known`);
        return graph.outputs.find((o) => o.name === name) ?? valueInfo(name, known.elemType, known.shape);
      });
      graph.outputs = outputs;
      graph.invalidate();
      removeDead(graph, 'cutting the graph', changes);
      return;
    }
  }
}

/**
 * Apply edits in order to `model` (changed in place). Each edit is checked after it is applied
 * (structure with checkModel, shapes re-inferred); the first that cannot be applied or leaves an
 * invalid model throws a {@link GraphEditError}.
 */
export function applyEdits(
  model: Model,
  edits: readonly GraphEdit[],
): { changes: NodeChange[]; notes: string[] } {
  const changes: NodeChange[] = [];
  const notes: string[] = [];
  edits.forEach((edit, i) => {
    const nodesBefore = model.graph.nodes.length;
    try {
      applyOne(model, edit, changes);
      checkModel(model);
      inferShapes(model.graph, { opset: model.opsetVersion('') });
    } catch (e) {
      if (e instanceof Refusal || e instanceof ModelValidationError)
        throw new GraphEditError(edit, i, e.message);
      throw new GraphEditError(edit, i, e instanceof Error ? e.message : String(e));
    }
    const gone = nodesBefore - model.graph.nodes.length;
    notes.push(`${describeEdit(edit)}${gone > 0 ? ` (${gone} node${gone === 1 ? '' : 's'} removed)` : ''}`);
  });
  return { changes, notes };
}
