import { transfer } from 'comlink';
import { loadDataset, type Dataset, type DatasetManifest, type ImageDecoder } from '../data/dataset';
import { Model } from '../onnx/ir';
import { summarizeGraph, summarizeModel, type GraphSummary, type ModelSummary } from '../onnx/summary';
import { profileOperators, type OpTime } from '../metrics/measure';
import { exportStageModel } from '../pipeline/provenance';
import { bundleWithExternalData } from '../pipeline/exportBundle';
import { canonicalJson, validateStep, type Recipe } from '../pipeline/recipe';
import { applyEdits, describeEdit, GraphEditError, type GraphEdit } from '../graph/edits';
import { PipelineCache, runPipeline, sha256Hex, type StageResult } from '../pipeline/runner';
import { whittleVersion } from '../report/version';
import { makeRunReportPdf } from '../report/pdf';
import { generateInputs } from '../runtime/inputs';
import {
  analyzeSensitivity,
  verifyExcludeWithinBudget,
  type SensitivityResult,
  type SensitivityStage,
} from '../passes/sensitivity';
import type { Runtime, RuntimeSession, SessionOptions } from '../runtime/types';
import type { CheckpointStoreFactory } from '../persist/checkpoints';
import type { TrainingBackend } from '../train/backend';
import { RunTraining, type TrainingEvent } from './trainingHost';
import {
  DatasetFileSet,
  datasetChoices,
  defaultSplit,
  manifestFor,
  previewSamples,
  type DatasetChoices,
  type DatasetFile,
  type SamplePreview,
} from './datasetFiles';

import {
  PruneLive,
  type PruneEstimateAnswer,
  type PruneEstimateRequest,
  type PruneSweepAnswer,
  type PruneSweepRequest,
} from './pruneLive';

export type { DatasetFile, SamplePreview } from './datasetFiles';
export type { TrainingEvent } from './trainingHost';
export type {
  PruneEstimateAnswer,
  PruneEstimateRequest,
  PruneSweepAnswer,
  PruneSweepRequest,
} from './pruneLive';

/** A model file handed to the service (the `.onnx` and any external-data files). */
export interface ModelFile {
  name: string;
  bytes: Uint8Array;
}

/** A stage result as the page receives it: everything but the model bytes, which stay in the worker. */
export type StageResultSummary = Omit<StageResult, 'modelBytes'>;

/** What the dataset panel shows about a loaded dataset. */
export interface DatasetInfo {
  /** The samples file or folder. */
  name: string;
  files: string[];
  bytes: number;
  count: number;
  /** Shape of one stored sample (before preprocessing). */
  sampleShape: number[];
  /** The model input it feeds, with the shape every sample is converted to. */
  input: { name: string; shape: number[] };
  hasLabels: boolean;
  /** Distinct labels seen. */
  classes: number;
  classNames?: string[];
  splits: { train: number; calibration: number; evaluation: number };
  preview: SamplePreview[];
  /** The manifest was among the opened files (rather than guessed). */
  imported: boolean;
  choices: DatasetChoices;
  loadMs: number;
}

export type DatasetResult =
  | { ok: true; manifest: DatasetManifest; info: DatasetInfo }
  | { ok: false; error: string; manifest?: DatasetManifest };

export type SetModelResult =
  { ok: true; fileName: string; sha256: string; dataset?: DatasetResult } | { ok: false; error: string };

/** A pipeline run request; `runId` matches its events and its cancellation. */
export interface PipelineRunRequest {
  runId: string;
  recipe: Recipe;
  /** Execution provider ('wasm', 'webgpu'; the Node runtime ignores it). */
  backend: string;
  /** Sizes of symbolic input dims for generated inputs. */
  dims?: Record<string, number>;
  latencyRuns?: number;
  maxEvalSamples?: number;
  /**
   * A shared cancel flag (Int32Array over a SharedArrayBuffer): set element 0 to 1 to cancel even
   * while the worker is busy in synchronous work and cannot take the `cancel` call yet.
   */
  cancelFlag?: Int32Array;
}

export type PipelineEvent =
  | { type: 'progress'; runId: string; index: number; done: number; total: number; note?: string }
  | { type: 'result'; runId: string; result: StageResultSummary }
  | TrainingEvent;

export type PipelineRunResult =
  | {
      ok: true;
      runId: string;
      results: StageResultSummary[];
      /** The run was cancelled (its last result says where). */
      cancelled: boolean;
      /** Measured on the dataset's evaluation split, or on generated inputs. */
      inputsSource: 'dataset' | 'generated';
      ms: number;
    }
  | { ok: false; runId: string; error: string };

export type StageModelResult =
  | {
      ok: true;
      index: number;
      fileName: string;
      bytes: Uint8Array;
      summary: ModelSummary;
      graph: GraphSummary;
    }
  | { ok: false; error: string };

export type StageExportResult =
  { ok: true; fileName: string; bytes: Uint8Array; modified: boolean } | { ok: false; error: string };

