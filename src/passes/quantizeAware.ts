import { z } from 'zod';
import { inferShapes } from '../onnx/shapes';
import type { Model } from '../onnx/ir';
import type { QatSpec } from '../train/qat';
import type { TensorRange } from './calibration';
import { calibrateActivations } from './calibration';
import { activationGrid, assertFloatModel } from './qdq';
import {
  applyStatic,
  calibrationSource,
  nothingToQuantize,
  planStatic,
  prepareStatic,
  quantizeStaticParams,
  staticNotes,
  type PreparedModel,
  type StaticPlan,
} from './quantizeStatic';
import {
  describeTraining,
  hostedTraining,
  labelledTrainingData,
  trainConfig,
  trainingParamShape,
} from './trainParams';
import { defineStage } from './types';

const STAGE = 'quantize-aware';

/**
 * quantize-static's options (what gets quantized, how ranges are calibrated) plus how the ranges
 * behave during training and the shared training parameters, with defaults for fine-tuning an
 * already trained model: few epochs, a small learning rate.
 */
export const quantizeAwareParams = z.object({
  ...quantizeStaticParams.shape,
  ranges: z
    .enum(['calibrated', 'ema'])
    .default('calibrated')
    .describe(
      'Activation ranges during training: fixed at their calibrated values, or moved towards each batch’s min and max by a moving average (EMA). The model is exported with the ranges it trained with.',
    ),
  rangeMomentum: z
    .number()
    .min(0)
    .max(0.9999)
    .default(0.99)
    .describe('EMA ranges: the share of the old range kept at each step.'),
  ...trainingParamShape,
  epochs: trainingParamShape.epochs.default(3),
  learningRate: trainingParamShape.learningRate.default(1e-4),
});
export type QuantizeAwareParams = z.output<typeof quantizeAwareParams>;

/** The tensors, shared ranges and weights of a static plan, as QAT simulates them. */
export function qatSpec(
  plan: StaticPlan,
  ranges: ReadonlyMap<string, TensorRange>,
  params: QuantizeAwareParams,
  weightKey: (node: StaticPlan['nodes'][number]['node'], input: number) => string,
): QatSpec {
  const weights = new Map<string, { axis?: number; alpha: number }>();
  for (const p of plan.nodes)
    if (p.weight)
      weights.set(weightKey(p.node, p.weight.index), {
        axis: p.weight.axis,
        alpha: p.node.opType === 'Gemm' ? p.node.attrFloat('alpha', 1) : 1,
      });
  const roots = new Set(plan.tensors.values());
  return {
    activations: plan.tensors,
    ranges: new Map([...roots].map((r) => [r, ranges.get(r) ?? { min: 0, max: 0 }])),
    nonNegative: plan.nonNegative,
    grid: activationGrid(params.activationType),
    weights,
    rangeUpdate: params.ranges,
    momentum: params.rangeMomentum,
  };
}

/** The trained float model, prepared again for the QDQ rewrite (its opset and folded biases are already in place). */
function preparedAgain(model: Model, first: PreparedModel): PreparedModel {
  return {
    model,
    facts: inferShapes(model.graph, { opset: model.opsetVersion() }),
    notes: first.notes,
    changes: first.changes,
  };
}

/**
 * `quantize-aware`: quantization-aware training. Plans and calibrates exactly as quantize-static
 * does, fine-tunes with those weights (symmetric int8, per channel) and activations fake-quantized
 * (straight-through gradients), then writes the same QDQ model quantize-static would, from the
 * trained weights and the ranges they trained with.
 */
export const quantizeAware = defineStage({
  id: STAGE,
  title: 'Quantize (QAT int8)',
  description:
    'Quantization-aware training: fine-tune with int8 weights and activations simulated, then export the same QDQ int8 model as static quantization; recovers what post-training quantization loses.',
  category: 'quantize',
  trains: true,
  params: quantizeAwareParams,
  needs: { calibration: true, labels: true },
  tolerance: { top1Agreement: 0.95, sqnrDb: 20 },
  async run(model, params, ctx) {
    const dataset = labelledTrainingData(ctx, 'Quantization-aware training');
    assertFloatModel(model, STAGE);
    const prepared = prepareStatic(model, params);
    const plan = planStatic(prepared, params);
    if (plan.nodes.length === 0) throw new Error(nothingToQuantize(STAGE, params.ops, plan));
    const source = calibrationSource(prepared.model, dataset, params.calibrationSamples, STAGE);
    const calibrated = await calibrateActivations(
      prepared.model,
      [...plan.tensors.keys()],
      ctx.runtime,
      source,
      { method: params.method, percentile: params.percentile, signal: ctx.signal, progress: ctx.progress },
    );
    const [{ quantizationAwareTraining, weightKey }, { trainingData }] = await Promise.all([
      import('../train/qat'),
      import('../train/data'),
    ]);
    const spec = qatSpec(plan, calibrated, params, weightKey);
    const hosted = await hostedTraining(ctx, STAGE);
    const r = await quantizationAwareTraining(
      prepared.model,
      trainingData(dataset),
      trainConfig(params),
      spec,
      { ...hosted, backend: ctx.training?.backend },
    );
    await ctx.training?.checkpoints?.clear();
    const trained = preparedAgain(r.model, prepared);
    const exportPlan = planStatic(trained, params);
    const { changes, tally } = applyStatic(trained, exportPlan, r.ranges, params);
    const rangeNote =
      params.ranges === 'ema'
        ? `${spec.ranges.size} activation ranges moved by EMA (momentum ${params.rangeMomentum}) during training; exported as trained`
        : `${spec.ranges.size} activation ranges fixed at their calibrated values during training`;
    return {
      model: trained.model,
      notes: [
        ...staticNotes(exportPlan, tally, params, source.count),
        `trained ${r.parameters.toLocaleString('en-US')} parameters with fake-quantized weights and activations on ${dataset.splits.train.length} samples` +
          (r.maskedTensors ? `; ${r.maskedTensors} pruned weight tensors kept their zeros` : ''),
        rangeNote,
        describeTraining(STAGE, r.training, hosted.resumedAt),
        ...prepared.notes,
      ],
      changes: [...prepared.changes, ...changes],
    };
  },
});
