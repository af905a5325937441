import { defineStage } from './types';
import {
  describeTraining,
  hostedTraining,
  labelledTrainingData,
  trainConfig,
  trainingParams,
} from './trainParams';

/**
 * `fine-tune`: train the model on the labelled training split (TensorFlow.js, in the worker or in
 * Node). Pruned weights keep their zeros, so it recovers accuracy after pruning without losing
 * sparsity; the best epoch on the calibration split is kept.
 */
export const fineTune = defineStage({
  id: 'fine-tune',
  title: 'Fine-tune',
  description:
    'Train the model on the training split to win back accuracy lost to pruning or clustering; pruned weights stay zero.',
  category: 'train',
  params: trainingParams,
  needs: { labels: true },
  async run(model, params, ctx) {
    const dataset = labelledTrainingData(ctx, 'Fine-tuning');
    const [{ fineTuneModel }, { trainingData }] = await Promise.all([
      import('../train/fineTune'),
      import('../train/data'),
    ]);
    const hosted = await hostedTraining(ctx, 'fine-tune');
    const r = await fineTuneModel(model, trainingData(dataset), trainConfig(params), {
      ...hosted,
      backend: ctx.training?.backend,
      runtime: ctx.runtime,
    });
    await ctx.training?.checkpoints?.clear();
    const notes = [
      `trained ${r.parameters.toLocaleString('en-US')} parameters on ${dataset.splits.train.length} samples` +
        (r.maskedTensors ? `; ${r.maskedTensors} pruned weight tensors kept their zeros` : ''),
      describeTraining('fine-tune', r.training, hosted.resumedAt),
    ];
    if (r.tail)
      notes.unshift(
        `only the last ${r.tail.nodes} nodes trained (after "${r.tail.boundary}"): the model's earlier operators are not trainable here, so that part stayed frozen`,
      );
    return { model: r.model, notes, changes: [] };
  },
});
