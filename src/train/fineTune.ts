import * as tf from '@tensorflow/tfjs';
import type { Model } from '../onnx/ir';
import { useTrainingBackend, type TrainingBackend } from './backend';
import { TrainableGraph, unsupportedOperators } from './graph';
import { requireTail, tailTrainingData } from './tail';
import type { Runtime } from '../runtime/types';
import {
  logitsTensor,
  trainGraph,
  type TrainConfig,
  type TrainingData,
  type TrainingOptions,
  type TrainingResult,
} from './trainer';

/** Weight tensors with this share of exact zeros are treated as pruned: their zeros stay zero. */
const PRUNED_SHARE = 0.05;

/** 0/1 masks of the weights whose zeros are a pruning pattern to keep. */
export function pruningMasks(graph: TrainableGraph): Map<tf.Variable, tf.Tensor> {
  const masks = new Map<tf.Variable, tf.Tensor>();
  for (const v of graph.variables.values()) {
    if (v.rank < 2) continue;
    const values = v.dataSync();
    let zeros = 0;
    for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
    if (zeros >= PRUNED_SHARE * values.length)
      masks.set(
        v,
        tf.tidy(() => tf.notEqual(v, 0).toFloat()),
      );
  }
  return masks;
}

export interface FineTuneOptions extends Omit<TrainingOptions, 'logits' | 'afterStep'> {
  backend?: TrainingBackend;
  /** onnxruntime, to compute the frozen head's output when only the tail of the model can train. */
  runtime?: Runtime;
}

export interface FineTuneResult {
  model: Model;
  training: TrainingResult;
  /** Weight tensors whose zeros were held fixed. */
  maskedTensors: number;
  parameters: number;
  /** Set when unsupported operators limited training to the tail after this tensor. */
  tail?: { boundary: string; nodes: number };
}

/**
 * Train a copy of the model's weights on labelled data and return the model with the trained
 * weights written back. Pruned weights (tensors with many exact zeros) keep their zeros.
 */
export async function fineTuneModel(
  model: Model,
  data: TrainingData,
  config: TrainConfig,
  options: FineTuneOptions = {},
): Promise<FineTuneResult> {
  await useTrainingBackend(options.backend);
  if (unsupportedOperators(model.graph).length) {
    const tail = requireTail(model);
    if (!options.runtime)
      throw new Error('Training only the tail of this model needs onnxruntime for its head.');
    const tailData = await tailTrainingData(options.runtime, model, tail, data, options.signal);
    // The head's output is computed once, so image augmentation cannot apply.
    const tailConfig = { ...config, augment: { shift: 0, flip: false, noise: 0 } };
    const r = await fineTuneModel(tail.model, tailData, tailConfig, { ...options, runtime: undefined });
    return {
      ...r,
      model: withWeightsOf(model, r.model),
      tail: { boundary: tail.boundary, nodes: tail.nodes },
    };
  }
  const graph = TrainableGraph.build(model);
  const masks = pruningMasks(graph);
  try {
    const training = await trainGraph(graph, data, config, {
      ...options,
      logits: logitsTensor(graph, model),
      // + 0 turns the −0 of negative weights times a zero mask into +0 (clean zero bytes in the file).
      afterStep: () => tf.tidy(() => masks.forEach((m, v) => v.assign(tf.add(tf.mul(v, m), 0)))),
    });
    return {
      model: graph.writeBack(),
      training,
      maskedTensors: masks.size,
      parameters: graph.parameterCount,
    };
  } finally {
    tf.dispose([...masks.values()]);
    graph.dispose();
  }
}

/** The full model with the initializers of a trained part (same names) copied in. */
function withWeightsOf(full: Model, part: Model): Model {
  const out = full.clone();
  for (const [name, t] of part.graph.initializers) {
    const producer = out.graph.producer(name);
    if (producer?.opType === 'Constant') out.graph.removeNode(producer);
    else if (!out.graph.initializers.has(name)) continue;
    out.graph.addInitializer(t);
  }
  return out;
}