/** A sensitivity analysis request for the quantization step at `stepIndex` of `recipe`. */
export interface SensitivityRequest {
  runId: string;
  recipe: Recipe;
  stepIndex: number;
  backend: string;
  /** Evaluation samples at most (default 200). */
  samples?: number;
  dims?: Record<string, number>;
}

export type SensitivityEvent = {
  type: 'progress';
  runId: string;
  done: number;
  total: number;
  note?: string;
};

export type SensitivityAnswer =
  | {
      ok: true;
      runId: string;
      result: SensitivityResult;
      /** Which model was analysed: the original, or the output of the previous stage of the last run. */
      analysedModel: string;
      ms: number;
    }
  | { ok: false; runId: string; error: string };

/** "Keep as many layers quantized as possible within `points`", measured on the model (not estimated). */
export interface SensitivityBudgetRequest extends SensitivityRequest {
  result: SensitivityResult;
  points: number;
}

export type SensitivityBudgetAnswer =
  | { ok: true; runId: string; exclude: string[]; loss: number; ms: number }
  | { ok: false; runId: string; error: string };

/** Check the edits of the `edit-graph` step at `stepIndex` of `recipe` on the model entering it, without running anything else. */
export interface EditCheckRequest {
  recipe: Recipe;
  stepIndex: number;
  /** Runtime backend the edited model must load in ('wasm', 'webgpu'; the Node runtime ignores it). */
  backend: string;
}

export type EditCheckResult =
  | {
      ok: true;
      /** One line per edit (what it did). */
      notes: string[];
      /** Which model the edits were checked on. */
      basis: string;
      /**
       * Whether the edited model was also loaded in onnxruntime; not for renames (which cannot change
       * what it accepts) nor for models over {@link editLoadCheckMaxNodes} nodes, which the run checks.
       */
      loaded: boolean;
      ms: number;
    }
  | { ok: false; error: string; basis?: string };

/**
 * Edited models up to this many nodes are loaded in onnxruntime on every check. Loading costs about
 * 0.8 ms a node in onnxruntime-web even unoptimized (8 s for 10,000 nodes), too slow for each edit.
 */
export const editLoadCheckMaxNodes = 2000;

export type ProfileResult = { ok: true; index: number; opTimes: OpTime[] } | { ok: false; error: string };

/** Creates the runtime for a backend (onnxruntime-web in the studio, onnxruntime-node in tests). */
export type PipelineRuntimeFactory = (backend: string) => Promise<Runtime>;

/** Where the user's dataset files are kept between visits (IndexedDB in the studio). */
export interface DatasetFileStore {
  save(files: DatasetFile[]): Promise<void>;
  load(): Promise<DatasetFile[] | undefined>;
}

export interface PipelineServiceOptions {
  runtime: PipelineRuntimeFactory;
  /** Saves opened dataset files for the next visit; without it nothing is saved. */
  datasetStore?: DatasetFileStore;
  /** Decodes image files (createImageBitmap + OffscreenCanvas in the worker). */
  decodeImage?: ImageDecoder;
  /** Content caches kept (one per dataset configuration). */
  cacheSlots?: number;
  /** Where training stages keep checkpoints by stage key (IndexedDB in the studio); none: no resuming. */
  checkpoints?: CheckpointStoreFactory;
  /** TensorFlow.js backend for training stages ('auto' by default). */
  trainingBackend?: TrainingBackend;
}

interface CurrentModel {
  fileName: string;
  bytes: Uint8Array;
  external: Map<string, Uint8Array>;
  sha256: string;
  summary: ModelSummary;
}

interface CurrentDataset {
  files: DatasetFileSet;
  /** Bumped when new files are opened, so caches never mix two datasets with the same manifest. */
  filesVersion: number;
  manifest: DatasetManifest;
  base: string;
  imported: boolean;
  dataset?: Dataset;
}

interface LastRun {
  recipe: Recipe;
  results: StageResult[];
  modelFileName: string;
  external: Map<string, Uint8Array>;
  backend: string;
  runtime: { name: string; backend: string; threads: number };
  /** What the stages were evaluated on, for the report. */
  evaluation: string;
}

/** How often the worker lets other messages (a cancel call) in while a run keeps it busy. */
const yieldEveryMs = 30;
/** Progress events per second at most, per stage. */
const progressIntervalMs = 50;

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * A runtime whose sessions give the event loop a turn every {@link yieldEveryMs}: onnxruntime's
 * `run` resolves without ever yielding to other messages, so without this a cancel call would wait
 * for the whole run.
 */
function yieldingRuntime(runtime: Runtime): Runtime {
  let last = performance.now();
  const pause = async () => {
    if (performance.now() - last < yieldEveryMs) return;
    await macrotask();
    last = performance.now();
  };
  return {
    name: runtime.name,
    backend: runtime.backend,
    get threads() {
      return runtime.threads;
    },
    async createSession(model: Uint8Array, options?: SessionOptions): Promise<RuntimeSession> {
      await pause();
      const session = await runtime.createSession(model, options);
      return {
        inputNames: session.inputNames,
        outputNames: session.outputNames,
        async run(feeds, outputs) {
          await pause();
          return session.run(feeds, outputs);
        },
        release: () => session.release(),
      };
    },
  };
}

