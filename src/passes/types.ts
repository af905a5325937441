import type { z } from 'zod';
import type { Model } from '../onnx/ir';
import type { Runtime } from '../runtime/types';
import type { Dataset } from '../data/dataset';
import type { TrainingBackend } from '../train/backend';
import type { TrainingCheckpoint, TrainingControl, TrainingProgress } from '../train/trainer';

export type StageCategory = 'simplify' | 'quantize' | 'prune' | 'compress' | 'train';

/** How far a stage may move the model's outputs from its input's (tests and warnings use it). */
export interface Tolerance {
  /** Minimum top-1 agreement with the stage's input model (0–1). */
  top1Agreement?: number;
  /** Maximum absolute difference of any output element. */
  maxAbsError?: number;
  /** Minimum signal-to-quantization-noise ratio in dB. */
  sqnrDb?: number;
}

export interface StageContext {
  runtime: Runtime;
  /** Calibration / evaluation samples, when the user brought data. */
  data?: Dataset;
  progress(done: number, total: number, note?: string): void;
  signal: AbortSignal;
  /** Live training: curves, pause/stop and checkpoints (the studio and the CLI provide it). */
  training?: TrainingHost;
  /** Files the user added for stages to read by name (e.g. the student .onnx of `distill`). */
  files?: ReadonlyMap<string, Uint8Array>;
}

/**
 * What a training stage reports to and takes from its host. One stage may train several times
 * (e.g. gradual pruning fine-tunes after each step); `phase` names each run.
 */
export interface TrainingHost {
  /** Progress after each batch, with the history of finished epochs. */
  onProgress?(phase: string, progress: TrainingProgress): void;
  control?: TrainingControl;
  /** Checkpoints by phase, kept across page reloads, so a rerun resumes from the last epoch. */
  checkpoints?: CheckpointStore;
  backend?: TrainingBackend;
}

/** Where checkpoints live (IndexedDB in the studio). Keys are unique per stage input, parameters and data. */
export interface CheckpointStore {
  load(phase: string): Promise<TrainingCheckpoint | undefined>;
  save(phase: string, checkpoint: TrainingCheckpoint): Promise<void>;
  /** Forget the checkpoints once the stage finished. */
  clear(): Promise<void>;
}

/** What a stage did to one node, for the graph overlay and the report. */
export interface NodeChange {
  node: string;
  kind: 'removed' | 'added' | 'changed' | 'fused' | 'quantized' | 'pruned';
  detail?: string;
}

export interface StageOutput {
  model: Model;
  /** One-line facts for the user ("removed 3 Identity nodes"). */
  notes: string[];
  changes: NodeChange[];
}

/**
 * One optimization stage. Adding a stage means one file exporting a StageDefinition and one line in
 * registry.ts; the palette, the parameter form, recipe validation and the CLI read it from there.
 */
export interface StageDefinition<S extends z.ZodObject = z.ZodObject> {
  /** Recipe id, e.g. 'fold-batchnorm' (CONTRACT.md). */
  id: string;
  title: string;
  /** One line for the palette. */
  description: string;
  category: StageCategory;
  /** Parameters: defaults, ranges (sliders), enums (selects), descriptions (tooltips), validation. */
  params: S;
  needs?: { calibration?: boolean; labels?: boolean };
  tolerance?: Tolerance;
  /** The stage may train (e.g. pruning with fine-tuning) although its category is not 'train'. */
  trains?: boolean;
  run(model: Model, params: z.output<S>, ctx: StageContext): Promise<StageOutput>;
}

/** A stage whose parameter type is erased, as the registry and the runner hold them. */
export type AnyStage = StageDefinition<z.ZodObject>;

/** Define a stage with its parameter types inferred from the schema. */
export function defineStage<S extends z.ZodObject>(stage: StageDefinition<S>): AnyStage {
  return stage as unknown as AnyStage;
}
