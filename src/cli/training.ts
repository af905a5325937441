import type { TrainingHost } from '../passes/types';
import type { EpochRecord } from '../train/trainer';
import { observeEpochs } from '../persist/checkpoints';
import type { CliIO } from './io';

/** One line per finished epoch: `  2 fine-tune: epoch 1/4 · loss 0.2315 · validation accuracy 95.2 % · 61 samples/s`. */
export function epochLine(index: number, phase: string, epochs: number, record: EpochRecord): string {
  const parts = [`epoch ${record.epoch}/${epochs}`, `loss ${record.loss.toFixed(4)}`];
  if (record.validationAccuracy !== undefined)
    parts.push(`validation accuracy ${(record.validationAccuracy * 100).toFixed(1)} %`);
  else if (record.validationLoss !== undefined)
    parts.push(`validation loss ${record.validationLoss.toFixed(4)}`);
  parts.push(`${Math.round(record.samplesPerSecond)} samples/s`);
  return `  ${index} ${phase}: ${parts.join(' · ')}`;
}

/**
 * The command line's training host: TensorFlow.js on its CPU backend, one progress line per epoch
 * on stderr (the trainer saves a checkpoint after every epoch; nothing is kept, so a rerun starts
 * over).
 */
export function cliTraining(io: CliIO, tty: boolean): (stageKey: string, index: number) => TrainingHost {
  return (_stageKey, index) => {
    const epochs = new Map<string, number>();
    return {
      backend: 'cpu',
      onProgress: (phase, p) => void epochs.set(phase, p.epochs),
      checkpoints: observeEpochs(undefined, (phase, checkpoint) => {
        const record = checkpoint.history[checkpoint.history.length - 1];
        if (!record) return;
        // On a terminal the stage's progress line is being redrawn in place: clear it first.
        io.stderr.write(
          `${tty ? '\r\x1b[2K' : ''}${epochLine(index, phase, epochs.get(phase) ?? checkpoint.epoch, record)}\n`,
        );
      }),
    };
  };
}

/** Quiet TensorFlow.js's advice to install tfjs-node (not an option here) before a recipe trains. */
export async function quietTensorFlow(): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  tf.env().set('PROD', true);
}