function withoutBytes(r: StageResult): StageResultSummary {
  const { modelBytes: _bytes, ...rest } = r;
  return rest;
}

/**
 * The studio's pipeline service: owns the model being optimized, the dataset, the content cache of
 * stage outputs and measurements, and the last run's models. The pipeline worker exposes one instance
 * through comlink; tests call it in-process with the Node runtime. Methods report failures as
 * `{ ok: false, error }` rather than throwing.
 */
export class PipelineService {
  private model: CurrentModel | undefined;
  private data: CurrentDataset | undefined;
  private filesVersions = 0;
  private readonly caches = new Map<string, PipelineCache>();
  private readonly runs = new Map<string, AbortController>();
  private readonly trainings = new Map<string, RunTraining>();
  private lastRun: LastRun | undefined;
  private readonly profiles = new Map<string, OpTime[]>();
  private readonly pruneLive = new PruneLive();
  private decoded: { sha256: string; model: Model } | undefined;
  /** The model entering the edit-graph step last checked, by what it was made from. */
  private editInput: { key: string; model: Model; basis: string } | undefined;
  /** The edits last checked and their result, so that the next added edit is applied alone. */
  private editApplied:
    { inputKey: string; edits: string; count: number; bytes: Uint8Array; notes: string[] } | undefined;
  /** Files the user added for stages (a distillation student), by name. */
  private readonly stageFiles = new Map<string, Uint8Array>();

  constructor(private readonly options: PipelineServiceOptions) {}

  /**
   * Set the model the pipeline starts from (the `.onnx` file plus external-data files). A loaded
   * dataset is checked against the new model again; the answer carries its new state.
   */
  async setModel(files: ModelFile[]): Promise<SetModelResult> {
    try {
      const onnx = files.filter((f) => /\.onnx$/i.test(f.name));
      const main = onnx.length === 1 ? onnx[0] : files.length === 1 ? files[0] : undefined;
      if (!main) return { ok: false, error: 'Give exactly one .onnx model (plus its external-data files).' };
      const external = new Map<string, Uint8Array>();
      for (const f of files) if (f !== main) external.set(f.name, f.bytes);
      const model = Model.decode(main.bytes, external);
      this.model = {
        fileName: main.name,
        bytes: main.bytes,
        external,
        sha256: await sha256Hex(main.bytes),
        summary: summarizeModel(model, main.bytes.byteLength),
      };
      this.lastRun = undefined;
      const dataset = this.data ? await this.loadCurrentDataset() : undefined;
      return { ok: true, fileName: main.name, sha256: this.model.sha256, ...(dataset ? { dataset } : {}) };
    } catch (e) {
      return { ok: false, error: `${files[0]?.name ?? 'model'}: ${errorMessage(e)}` };
    }
  }

  /**
   * Open dataset files: a manifest among them is imported (paths relative to it), otherwise a
   * manifest is guessed from the files and the model's input. `manifest` overrides both.
   */
  async openDataset(
    files: DatasetFile[],
    manifest?: DatasetManifest,
    options: { save?: boolean } = {},
  ): Promise<DatasetResult> {
    if (!this.model) return { ok: false, error: 'Open a model before its dataset.' };
    if (files.length === 0) return { ok: false, error: 'No dataset file was given.' };
    const set = new DatasetFileSet(files);
    let found: ReturnType<typeof manifestFor>;
    try {
      found = manifest ? { manifest, base: '', imported: true } : manifestFor(set, this.model.summary.inputs);
    } catch (e) {
      return { ok: false, error: errorMessage(e) };
    }
    const previous = this.data;
    this.data = {
      files: set,
      filesVersion: ++this.filesVersions,
      manifest: found.manifest,
      base: found.base,
      imported: found.imported,
    };
    const result = await this.loadCurrentDataset(!found.imported && !manifest);
    // Files that do not make a dataset leave the previous dataset in place (the answer then has no manifest).
    if (!result.ok && previous?.dataset) {
      this.data = previous;
      return { ok: false, error: result.error };
    }
    if (result.ok && options.save && this.options.datasetStore)
      await this.options.datasetStore.save(files).catch(() => undefined);
    return result;
  }

  /** Reopen the dataset files saved by an earlier visit, with their manifest. */
  async restoreDataset(manifest: DatasetManifest | null): Promise<DatasetResult> {
    const files = await this.options.datasetStore?.load().catch(() => undefined);
    if (!files?.length)
      return { ok: false, error: 'The dataset of the last visit was not saved; open it again.' };
    return this.openDataset(files, manifest ?? undefined);
  }

