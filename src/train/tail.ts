import { valueInfo } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import type { Model, Node } from '../onnx/ir';
import type { Runtime } from '../runtime/types';
import { translatable, unsupportedOperators, UnsupportedOperatorsError } from './graph';
import type { SampleSet, TrainingData } from './trainer';

/**
 * When a model holds operators the engine cannot train, the part after them may still train: the
 * nodes that no unsupported node depends on, fed by one tensor the frozen head computes (e.g. a
 * classifier head after an exotic backbone). onnxruntime computes that tensor once per sample.
 */
export interface TrainableTail {
  /** The tensor between the frozen head and the trainable tail. */
  boundary: string;
  /** The tail as a model of its own: `boundary` is its input. */
  model: Model;
  /** Nodes of the tail (in the full model). */
  nodes: number;
}

/** The trainable tail of a model with unsupported operators, or undefined when there is none. */
export function trainableTail(model: Model): TrainableTail | undefined {
  const graph = model.graph;
  const unsupported = new Set(graph.nodes.filter((n) => !translatable(n)));
  if (!unsupported.size) return undefined;
  // The head: unsupported nodes and everything they depend on.
  const head = new Set<Node>();
  const stack = [...unsupported];
  while (stack.length) {
    const n = stack.pop()!;
    if (head.has(n)) continue;
    head.add(n);
    for (const r of n.reads()) {
      const p = graph.producer(r);
      if (p && !head.has(p)) stack.push(p);
    }
  }
  const tail = graph.nodes.filter((n) => !head.has(n) && n.opType !== 'Constant');
  if (!tail.length) return undefined;
  const produced = new Set(tail.flatMap((n) => n.outputs));
  const feeds = new Set<string>();
  for (const n of tail)
    for (const r of n.reads()) {
      if (!r || produced.has(r) || graph.initializers.has(r)) continue;
      const p = graph.producer(r);
      if (p?.opType === 'Constant' && !head.has(p)) continue;
      feeds.add(r);
    }
  // The tail must reach every graph output and be fed by exactly one computed float tensor.
  if (feeds.size !== 1 || !graph.outputs.every((o) => produced.has(o.name))) return undefined;
  const boundary = [...feeds][0]!;
  if (graph.isGraphInput(boundary)) return undefined;
  const tailModel = model.clone();
  const g = tailModel.graph;
  const keep = new Set(tail.map((n) => n.name || n.outputs[0]));
  const keepConstants = new Set(
    graph.nodes.filter((n) => n.opType === 'Constant' && !head.has(n)).map((n) => n.outputs[0]),
  );
  g.nodes = g.nodes.filter((n) => keep.has(n.name || n.outputs[0]) || keepConstants.has(n.outputs[0]));
  g.inputs = [valueInfo(boundary, DataType.FLOAT)];
  g.invalidate();
  g.removeDeadCode();
  return { boundary, model: tailModel, nodes: tail.length };
}

/** Run the full model once per sample and keep the boundary tensor: the tail's training inputs. */
export async function captureBoundary(
  runtime: Runtime,
  model: Model,
  boundary: string,
  input: string,
  sampleShape: number[],
  set: SampleSet,
  signal?: AbortSignal,
): Promise<{ set: SampleSet; shape: number[] }> {
  const probe = model.clone();
  probe.graph.outputs = [valueInfo(boundary, DataType.FLOAT)];
  const session = await runtime.createSession(probe.encode(), { externalData: model.external });
  const size = sampleShape.reduce((p, d) => p * d, 1);
  let out: Float32Array | undefined;
  let shape: number[] = [];
  try {
    for (let i = 0; i < set.count; i++) {
      signal?.throwIfAborted();
      const r = await session.run({
        [input]: { type: 'float32', dims: sampleShape, data: set.x.subarray(i * size, (i + 1) * size) },
      });
      const t = r[boundary]!;
      const data = t.data as Float32Array;
      if (!out) {
        out = new Float32Array(set.count * data.length);
        shape = [...t.dims];
      }
      out.set(data, i * data.length);
    }
  } finally {
    await session.release();
  }
  return { set: { ...set, x: out ?? new Float32Array(0) }, shape };
}

/** Training data for the tail: the boundary tensor of every sample, computed by the frozen head. */
export async function tailTrainingData(
  runtime: Runtime,
  model: Model,
  tail: TrainableTail,
  data: TrainingData,
  signal?: AbortSignal,
): Promise<TrainingData> {
  const train = await captureBoundary(
    runtime,
    model,
    tail.boundary,
    data.input,
    data.sampleShape,
    data.train,
    signal,
  );
  const validation = data.validation
    ? await captureBoundary(
        runtime,
        model,
        tail.boundary,
        data.input,
        data.sampleShape,
        data.validation,
        signal,
      )
    : undefined;
  return { input: tail.boundary, sampleShape: train.shape, train: train.set, validation: validation?.set };
}

/** The tail (or an error listing the unsupported operators when no tail can train). */
export function requireTail(model: Model): TrainableTail {
  const tail = trainableTail(model);
  if (!tail) {
    const e = new UnsupportedOperatorsError(unsupportedOperators(model.graph));
    e.message += ' No single tensor separates them from a trainable tail, so nothing can be trained.';
    throw e;
  }
  return tail;
}
