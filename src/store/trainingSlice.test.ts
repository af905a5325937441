import { beforeEach, describe, expect, it } from 'vitest';
import type { EpochRecord, TrainingProgress } from '../train/trainer';
import type { TrainingEvent } from '../worker/pipelineService';
import { useStudio } from './index';

const record = (epoch: number): EpochRecord => ({
  epoch,
  loss: 1 / epoch,
  validationAccuracy: 0.9,
  seconds: 1,
  samplesPerSecond: 50,
});

function event(
  index: number,
  phase: string,
  epoch: number,
  batch: number,
  loss: number,
  runId = 'run-1',
): TrainingEvent {
  const progress: TrainingProgress = {
    epoch,
    epochs: 3,
    batch,
    batches: 4,
    loss,
    samplesPerSecond: 50,
    secondsLeft: 10,
    history: Array.from({ length: epoch - 1 }, (_, k) => record(k + 1)),
  };
  return { type: 'training', runId, index, phase, progress };
}

beforeEach(() => useStudio.getState().beginTraining('run-1'));

describe('training slice', () => {
  it('keeps one curve per stage and phase, in epochs, and ignores other runs', () => {
    const s = useStudio.getState();
    s.applyTrainingEvent(event(2, 'fine-tune', 1, 1, 0.9));
    s.applyTrainingEvent(event(2, 'fine-tune', 1, 4, 0.5));
    s.applyTrainingEvent(event(2, 'fine-tune', 2, 2, 0.3));
    s.applyTrainingEvent(event(2, 'fine-tune', 2, 2, 0.25));
    s.applyTrainingEvent(event(2, 'fine-tune', 2, 3, 0.2, 'run-0'));
    s.applyTrainingEvent(event(4, 'quantize-aware', 1, 2, 0.7));
    const runs = useStudio.getState().trainingRuns;
    expect(runs.map((r) => r.key)).toEqual(['2:fine-tune', '4:quantize-aware']);
    // x = epochs done; a repeated point replaces the last one.
    expect(runs[0].batchLoss).toEqual([
      { x: 0.25, loss: 0.9 },
      { x: 1, loss: 0.5 },
      { x: 1.5, loss: 0.25 },
    ]);
    expect(runs[0].progress.history).toHaveLength(1);
    expect(runs[1].batchLoss).toEqual([{ x: 0.5, loss: 0.7 }]);
  });

  it('forgets the last run on a new one; a new stage clears pause and stop', () => {
    const s = useStudio.getState();
    s.applyTrainingEvent(event(1, 'fine-tune', 1, 1, 0.9));
    useStudio.setState({ trainingPaused: true, trainingStopping: true });
    s.applyTrainingEvent(event(1, 'fine-tune', 1, 2, 0.8));
    expect(useStudio.getState().trainingStopping).toBe(true);
    s.applyTrainingEvent(event(3, 'distill', 1, 1, 2));
    expect(useStudio.getState()).toMatchObject({ trainingStopping: false, trainingPaused: false });
    s.beginTraining('run-2');
    expect(useStudio.getState().trainingRuns).toEqual([]);
    s.applyTrainingEvent(event(1, 'fine-tune', 1, 1, 0.9));
    expect(useStudio.getState().trainingRuns).toEqual([]);
  });

  it('thins a long running-loss curve instead of growing without bound', () => {
    const s = useStudio.getState();
    for (let epoch = 1; epoch <= 3; epoch++)
      for (let batch = 1; batch <= 400; batch++) {
        const e = event(1, 'fine-tune', epoch, batch, 1);
        e.progress.batches = 400;
        s.applyTrainingEvent(e);
      }
    const points = useStudio.getState().trainingRuns[0].batchLoss;
    expect(points.length).toBeLessThanOrEqual(600);
    expect(points[points.length - 1].x).toBe(3);
    // Still ordered in x.
    expect(points.every((p, i) => i === 0 || p.x > points[i - 1].x)).toBe(true);
  });
});