  /** Load the opened files again with an edited manifest (preprocessing, splits, label column). */
  async configureDataset(manifest: DatasetManifest): Promise<DatasetResult> {
    if (!this.data) return { ok: false, error: 'Open a dataset first.' };
    const previous = { ...this.data };
    this.data.manifest = manifest;
    const result = await this.loadCurrentDataset();
    if (!result.ok) this.data = { ...previous, manifest, dataset: undefined };
    return result;
  }

  /**
   * Add (or replace) a file stages read by name, e.g. the student `.onnx` a `distill` step names in
   * `studentFile`. Returns the names now held.
   */
  addStageFile(file: ModelFile): string[] {
    this.stageFiles.set(file.name, file.bytes);
    return [...this.stageFiles.keys()];
  }

  /** Forget an added stage file. Returns the names still held. */
  removeStageFile(name: string): string[] {
    this.stageFiles.delete(name);
    return [...this.stageFiles.keys()];
  }

  /** Forget the dataset: fidelity is then measured on generated inputs, accuracy not at all. */
  clearDataset(): void {
    this.data = undefined;
  }

  private datasetKey(): string {
    if (!this.data?.dataset) return 'generated';
    return `${this.data.filesVersion}:${canonicalJson(this.data.manifest)}`;
  }

  private async loadCurrentDataset(chooseSplit = false): Promise<DatasetResult> {
    const data = this.data!;
    const model = this.model!;
    const started = performance.now();
    try {
      const load = (manifest: DatasetManifest) =>
        loadDataset(manifest, data.files.reader(data.base), model.summary.inputs, {
          decodeImage: this.options.decodeImage,
          list: data.files.lister(data.base),
          name: `${manifest.samples}#${data.filesVersion}`,
        });
      let dataset = await load(data.manifest);
      if (chooseSplit) {
        data.manifest = { ...data.manifest, split: defaultSplit(dataset.count) };
        dataset = await load(data.manifest);
      }
      data.dataset = dataset;
      const labels = dataset.raw.labels;
      return {
        ok: true,
        manifest: data.manifest,
        info: {
          name: data.manifest.samples,
          files: data.files.paths,
          bytes: data.files.bytes,
          count: dataset.count,
          sampleShape: dataset.raw.sampleShape,
          input: { name: dataset.input.name, shape: dataset.input.shape },
          hasLabels: dataset.hasLabels,
          classes: labels ? new Set(labels).size : 0,
          ...(dataset.raw.classNames ? { classNames: dataset.raw.classNames } : {}),
          splits: {
            train: dataset.splits.train.length,
            calibration: dataset.splits.calibration.length,
            evaluation: dataset.splits.evaluation.length,
          },
          preview: previewSamples(dataset),
          imported: data.imported,
          choices: datasetChoices(data.files, data.manifest, data.base),
          loadMs: performance.now() - started,
        },
      };
    } catch (e) {
      data.dataset = undefined;
      return { ok: false, error: errorMessage(e), manifest: data.manifest };
    }
  }

  private cacheFor(key: string): PipelineCache {
    let cache = this.caches.get(key);
    if (cache) {
      // Most recently used last.
      this.caches.delete(key);
    } else {
      cache = new PipelineCache();
      const slots = this.options.cacheSlots ?? 3;
      while (this.caches.size >= slots) this.caches.delete(this.caches.keys().next().value!);
    }
    this.caches.set(key, cache);
    return cache;
  }

