import type { Dim, Graph, Node } from './ir';
import { GraphCycleError } from './ir';
import type { TypeProto, ValueInfoProto } from './proto/onnx_pb';
import { elementCount } from './tensor';
import {
  keepsValue,
  type ConstValue,
  type InferContext,
  type OutputFacts,
  shapeRule,
  tensorValue,
} from './shapeOps';

export type { ConstValue } from './shapeOps';

/**
 * What is known about a value: element type and shape (either may be unknown). Shape arrays are
 * shared between values that have the same shape: treat them as read-only.
 */
export interface ValueFacts {
  elemType?: number;
  shape?: Dim[];
}

export interface ShapeOptions {
  /** The model's default-domain opset; a few rules depend on it (Dropout's mask type before opset 10). */
  opset?: number;
}

/** Facts about every value plus the small tensors whose values are known before run time. */
export interface ShapeAnalysis {
  facts: Map<string, ValueFacts>;
  /** Values of small constant tensors (Shape results, shape arithmetic, Constant nodes, small initializers). */
  constants: Map<string, ConstValue>;
}

function typeFacts(type: TypeProto | undefined): ValueFacts | undefined {
  if (type?.value.case !== 'tensorType') return undefined;
  const t = type.value.value;
  // Some exporters write -1 or an empty name for an unknown dim.
  const shape = t.shape?.dim.map((d): Dim =>
    d.value.case === 'dimValue'
      ? d.value.value >= 0n
        ? Number(d.value.value)
        : undefined
      : d.value.case === 'dimParam' && d.value.value !== ''
        ? d.value.value
        : undefined,
  );
  const elemType = t.elemType || undefined;
  if (shape === undefined && elemType === undefined) return undefined;
  return { elemType, shape };
}

/**
 * Combine declared facts with inferred ones. Declared facts win; an inferred dim only fills a
 * declared dim that is unknown, or refines a symbolic one with a number.
 */
function refine(declared: ValueFacts | undefined, inferred: ValueFacts | undefined): ValueFacts | undefined {
  if (!declared) return inferred;
  if (!inferred) return declared;
  const elemType = declared.elemType ?? inferred.elemType;
  let shape = declared.shape ?? inferred.shape;
  if (declared.shape && inferred.shape && declared.shape.length === inferred.shape.length) {
    const inf = inferred.shape;
    shape = declared.shape.map((d, i) =>
      typeof d === 'number' ? d : d === undefined || typeof inf[i] === 'number' ? (inf[i] ?? d) : d,
    );
  }
  return { elemType, shape };
}

function sameShape(a: readonly Dim[] | undefined, b: readonly Dim[]): boolean {
  return a !== undefined && a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Types, shapes and small constant values of every value of a graph: declared facts (inputs,
 * outputs, value_info, initializers) first, then inferred node by node in topological order.
 * Never throws: an operator it does not know, or inconsistent shapes, leave outputs unknown.
 */
export function analyzeShapes(graph: Graph, options: ShapeOptions = {}): ShapeAnalysis {
  const facts = new Map<string, ValueFacts>();
  const constants = new Map<string, ConstValue>();
  const declared = new Map<string, ValueFacts>();
  const declare = (v: ValueInfoProto) => {
    const f = typeFacts(v.type);
    if (f && !declared.has(v.name)) declared.set(v.name, f);
  };
  graph.inputs.forEach(declare);
  graph.outputs.forEach(declare);
  graph.valueInfo.forEach(declare);
  for (const [name, t] of graph.initializers)
    facts.set(name, refine(declared.get(name), { elemType: t.dataType, shape: t.dims.map(Number) })!);
  for (const [name, f] of declared) if (!facts.has(name)) facts.set(name, f);

  const valueOf = (name: string): ConstValue | undefined => {
    if (!name) return undefined;
    const known = constants.get(name);
    if (known) return known;
    const t = graph.initializers.get(name);
    if (!t || !keepsValue(t.dataType, elementCount(t.dims))) return undefined;
    const v = tensorValue(t);
    if (v) constants.set(name, v);
    return v;
  };

  let order: Node[];
  try {
    order = graph.topologicalOrder();
  } catch (e) {
    if (!(e instanceof GraphCycleError)) throw e;
    order = graph.nodes;
  }

  // One context for all nodes: rules read it synchronously and keep nothing.
  let inputs: readonly string[] = [];
  const ctx: InferContext = {
    node: order[0],
    opset: options.opset,
    has: (i) => i < inputs.length && inputs[i] !== '',
    shape: (i) => (inputs[i] ? facts.get(inputs[i])?.shape : undefined),
    elemType: (i) => (inputs[i] ? facts.get(inputs[i])?.elemType : undefined),
    value: (i) => (inputs[i] ? valueOf(inputs[i]) : undefined),
    numbers: (i) => {
      const v = inputs[i] ? valueOf(inputs[i]) : undefined;
      return v && v.values.every((x) => typeof x === 'number') ? (v.values as number[]) : undefined;
    },
  };
  for (const node of order) {
    ctx.node = node;
    inputs = node.inputs;
    const rule = shapeRule(node.opType, node.domain);
    let outs: (OutputFacts | undefined)[] = [];
    if (rule) {
      try {
        outs = rule(ctx);
      } catch {
        outs = [];
      }
    }
    node.outputs.forEach((name, i) => {
      if (!name) return;
      const inferred = outs[i];
      const clean: ValueFacts | undefined =
        inferred && (inferred.shape !== undefined || inferred.elemType !== undefined)
          ? inferred.value
            ? { elemType: inferred.elemType, shape: inferred.shape }
            : inferred
          : undefined;
      const f = refine(declared.get(name), clean);
      if (f) facts.set(name, f);
      const value = inferred?.value;
      // A value only counts when it agrees with the facts kept for the tensor.
      if (
        value &&
        keepsValue(value.elemType, value.values.length) &&
        (!f?.shape || sameShape(f.shape, value.dims))
      )
        constants.set(name, value);
    });
  }
  return { facts, constants };
}

/**
 * Types and shapes of every value in a graph: declared ones (inputs, outputs, value_info,
 * initializers) first, then inferred through the operators we understand, in topological order.
 */
export function inferShapes(graph: Graph, options: ShapeOptions = {}): Map<string, ValueFacts> {
  return analyzeShapes(graph, options).facts;
}
