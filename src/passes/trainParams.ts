import { z } from 'zod';
import type { TrainConfig, TrainingCheckpoint, TrainingOptions } from '../train/trainer';
import type { StageContext } from './types';

/**
 * Parameters every training stage shares (CONTRACT.md: epochs, batchSize, learningRate), with the
 * optimizer, schedule, regularisation and augmentation a user expects to tune.
 */
export const trainingParamShape = {
  epochs: z.number().int().min(1).max(200).default(5).describe('Passes over the training split.'),
  batchSize: z.number().int().min(1).max(1024).default(32).describe('Samples per optimizer step.'),
  learningRate: z
    .number()
    .min(1e-6)
    .max(1)
    .default(1e-3)
    .describe(
      'Initial learning rate (decays with the schedule; fine-tuning a trained model wants a small one).',
    ),
  schedule: z
    .enum(['cosine', 'step', 'constant'])
    .default('cosine')
    .describe('How the learning rate falls over the run: cosine decay, ×0.1 at 50 % and 75 %, or constant.'),
  optimizer: z.enum(['adam', 'sgd']).default('adam').describe('Adam, or SGD with momentum 0.9.'),
  weightDecay: z
    .number()
    .min(0)
    .max(0.1)
    .default(0)
    .describe('Decoupled weight decay (AdamW style) on weight matrices.'),
  shift: z
    .number()
    .int()
    .min(0)
    .max(8)
    .default(0)
    .describe('Augmentation: shift images randomly by up to this many pixels (0: off).'),
  flip: z
    .boolean()
    .default(false)
    .describe('Augmentation: random horizontal flips (not for digits or text).'),
  noise: z
    .number()
    .min(0)
    .max(1)
    .default(0)
    .describe('Augmentation: Gaussian noise with this standard deviation.'),
  patience: z
    .number()
    .int()
    .min(0)
    .max(50)
    .default(0)
    .describe(
      'Stop after this many epochs without a better validation score (0: run all epochs). The best epoch is kept either way.',
    ),
  batchNorm: z
    .enum(['train', 'frozen'])
    .default('frozen')
    .describe(
      'BatchNormalization: keep the running statistics fixed (best for fine-tuning on a small dataset), or normalise with batch statistics and update them (training from scratch).',
    ),
  seed: z.number().int().default(1).describe('Seed of the sample order and augmentation.'),
};

export const trainingParams = z.object(trainingParamShape);
export type TrainingParams = z.output<typeof trainingParams>;

export function trainConfig(p: TrainingParams): TrainConfig {
  return {
    epochs: p.epochs,
    batchSize: p.batchSize,
    learningRate: p.learningRate,
    schedule: p.schedule,
    optimizer: p.optimizer,
    momentum: 0.9,
    weightDecay: p.weightDecay,
    augment: { shift: p.shift, flip: p.flip, noise: p.noise },
    patience: p.patience,
    batchNorm: p.batchNorm,
    seed: p.seed,
  };
}

/** The dataset, checked to have the labelled training split a supervised stage needs. */
export function labelledTrainingData(ctx: StageContext, stage: string) {
  const data = ctx.data;
  if (!data)
    throw new Error(
      `${stage} needs a labelled dataset with a training split: open one in the dataset panel.`,
    );
  if (!data.hasLabels) throw new Error(`${stage} needs labels, and the dataset "${data.name}" has none.`);
  if (!data.splits.train.length)
    throw new Error(
      `${stage} needs a training split: the dataset "${data.name}" puts no samples in "train".`,
    );
  return data;
}

/**
 * Options wiring one training run (`phase`) to the stage's host: live progress, pause/stop, and
 * checkpoints (resume from the last saved epoch, save after each epoch).
 */
export async function hostedTraining(
  ctx: StageContext,
  phase: string,
): Promise<
  Pick<TrainingOptions, 'onProgress' | 'onEpoch' | 'control' | 'signal' | 'resumeFrom'> & {
    resumedAt?: number;
  }
> {
  const host = ctx.training;
  let resumeFrom: TrainingCheckpoint | undefined;
  try {
    resumeFrom = await host?.checkpoints?.load(phase);
  } catch {
    resumeFrom = undefined;
  }
  return {
    signal: ctx.signal,
    control: host?.control,
    resumeFrom,
    resumedAt: resumeFrom?.epoch,
    onProgress: (p) => {
      host?.onProgress?.(phase, p);
      ctx.progress(
        (p.epoch - 1) * p.batches + p.batch,
        p.epochs * p.batches,
        `${phase}: epoch ${p.epoch}/${p.epochs}`,
      );
    },
    onEpoch: async (c) => {
      try {
        await host?.checkpoints?.save(phase, c);
      } catch {
        // A full or unavailable store must not stop training; the run just cannot resume.
      }
    },
  };
}

/** One line per training run for the stage notes. */
export function describeTraining(
  phase: string,
  r: {
    history: { epoch: number; loss: number; validationAccuracy?: number }[];
    keptEpoch: number;
    stoppedEarly: boolean;
    stoppedByUser: boolean;
    backend: string;
  },
  resumedAt?: number,
): string {
  const last = r.history[r.history.length - 1];
  const kept = r.history.find((h) => h.epoch === r.keptEpoch);
  const acc = (x?: number) => (x === undefined ? '' : `, validation accuracy ${(x * 100).toFixed(1)} %`);
  return (
    `${phase}: ${r.history.length} epoch${r.history.length === 1 ? '' : 's'} on ${r.backend}` +
    (resumedAt ? ` (resumed after epoch ${resumedAt})` : '') +
    (r.stoppedByUser ? ', stopped by the user' : r.stoppedEarly ? ', stopped early' : '') +
    `; kept epoch ${r.keptEpoch}${acc(kept?.validationAccuracy)}` +
    (last ? `; final training loss ${last.loss.toFixed(4)}` : '')
  );
}