  /**
   * Run a recipe on the current model: each stage is validated, taken from the content cache when its
   * input, stage and parameters are unchanged, run, and measured. Progress and each stage's result
   * arrive as events while it runs.
   */
  async run(
    request: PipelineRunRequest,
    onEvent?: (event: PipelineEvent) => void,
  ): Promise<PipelineRunResult> {
    const { runId } = request;
    const model = this.model;
    if (!model) return { ok: false, runId, error: 'Open a model before running a pipeline.' };
    if (this.runs.size > 0) return { ok: false, runId, error: 'A pipeline is already running.' };
    const controller = new AbortController();
    this.runs.set(runId, controller);
    const started = performance.now();
    const flagged = () => {
      if (request.cancelFlag && Atomics.load(request.cancelFlag, 0) !== 0 && !controller.signal.aborted)
        controller.abort();
    };
    const lastProgress = new Map<number, number>();
    const training = new RunTraining(
      runId,
      controller.signal,
      (event) => onEvent?.(event),
      this.options.checkpoints,
      this.options.trainingBackend,
    );
    this.trainings.set(runId, training);
    try {
      const runtime = yieldingRuntime(await this.options.runtime(request.backend));
      const dataset = this.data?.dataset;
      const results = await runPipeline({
        modelBytes: model.bytes,
        external: model.external,
        recipe: request.recipe,
        runtime,
        dataset,
        cache: this.cacheFor(`${this.datasetKey()}|${request.maxEvalSamples ?? 1000}`),
        signal: controller.signal,
        maxEvalSamples: request.maxEvalSamples,
        dims: request.dims,
        latencyRuns: request.latencyRuns,
        files: this.stageFiles,
        onProgress: (index, done, total, note) => {
          const now = performance.now();
          if (done >= total || now - (lastProgress.get(index) ?? 0) >= progressIntervalMs) {
            lastProgress.set(index, now);
            onEvent?.({ type: 'progress', runId, index, done, total, ...(note ? { note } : {}) });
          }
          flagged();
        },
        onResult: (result) => {
          onEvent?.({ type: 'result', runId, result: withoutBytes(result) });
          flagged();
        },
        training: (stageKey, index) => training.host(stageKey, index),
      });
      const evaluated = results[0]?.metrics;
      this.lastRun = {
        recipe: request.recipe,
        results,
        modelFileName: model.fileName,
        external: model.external,
        backend: request.backend,
        runtime: { name: runtime.name, backend: runtime.backend, threads: runtime.threads },
        evaluation:
          evaluated?.inputsSource === 'dataset'
            ? `${evaluated.evaluatedSamples} samples of ${dataset?.name ?? 'the dataset'} (evaluation split)`
            : `${evaluated?.evaluatedSamples ?? 0} generated inputs (no labels)`,
      };
      return {
        ok: true,
        runId,
        results: results.map(withoutBytes),
        cancelled: results.some((r) => r.status === 'cancelled'),
        inputsSource: dataset && dataset.splits.evaluation.length ? 'dataset' : 'generated',
        ms: performance.now() - started,
      };
    } catch (e) {
      return { ok: false, runId, error: errorMessage(e) };
    } finally {
      this.runs.delete(runId);
      this.trainings.delete(runId);
    }
  }

  /** Cancel a run: the stage in progress stops at its next check, earlier results stand. */
  cancel(runId: string): boolean {
    const controller = this.runs.get(runId);
    if (!controller) return false;
    controller.abort();
    return true;
  }

  /** Pause the run's training before its next batch (false when the run is not going on). */
  pauseTraining(runId: string): boolean {
    const training = this.trainings.get(runId);
    training?.pause();
    return !!training;
  }

  /** Let a paused training go on. */
  resumeTraining(runId: string): boolean {
    const training = this.trainings.get(runId);
    training?.resume();
    return !!training;
  }

  /** Stop the training stage in progress after its current batch and keep its best epoch; the run goes on. */
  stopTraining(runId: string): boolean {
    const training = this.trainings.get(runId);
    training?.requestStop();
    return !!training;
  }

  private stageOf(index: number): StageResult | string {
    const last = this.lastRun;
    if (!last) return 'No stage models are in memory: run the pipeline first.';
    const r = last.results.find((x) => x.index === index);
    if (!r) return `The last run has no stage ${index}.`;
    if (r.status !== 'done' || !r.modelBytes) return `Stage ${index} has no model (${r.status}).`;
    return r;
  }

  /** A stage's model for the graph view: its summaries and a copy of its bytes (transferred). */
  stageModel(index: number): StageModelResult {
    const r = this.stageOf(index);
    if (typeof r === 'string') return { ok: false, error: r };
    try {
      const model = Model.decode(r.modelBytes!, this.lastRun!.external);
      const bytes = r.modelBytes!.slice();
      return transfer(
        {
          ok: true,
          index,
          fileName: index === 0 ? this.lastRun!.modelFileName : `${r.title} (stage ${index})`,
          bytes,
          summary: summarizeModel(model, bytes.byteLength),
          graph: summarizeGraph(model.graph),
        },
        [bytes.buffer as ArrayBuffer],
      );
    } catch (e) {
      return { ok: false, error: errorMessage(e) };
    }
  }

  /**
   * The `export-model` file of a stage: the original byte for byte, or the stage's model with
   * provenance metadata and a name that says what was done (checked before it is returned).
   */
  async exportStage(index: number): Promise<StageExportResult> {
    const last = this.lastRun;
    const r = this.stageOf(index);
    if (typeof r === 'string' || !last) return { ok: false, error: typeof r === 'string' ? r : 'no run' };
    try {
      const out = await exportStageModel({
        recipe: last.recipe,
        results: last.results,
        upTo: index,
        version: whittleVersion,
        modelFileName: last.modelFileName,
        external: last.external,
        // The file must load in onnxruntime-web before the user gets it.
        runtime: await this.options.runtime(last.backend),
      });
      const bundle = bundleWithExternalData(out.fileName, out.bytes, last.external);
      const bytes = bundle.bytes === r.modelBytes ? bundle.bytes.slice() : bundle.bytes;
      return transfer({ ok: true, fileName: bundle.fileName, bytes, modified: out.modified }, [
        bytes.buffer as ArrayBuffer,
      ]);
    } catch (e) {
      return { ok: false, error: `Exporting stage ${index} failed: ${errorMessage(e)}` };
    }
  }

