import type { TrainingProgress } from '../train/trainer';
import { controlTraining, type TrainingAction } from '../worker/pipelineClient';
import type { TrainingEvent } from '../worker/pipelineService';
import type { SliceCreator } from './types';

/** One point of the running loss: `x` in epochs (1.5 = half-way through epoch 2). */
export interface BatchLossPoint {
  x: number;
  loss: number;
}

/** What the training view shows of one training run (a stage, and a phase of it). */
export interface TrainingRunView {
  /** `${index}:${phase}`. */
  key: string;
  /** Result index of the stage (1 = the first step). */
  index: number;
  phase: string;
  progress: TrainingProgress;
  batchLoss: BatchLossPoint[];
}

/** Live training of the pipeline run on screen: curves, rate, and pause / resume / stop. */
export interface TrainingSlice {
  /** The pipeline run whose training is shown (null before the first run). */
  trainingRunId: string | null;
  /** Training runs in the order they started. */
  trainingRuns: TrainingRunView[];
  /** The run the user picked, or null for the latest. */
  trainingFocus: string | null;
  trainingPaused: boolean;
  /** Stop-and-keep-best was asked for the training in progress. */
  trainingStopping: boolean;
  /** A new pipeline run starts: forget the last one's training. */
  beginTraining(runId: string): void;
  /** A training event from the pipeline worker. */
  applyTrainingEvent(event: TrainingEvent): void;
  /** The pipeline run ended: nothing is paused any more. */
  endTraining(): void;
  focusTraining(key: string | null): void;
  pauseTraining(): Promise<void>;
  resumeTraining(): Promise<void>;
  stopTraining(): Promise<void>;
}

/** Running-loss points kept per training run (older ones are thinned out). */
const maxBatchPoints = 600;

function withPoint(points: BatchLossPoint[], point: BatchLossPoint): BatchLossPoint[] {
  if (!Number.isFinite(point.loss)) return points;
  const last = points[points.length - 1];
  if (last && Math.abs(last.x - point.x) < 1e-9) return [...points.slice(0, -1), point];
  const next = [...points, point];
  // Halve the older points' density rather than letting a long run grow without bound.
  return next.length > maxBatchPoints ? next.filter((_, i) => i % 2 === 1 || i === next.length - 1) : next;
}

export const createTrainingSlice: SliceCreator<TrainingSlice> = (set, get) => {
  const control = async (action: TrainingAction) => {
    const runId = get().trainingRunId;
    if (!runId) return false;
    return controlTraining(runId, action);
  };
  return {
    trainingRunId: null,
    trainingRuns: [],
    trainingFocus: null,
    trainingPaused: false,
    trainingStopping: false,

    beginTraining: (runId) =>
      set({
        trainingRunId: runId,
        trainingRuns: [],
        trainingFocus: null,
        trainingPaused: false,
        trainingStopping: false,
      }),

    applyTrainingEvent: (event) => {
      if (event.runId !== get().trainingRunId) return;
      const key = `${event.index}:${event.phase}`;
      const p = event.progress;
      const point = { x: p.epoch - 1 + p.batch / Math.max(1, p.batches), loss: p.loss };
      const runs = get().trainingRuns;
      const existing = runs.find((r) => r.key === key);
      const updated: TrainingRunView = existing
        ? { ...existing, progress: p, batchLoss: withPoint(existing.batchLoss, point) }
        : { key, index: event.index, phase: event.phase, progress: p, batchLoss: withPoint([], point) };
      // The worker starts each stage's training unpaused and without a stop request.
      const newStage = !runs.some((r) => r.index === event.index);
      set({
        trainingRuns: existing ? runs.map((r) => (r.key === key ? updated : r)) : [...runs, updated],
        ...(newStage ? { trainingStopping: false, trainingPaused: false } : {}),
      });
    },

    endTraining: () => set({ trainingPaused: false, trainingStopping: false }),

    focusTraining: (key) => set({ trainingFocus: key }),

    pauseTraining: async () => {
      if (await control('pause')) set({ trainingPaused: true });
    },

    resumeTraining: async () => {
      if (await control('resume')) set({ trainingPaused: false });
    },

    stopTraining: async () => {
      if (await control('stop')) set({ trainingStopping: true, trainingPaused: false });
    },
  };
};
