import type { StateCreator } from 'zustand';
import type { DatasetSlice } from './datasetSlice';
import type { ModelSlice } from './modelSlice';
import type { PipelineRunSlice } from './pipelineRunSlice';
import type { PipelineSlice } from './pipelineSlice';
import type { RunSlice } from './runSlice';
import type { TrainingSlice } from './trainingSlice';
import type { UiSlice } from './uiSlice';

/** The whole studio state: one zustand store made of slices. */
export type StudioState = ModelSlice &
  RunSlice &
  UiSlice &
  PipelineSlice &
  DatasetSlice &
  PipelineRunSlice &
  TrainingSlice;

/** A slice creator that can read and write the whole store. */
export type SliceCreator<T> = StateCreator<StudioState, [], [], T>;