  /**
   * The PDF report of the last run (`export-report`): every stage's parameters and metrics, charts,
   * the final graph and the reproducibility section, for the model the final stage exports as.
   */
  async exportReport(agent: string): Promise<StageExportResult> {
    const last = this.lastRun;
    if (!last) return { ok: false, error: 'Run the pipeline first: the report describes a run.' };
    try {
      const finalIndex = [...last.results].reverse().find((r) => r.status === 'done')?.index ?? 0;
      const exported = await exportStageModel({
        recipe: last.recipe,
        results: last.results,
        upTo: finalIndex,
        version: whittleVersion,
        modelFileName: last.modelFileName,
        external: last.external,
      });
      const bytes = await makeRunReportPdf({
        modelName: last.modelFileName,
        results: last.results,
        recipe: last.recipe,
        version: whittleVersion,
        external: last.external,
        exported: { fileName: exported.fileName, bytes: exported.bytes },
        environment: {
          runtime: last.runtime.name,
          backend: last.runtime.backend,
          threads: last.runtime.threads,
          agent,
          evaluation: last.evaluation,
        },
      });
      const fileName = `${last.modelFileName.replace(/\.onnx$/i, '')}.whittle-report.pdf`;
      return transfer({ ok: true, fileName, bytes, modified: true }, [bytes.buffer as ArrayBuffer]);
    } catch (e) {
      return { ok: false, error: `The report could not be made: ${errorMessage(e)}` };
    }
  }

  /**
   * Per-operator timing of a stage's model from onnxruntime's profiler, on the first evaluation
   * sample (or a generated input). Cached by model hash.
   */
  async profileStage(
    index: number,
    options: { runs?: number; dims?: Record<string, number> } = {},
  ): Promise<ProfileResult> {
    const last = this.lastRun;
    const r = this.stageOf(index);
    if (typeof r === 'string' || !last) return { ok: false, error: typeof r === 'string' ? r : 'no run' };
    const key = `${r.modelHash}|${last.backend}|${options.runs ?? 20}`;
    const known = this.profiles.get(key);
    if (known) return { ok: true, index, opTimes: known };
    if (this.runs.size > 0) return { ok: false, error: 'Wait for the pipeline run to finish.' };
    try {
      const runtime = await this.options.runtime(last.backend);
      const dataset = this.data?.dataset;
      const feeds =
        dataset && dataset.count > 0
          ? dataset.sample(dataset.splits.evaluation[0] ?? 0).feeds
          : generateInputs(
              summarizeModel(Model.decode(r.modelBytes!, last.external), 0).inputs,
              options.dims,
              1,
            );
      const opTimes = await profileOperators(runtime, r.modelBytes!, feeds, {
        runs: options.runs ?? 20,
        warmup: 2,
        external: last.external,
      });
      this.profiles.set(key, opTimes);
      return { ok: true, index, opTimes };
    } catch (e) {
      return { ok: false, error: `Profiling stage ${index} failed: ${errorMessage(e)}` };
    }
  }

  /**
   * Per-layer sensitivity of a quantization step: the model entering it (the previous stage's output
   * when the last run made it with the same earlier steps, otherwise the original) is quantized one
   * layer at a time and evaluated on the dataset (or generated inputs). Cancel with {@link cancel}.
   */
  async sensitivity(
    request: SensitivityRequest,
    onEvent?: (event: SensitivityEvent) => void,
  ): Promise<SensitivityAnswer> {
    const { runId, recipe, stepIndex } = request;
    const model = this.model;
    if (!model) return { ok: false, runId, error: 'Open a model first.' };
    const step = recipe.stages[stepIndex];
    const stages: readonly string[] = ['quantize-static', 'quantize-dynamic', 'quantize-int4'];
    if (!step || !stages.includes(step.stage))
      return { ok: false, runId, error: 'Sensitivity analysis needs a quantization step.' };
    if (this.runs.size > 0) return { ok: false, runId, error: 'Wait for the pipeline run to finish.' };
    const controller = new AbortController();
    this.runs.set(runId, controller);
    const started = performance.now();
    try {
      const input = this.stepInput(recipe, stepIndex);
      const entering = input
        ? Model.decode(input.modelBytes!, this.lastRun!.external)
        : Model.decode(model.bytes, model.external);
      const runtime = yieldingRuntime(await this.options.runtime(request.backend));
      let lastEvent = 0;
      const result = await analyzeSensitivity(
        entering,
        {
          stage: step.stage as SensitivityStage,
          params: step.params,
          samples: request.samples ?? 200,
          dims: request.dims,
        },
        {
          runtime,
          data: this.data?.dataset,
          signal: controller.signal,
          progress: (done, total, note) => {
            const now = performance.now();
            if (done < total && now - lastEvent < progressIntervalMs) return;
            lastEvent = now;
            onEvent?.({ type: 'progress', runId, done, total, ...(note ? { note } : {}) });
          },
        },
      );
      return {
        ok: true,
        runId,
        result,
        analysedModel: input ? `the output of stage ${input.index} (${input.title})` : 'the original model',
        ms: performance.now() - started,
      };
    } catch (e) {
      if (controller.signal.aborted) return { ok: false, runId, error: 'Sensitivity analysis cancelled.' };
      return { ok: false, runId, error: `Sensitivity analysis failed: ${errorMessage(e)}` };
    } finally {
      this.runs.delete(runId);
    }
  }

