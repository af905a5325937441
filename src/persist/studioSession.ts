import { useStudio } from '../store';
import { defaultPipeline } from '../store/pipelineSteps';
import type { StudioState } from '../store/types';
import { loadDataset, loadModel, loadSession, saveSession, type SavedSession } from './session';

/** Saves wait this long after the last change (a slider drag is one save). */
const saveDelayMs = 250;

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function readSaved() {
  try {
    const [model, dataset, session] = await Promise.all([loadModel(), loadDataset(), loadSession()]);
    return { model, dataset, session: session?.version === 1 ? session : undefined };
  } catch {
    // No IndexedDB (private mode, blocked storage): start fresh.
    return { model: undefined, dataset: undefined, session: undefined };
  }
}

function sessionOf(s: StudioState): SavedSession {
  // A run in progress has no results to restore yet.
  const running = s.pipelineState === 'running';
  return {
    version: 1,
    steps: s.steps,
    results: running ? [] : s.results,
    resultsMeta: running ? null : s.resultsMeta,
    selectedResult: s.selectedResult,
    history: s.history,
    backend: s.backend,
  };
}

const savedParts = (s: StudioState) =>
  [s.steps, s.results, s.resultsMeta, s.selectedResult, s.history, s.backend] as const;

/** Save the session whenever its parts change (debounced); the header shows the save state. */
function autosave(): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let previous = savedParts(useStudio.getState());
  // A save that finishes after a newer change must not report "saved".
  let generation = 0;
  useStudio.subscribe((state) => {
    const parts = savedParts(state);
    if (parts.every((p, i) => p === previous[i])) return;
    previous = parts;
    const mine = ++generation;
    if (state.saveState !== 'pending') state.setSaveState('pending');
    clearTimeout(timer);
    timer = setTimeout(() => {
      saveSession(sessionOf(useStudio.getState())).then(
        () => {
          if (mine === generation) useStudio.getState().setSaveState('saved');
        },
        (e: unknown) => {
          useStudio.getState().setSaveState('error');
          console.warn(`The session could not be saved: ${errorMessage(e)}`);
        },
      );
    }, saveDelayMs);
  });
}

let started = false;

/**
 * Start the studio: restore the saved session (model, dataset, pipeline, results, history) or, on a
 * first visit, open the bundled sample with its dataset and the default pipeline; then keep saving.
 */
export async function startStudio(): Promise<void> {
  if (started) return;
  started = true;
  const studio = useStudio.getState();
  void studio.loadCapabilities();
  const saved = await readSaved();

  studio.initSteps(saved.session?.steps ?? defaultPipeline());
  if (saved.session?.backend === 'wasm' || saved.session?.backend === 'webgpu')
    studio.setBackend(saved.session.backend);

  if (saved.model?.source === 'files') await studio.openSaved(saved.model.files);
  if (saved.model?.source !== 'files' || useStudio.getState().status !== 'ready') await studio.openSample();

  const dataset = saved.dataset;
  if (dataset?.source === 'files') await studio.restoreSavedDataset(dataset.manifest);
  else if (dataset?.source === 'sample') await studio.loadSampleDataset(dataset.manifest, { quiet: true });
  else if (!dataset && useStudio.getState().modelSource === 'sample')
    await studio.loadSampleDataset(null, { quiet: true });

  const session = saved.session;
  // The selection is not restored: the stage models it would show are gone with the last visit.
  if (session && session.results.length)
    useStudio.getState().restoreResults(session.results, session.resultsMeta, session.history, null);
  else if (session) useStudio.getState().restoreResults([], null, session.history, null);

  useStudio.getState().setSaveState('saved');
  autosave();
}
