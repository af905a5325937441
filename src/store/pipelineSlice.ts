import { makeStep, recipeOf, stepsOf, type PipelineStep } from './pipelineSteps';
import { graphEditSchema, type GraphEdit } from '../graph/edits';
import type { Recipe } from '../pipeline/recipe';
import { pipelineService } from '../worker/pipelineClient';
import type { EditCheckResult } from '../worker/pipelineService';
import { whenModelSynced } from './modelSync';
import type { SliceCreator } from './types';

/** The stage graph edits are recorded in. */
export const editStageId = 'edit-graph';

/** Where a graph edit was asked for, its refusal is shown: the inspector, or a stage card (by key). */
export type EditOrigin = 'inspector' | `step:${string}`;

/** Checks the edit-graph step at `stepIndex` of `recipe` (the pipeline worker in the studio). */
export type GraphEditChecker = (recipe: Recipe, stepIndex: number) => Promise<EditCheckResult>;

/** The edits a step holds (none when it is not an edit-graph step or its list is not valid). */
export function graphEditsOf(step: PipelineStep | undefined): GraphEdit[] {
  if (step?.stage !== editStageId || !Array.isArray(step.params.edits)) return [];
  const edits: GraphEdit[] = [];
  for (const e of step.params.edits) {
    const r = graphEditSchema.safeParse(e);
    if (!r.success) return [];
    edits.push(r.data);
  }
  return edits;
}

/**
 * The pipeline with `edit` recorded: appended to the step with key `target` when given (null when
 * it is gone or not an edit-graph step), else to the last step when that is an edit-graph step,
 * otherwise in a new edit-graph step at the end. `index` is the step that holds it.
 */
export function withGraphEdit(
  steps: readonly PipelineStep[],
  edit: GraphEdit,
  target?: string,
): { steps: PipelineStep[]; index: number } | null {
  const index = target === undefined ? steps.length - 1 : steps.findIndex((s) => s.key === target);
  const step = steps[index];
  if (target !== undefined && step?.stage !== editStageId) return null;
  if (step?.stage === editStageId) {
    const edits = Array.isArray(step.params.edits) ? step.params.edits : [];
    return {
      steps: steps.map((s, i) =>
        i === index ? { ...s, params: { ...s.params, edits: [...edits, edit] } } : s,
      ),
      index,
    };
  }
  return { steps: [...steps, makeStep(editStageId, { edits: [edit] })], index: steps.length };
}

/** The pipeline without edit `editIndex` of step `stepIndex`, or null when there is no such edit. */
export function withoutGraphEdit(
  steps: readonly PipelineStep[],
  stepIndex: number,
  editIndex: number,
): PipelineStep[] | null {
  const step = steps[stepIndex];
  if (step?.stage !== editStageId || !Array.isArray(step.params.edits)) return null;
  const edits = step.params.edits;
  if (editIndex < 0 || editIndex >= edits.length) return null;
  const next = edits.filter((_, i) => i !== editIndex);
  return steps.map((s, i) => (i === stepIndex ? { ...s, params: { ...s.params, edits: next } } : s));
}

let graphEditChecker: GraphEditChecker | null = null;

/** Replace how graph edits are checked (tests check them with a PipelineService in the same process). */
export function setGraphEditChecker(checker: GraphEditChecker | null): void {
  graphEditChecker = checker;
}

/** Graph edits are checked and committed one at a time, in the order they were asked for. */
let editQueue: Promise<unknown> = Promise.resolve();

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
  /** The last graph edit the edit-graph stage refused, shown where it was asked for; null when none. */
  editError: { message: string; origin: EditOrigin; basis?: string } | null;
  /** Graph edits waiting for their check. */
  editsPending: number;
  /** How the last recorded graph edit was checked (see EditCheckResult), or null. */
  editChecked: { basis: string; loaded: boolean; ms: number } | null;
  /**
   * Record a graph edit (see {@link withGraphEdit}) once the pipeline worker has checked it on the
   * model entering its step; undoable. A refused edit leaves the pipeline as it was and sets
   * `editError`. Resolves to whether the edit was recorded.
   */
  addGraphEdit(edit: GraphEdit, origin?: EditOrigin, target?: string): Promise<boolean>;
  /** Remove one edit of an edit-graph step (by key), once the remaining edits are checked; undoable. */
  removeGraphEdit(stepKey: string, editIndex: number): Promise<boolean>;
  dismissEditError(): void;
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

  const checker: GraphEditChecker = async (recipe, stepIndex) => {
    if (graphEditChecker) return graphEditChecker(recipe, stepIndex);
    await whenModelSynced();
    return pipelineService().checkEdits({ recipe, stepIndex, backend: get().backend });
  };

  /**
   * Check the pipeline `change` makes of the current one and commit it when the check passes. The
   * pipeline may change while the worker checks (undo, another card); the change is then made
   * again on the new pipeline and checked again.
   */
  const checkedEdit = (
    change: (steps: PipelineStep[]) => { steps: PipelineStep[]; index: number } | null,
    origin: EditOrigin,
  ): Promise<boolean> => {
    set({ editsPending: get().editsPending + 1 });
    const task = async () => {
      try {
        for (let attempt = 0; attempt < 3; attempt++) {
          const before = get().steps;
          const next = change(before);
          if (!next) return false;
          let answer: EditCheckResult;
          try {
            answer = await checker(recipeOf(next.steps), next.index);
          } catch (e) {
            answer = { ok: false, error: e instanceof Error ? e.message : String(e) };
          }
          if (get().steps !== before) continue;
          if (!answer.ok) {
            set({
              editError: { message: answer.error, origin, ...(answer.basis ? { basis: answer.basis } : {}) },
            });
            return false;
          }
          edit(next.steps);
          set({
            editError: null,
            editChecked: { basis: answer.basis, loaded: answer.loaded, ms: answer.ms },
          });
          return true;
        }
        set({
          editError: { message: 'The pipeline kept changing while the edit was checked; try again.', origin },
        });
        return false;
      } finally {
        set({ editsPending: get().editsPending - 1 });
      }
    };
    const result = editQueue.then(task, task);
    editQueue = result.catch(() => undefined);
    return result;
  };

  return {
    steps: [],
    past: [],
    future: [],
    expandedStep: null,
    picking: null,
    editError: null,
    editsPending: 0,
    editChecked: null,

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

    addGraphEdit: (graphEdit, origin = 'inspector', target) =>
      checkedEdit((steps) => withGraphEdit(steps, graphEdit, target), origin),

    removeGraphEdit: (stepKey, editIndex) =>
      checkedEdit((steps) => {
        const index = steps.findIndex((s) => s.key === stepKey);
        const next = withoutGraphEdit(steps, index, editIndex);
        return next && { steps: next, index };
      }, `step:${stepKey}`),

    dismissEditError: () => set({ editError: null }),
  };
};