  /**
   * The exclude list that keeps the step within `points` of the float model: starts from the summed
   * per-layer estimate, then measures and excludes the next most sensitive layer until it holds.
   */
  async sensitivityBudget(
    request: SensitivityBudgetRequest,
    onEvent?: (event: SensitivityEvent) => void,
  ): Promise<SensitivityBudgetAnswer> {
    const { runId, recipe, stepIndex } = request;
    const model = this.model;
    const step = recipe.stages[stepIndex];
    if (!model || !step) return { ok: false, runId, error: 'Analyze the step first.' };
    if (this.runs.size > 0) return { ok: false, runId, error: 'Wait for the pipeline run to finish.' };
    const controller = new AbortController();
    this.runs.set(runId, controller);
    const started = performance.now();
    try {
      const input = this.stepInput(recipe, stepIndex);
      const entering = input
        ? Model.decode(input.modelBytes!, this.lastRun!.external)
        : Model.decode(model.bytes, model.external);
      const runtime = yieldingRuntime(await this.options.runtime(request.backend));
      const options = {
        stage: step.stage as SensitivityStage,
        params: step.params,
        samples: request.samples ?? 200,
        dims: request.dims,
      };
      const r = await verifyExcludeWithinBudget(entering, request.result, request.points, options, {
        runtime,
        data: this.data?.dataset,
        signal: controller.signal,
        progress: (done, total, note) =>
          onEvent?.({ type: 'progress', runId, done, total, ...(note ? { note } : {}) }),
      });
      return { ok: true, runId, exclude: r.exclude, loss: r.loss, ms: performance.now() - started };
    } catch (e) {
      if (controller.signal.aborted) return { ok: false, runId, error: 'Cancelled.' };
      return { ok: false, runId, error: `The budget check failed: ${errorMessage(e)}` };
    } finally {
      this.runs.delete(runId);
    }
  }

  /**
   * Check an `edit-graph` step eagerly: its edits are applied to the model entering it (the last
   * run's when the earlier steps are unchanged, else the earlier steps' outputs computed here without
   * measuring them), checked like the stage checks them, and the result must load in the runtime.
   * Nothing is kept but the model entering the step, for the next check.
   */
  async checkEdits(request: EditCheckRequest): Promise<EditCheckResult> {
    const started = performance.now();
    const current = this.model;
    if (!current) return { ok: false, error: 'Open a model before editing it.' };
    if (this.runs.size > 0)
      return { ok: false, error: 'Wait for the pipeline run to finish before editing.' };
    const step = request.recipe.stages[request.stepIndex];
    if (step?.stage !== 'edit-graph')
      return { ok: false, error: `Step ${request.stepIndex + 1} is not an edit-graph stage.` };
    let basis: string | undefined;
    try {
      const { params } = validateStep(step, request.stepIndex);
      const edits = params.edits as GraphEdit[];
      const runtime = await this.options.runtime(request.backend);
      const input = await this.editStepInput(request.recipe, request.stepIndex, runtime);
      basis = input.basis;
      // The edits checked last time (the list as recorded) need not be applied again: an added edit
      // is applied to their result only.
      const known = this.editApplied;
      const resume =
        known?.inputKey === input.key &&
        known.count <= edits.length &&
        known.edits === canonicalJson(edits.slice(0, known.count))
          ? known
          : undefined;
      const model = resume ? Model.decode(resume.bytes, current.external) : input.model.clone();
      const offset = resume?.count ?? 0;
      let notes: string[];
      try {
        notes = [...(resume?.notes ?? []), ...applyEdits(model, edits.slice(offset)).notes];
      } catch (e) {
        if (!(e instanceof GraphEditError) || offset === 0) throw e;
        const reason = e.message.slice(`Edit ${e.index + 1} (${describeEdit(e.edit)}) refused: `.length);
        throw new GraphEditError(e.edit, e.index + offset, reason);
      }
      const loadError = async (bytes: Uint8Array) => {
        try {
          const session = await runtime.createSession(bytes, {
            externalData: current.external,
            optimize: false,
          });
          await session.release();
          return undefined;
        } catch (e) {
          return errorMessage(e);
        }
      };
      const bytes = model.encode();
      const added = edits.slice(offset);
      const load =
        model.graph.nodes.length <= editLoadCheckMaxNodes &&
        added.some((e) => e.kind !== 'rename-node' && e.kind !== 'rename-tensor');
      const failed = load ? await loadError(bytes) : undefined;
      if (failed !== undefined) {
        // Name the first edit after which the model no longer loads (only on this rare path).
        let culprit = edits.length - 1;
        const partial = resume ? Model.decode(resume.bytes, current.external) : input.model.clone();
        for (let i = offset; i < edits.length - 1; i++) {
          applyEdits(partial, [edits[i]]);
          if ((await loadError(partial.encode())) !== undefined) {
            culprit = i;
            break;
          }
        }
        return {
          ok: false,
          error: `Edit ${culprit + 1} (${describeEdit(edits[culprit])}) refused: the edited model does not load in ${runtime.name}: ${failed}`,
          basis,
        };
      }
      this.editApplied = {
        inputKey: input.key,
        edits: canonicalJson(edits),
        count: edits.length,
        bytes,
        notes,
      };
      return { ok: true, notes, basis, loaded: load, ms: performance.now() - started };
    } catch (e) {
      return { ok: false, error: errorMessage(e), ...(basis ? { basis } : {}) };
    }
  }

