import * as tf from '@tensorflow/tfjs';
import type { Model } from '../onnx/ir';
import { useTrainingBackend, type TrainingBackend } from './backend';
import { TrainableGraph } from './graph';
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
}

export interface FineTuneResult {
  model: Model;
  training: TrainingResult;
  /** Weight tensors whose zeros were held fixed. */
  maskedTensors: number;
  parameters: number;
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
