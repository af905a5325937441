import { makeStep, stepsOf, type PipelineStep } from './pipelineSteps';
import type { Recipe } from '../pipeline/recipe';
import type { SliceCreator } from './types';

/** Undo steps kept. */
const historyLimit = 100;
/** Edits of the same parameter closer together than this are one undo step (a slider drag). */
const coalesceMs = 800;

/** The pipeline being edited, with undo/redo of every edit. */
export interface PipelineSlice {
  steps: PipelineStep[];
  /** Earlier pipelines, most recent last. */
  past: PipelineStep[][];
  /** Undone pipelines, next redo last. */
  future: PipelineStep[][];
  /** The card whose parameter form is open. */
  expandedStep: string | null;
  /** A layer picker waiting for a click in the graph: that node's name is added to the parameter. */
  picking: { key: string; param: string } | null;
  addStage(stageId: string, at?: number): void;
  moveStep(from: number, to: number): void;
  removeStep(index: number): void;
  duplicateStep(index: number): void;
  toggleStep(index: number): void;
  setParam(index: number, name: string, value: unknown): void;
  resetParams(index: number): void;
  /** Replace the whole pipeline (an imported recipe); undoable. */
  loadRecipe(recipe: Recipe): void;
  /** Set the pipeline without an undo step (session restore, defaults). */
  initSteps(steps: PipelineStep[]): void;
  undo(): void;
  redo(): void;
  setExpandedStep(key: string | null): void;
  /** Open a card's form, or close it when it is the open one. */
  toggleExpandedStep(key: string): void;
  startPicking(key: string, param: string): void;
  stopPicking(): void;
  /** Add a node name to the parameter being picked (no-op when not picking). */
  pickNode(name: string): void;
}

let lastEdit: { field: string; at: number } | null = null;

export const createPipelineSlice: SliceCreator<PipelineSlice> = (set, get) => {
  /** Apply an edit, remembering the previous pipeline for undo. */
  const edit = (next: PipelineStep[], field?: string) => {
    const now = Date.now();
    const coalesce = field !== undefined && lastEdit?.field === field && now - lastEdit.at < coalesceMs;
    lastEdit = field !== undefined ? { field, at: now } : null;
    const { steps, past } = get();
    set({
      steps: next,
      past: coalesce ? past : [...past, steps].slice(-historyLimit),
      future: [],
    });
  };

  return {
    steps: [],
    past: [],
    future: [],
    expandedStep: null,
    picking: null,

    addStage: (stageId, at) => {
      const steps = [...get().steps];
      const step = makeStep(stageId);
      steps.splice(at === undefined ? steps.length : Math.max(0, Math.min(at, steps.length)), 0, step);
      edit(steps);
      set({ expandedStep: step.key });
    },

    moveStep: (from, to) => {
      const steps = [...get().steps];
      if (from < 0 || from >= steps.length || to < 0 || to >= steps.length || from === to) return;
      const [moved] = steps.splice(from, 1);
      steps.splice(Math.max(0, Math.min(to, steps.length)), 0, moved);
      edit(steps);
    },

    removeStep: (index) => {
      const steps = get().steps.filter((_, i) => i !== index);
      edit(steps);
      const removed = get().past.at(-1)?.[index];
      if (removed && get().picking?.key === removed.key) set({ picking: null });
    },

    duplicateStep: (index) => {
      const steps = [...get().steps];
      const original = steps[index];
      if (!original) return;
      const copy = makeStep(original.stage, structuredClone(original.params), original.enabled);
      steps.splice(index + 1, 0, copy);
      edit(steps);
    },

    toggleStep: (index) => {
      edit(get().steps.map((s, i) => (i === index ? { ...s, enabled: !s.enabled } : s)));
    },

    setParam: (index, name, value) => {
      const steps = get().steps;
      const step = steps[index];
      if (!step) return;
      const params = { ...step.params };
      if (value === undefined) delete params[name];
      else params[name] = value;
      edit(
        steps.map((s, i) => (i === index ? { ...s, params } : s)),
        `${step.key}.${name}`,
      );
    },

    resetParams: (index) => {
      const step = get().steps[index];
      if (!step) return;
      const fresh = makeStep(step.stage);
      edit(get().steps.map((s, i) => (i === index ? { ...s, params: fresh.params } : s)));
    },

    loadRecipe: (recipe) => {
      edit(stepsOf(recipe));
      set({ expandedStep: null, picking: null });
    },

    initSteps: (steps) => set({ steps, past: [], future: [], expandedStep: null, picking: null }),

    undo: () => {
      const { past, future, steps } = get();
      const previous = past.at(-1);
      if (!previous) return;
      lastEdit = null;
      set({ steps: previous, past: past.slice(0, -1), future: [...future, steps], picking: null });
    },

    redo: () => {
      const { past, future, steps } = get();
      const next = future.at(-1);
      if (!next) return;
      lastEdit = null;
      set({ steps: next, future: future.slice(0, -1), past: [...past, steps], picking: null });
    },

    setExpandedStep: (key) => set({ expandedStep: key }),
    toggleExpandedStep: (key) => set({ expandedStep: get().expandedStep === key ? null : key }),
    startPicking: (key, param) => set({ picking: { key, param } }),
    stopPicking: () => set({ picking: null }),

    pickNode: (name) => {
      const picking = get().picking;
      if (!picking) return;
      const index = get().steps.findIndex((s) => s.key === picking.key);
      const step = get().steps[index];
      if (!step) return;
      const current = step.params[picking.param];
      const list = Array.isArray(current) ? current.filter((v): v is string => typeof v === 'string') : [];
      if (!list.includes(name)) get().setParam(index, picking.param, [...list, name]);
    },
  };
};