  /**
   * The model entering step `stepIndex`: the last run's when it had the same earlier steps,
   * otherwise the enabled earlier steps run here (not measured). Kept for the next call.
   */
  private async editStepInput(
    recipe: Recipe,
    stepIndex: number,
    runtime: Runtime,
  ): Promise<{ key: string; model: Model; basis: string }> {
    const current = this.model!;
    const ran = this.stepInput(recipe, stepIndex);
    const earlier = recipe.stages.slice(0, stepIndex).filter((s) => s.enabled !== false);
    const key = ran?.modelBytes
      ? `run:${ran.modelHash}`
      : `${current.sha256}|${this.datasetKey()}|${canonicalJson(earlier)}`;
    if (this.editInput?.key === key) return this.editInput;
    if (ran?.modelBytes) {
      this.editInput = {
        key,
        model: Model.decode(ran.modelBytes, this.lastRun!.external),
        basis: `the output of stage ${ran.index} (${ran.title}) of the last run`,
      };
      return this.editInput;
    }
    let model = Model.decode(current.bytes, current.external);
    let basis = 'the original model';
    for (const [k, s] of recipe.stages.slice(0, stepIndex).entries()) {
      if (s.enabled === false) continue;
      let title = s.stage;
      try {
        const { stage, params } = validateStep(s, k);
        title = stage.title;
        const out = await stage.run(model.clone(), params, {
          runtime,
          data: this.data?.dataset,
          signal: new AbortController().signal,
          progress: () => undefined,
        });
        model = out.model;
        basis = `the output of stage ${k + 1} (${title})`;
      } catch (e) {
        // The run will report this stage's failure; the edits are checked on what came before it.
        basis = `${basis} (stage ${k + 1}, ${title}, could not run: ${errorMessage(e)})`;
        break;
      }
    }
    this.editInput = { key, model, basis };
    return this.editInput;
  }

  /** The last run's model entering step `stepIndex`, when that run had the same earlier steps. */
  private stepInput(recipe: Recipe, stepIndex: number): StageResult | undefined {
    const last = this.lastRun;
    if (!last || stepIndex === 0) return undefined;
    const key = (steps: Recipe['stages']) =>
      canonicalJson(steps.slice(0, stepIndex).map((s) => ({ ...s, enabled: s.enabled !== false })));
    if (last.recipe.stages.length < stepIndex || key(last.recipe.stages) !== key(recipe.stages))
      return undefined;
    return [...last.results]
      .reverse()
      .find((r) => r.index >= 1 && r.index <= stepIndex && r.status === 'done' && r.modelBytes);
  }

  /** The opened model decoded once for the live pruning estimate, with a key naming model and dataset. */
  private liveModel(): { key: string; model: Model } | undefined {
    const current = this.model;
    if (!current) return undefined;
    const key = `${current.sha256}:${this.datasetKey()}`;
    if (this.decoded?.sha256 !== current.sha256)
      this.decoded = { sha256: current.sha256, model: Model.decode(current.bytes, current.external) };
    return { key, model: this.decoded.model };
  }

  /**
   * Live estimate for the prune-magnitude slider on the opened model: estimated gzip size and the
   * fidelity on a few samples. A newer request cancels the one in progress (its answer says so).
   */
  async estimatePrune(request: PruneEstimateRequest): Promise<PruneEstimateAnswer> {
    const live = this.liveModel();
    if (!live)
      return { ok: false, requestId: request.requestId, cancelled: false, error: 'Open a model first.' };
    const runtime = yieldingRuntime(await this.options.runtime(request.backend));
    return this.pruneLive.estimate(live.key, live.model, runtime, this.data?.dataset, request);
  }

  /** Accuracy (or agreement) of magnitude pruning at each of `request.sparsities` on the opened model. */
  async sweepPrune(request: PruneSweepRequest): Promise<PruneSweepAnswer> {
    const live = this.liveModel();
    if (!live) return { ok: false, error: 'Open a model first.' };
    const runtime = yieldingRuntime(await this.options.runtime(request.backend));
    return this.pruneLive.sweep(live.model, runtime, this.data?.dataset, request);
  }
}
