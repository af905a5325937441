import type { TrainingHost } from '../passes/types';
import type { TrainingBackend } from '../train/backend';
import type { TrainingProgress } from '../train/trainer';
import { observeEpochs, type CheckpointStoreFactory } from '../persist/checkpoints';

/**
 * Live training of one stage (`index`) and one of its training runs (`phase`): sent after batches
 * (at most {@link trainingEventIntervalMs} apart, the last batch of every epoch always) and after
 * every finished epoch (then `history` holds that epoch with its validation figures).
 */
export interface TrainingEvent {
  type: 'training';
  runId: string;
  index: number;
  phase: string;
  progress: TrainingProgress;
}

/** Training events per second at most (~4), per stage and phase. */
export const trainingEventIntervalMs = 250;

/**
 * The training side of one pipeline run: hands each training stage a {@link TrainingHost} whose
 * progress becomes throttled events, whose control answers pause / resume / stop-and-keep-best, and
 * whose checkpoints go to the store (keyed by stage key and phase) so that a rerun resumes.
 */
export class RunTraining {
  private paused = false;
  private stop = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly runId: string,
    private readonly signal: AbortSignal,
    private readonly emit: (event: TrainingEvent) => void,
    private readonly checkpoints?: CheckpointStoreFactory,
    private readonly backend?: TrainingBackend,
  ) {
    signal.addEventListener('abort', () => this.release(), { once: true });
  }

  /**
   * The host the runner gives the training stage `index`. Each stage starts unpaused and without a
   * stop request (one asked for after the previous stage's last batch must not hold up this one).
   */
  host(stageKey: string, index: number): TrainingHost {
    this.stop = false;
    this.resume();
    const last = new Map<string, { at: number; progress: TrainingProgress }>();
    const send = (phase: string, progress: TrainingProgress) =>
      this.emit({ type: 'training', runId: this.runId, index, phase, progress });
    return {
      ...(this.backend ? { backend: this.backend } : {}),
      control: {
        waitWhilePaused: () => this.whilePaused(),
        stopRequested: () => this.stop,
      },
      onProgress: (phase, p) => {
        const now = performance.now();
        const previous = last.get(phase);
        const progress = { ...p, history: [...p.history] };
        const due = !previous || now - previous.at >= trainingEventIntervalMs || p.batch === p.batches;
        last.set(phase, { at: due ? now : previous.at, progress });
        if (due) send(phase, progress);
      },
      checkpoints: observeEpochs(this.checkpoints?.(stageKey), (phase, checkpoint) => {
        const record = checkpoint.history[checkpoint.history.length - 1];
        const before = last.get(phase)?.progress;
        if (!record || !before) return;
        send(phase, {
          ...before,
          epoch: checkpoint.epoch,
          batch: before.batches,
          loss: record.loss,
          history: [...checkpoint.history],
        });
      }),
    };
  }

  /** Pause before the next batch. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.release();
  }

  /** Stop the stage training now after its current batch, keeping its best epoch. */
  requestStop(): void {
    this.stop = true;
    this.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  private whilePaused(): Promise<void> {
    if (!this.paused || this.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(): void {
    const waiting = this.waiters;
    this.waiters = [];
    waiting.forEach((w) => w());
  }
}
