import { create } from 'zustand';
import { createDatasetSlice } from './datasetSlice';
import { createModelSlice } from './modelSlice';
import { createPipelineRunSlice } from './pipelineRunSlice';
import { createPipelineSlice } from './pipelineSlice';
import { createRunSlice } from './runSlice';
import { createTrainingSlice } from './trainingSlice';
import { createUiSlice } from './uiSlice';
import type { StudioState } from './types';

export type { StudioState } from './types';

/** The studio's store: model, run, ui, pipeline, dataset, pipeline-run and training slices. */
export const useStudio = create<StudioState>()((...a) => ({
  ...createModelSlice(...a),
  ...createRunSlice(...a),
  ...createUiSlice(...a),
  ...createPipelineSlice(...a),
  ...createDatasetSlice(...a),
  ...createPipelineRunSlice(...a),
  ...createTrainingSlice(...a),
}));
