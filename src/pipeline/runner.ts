import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import type { ExternalFiles } from '../onnx/tensor';
import type { AnyStage, NodeChange, TrainingHost } from '../passes/types';
import type { Dataset } from '../data/dataset';
import type { RtTensor, Runtime } from '../runtime/types';
import { generateInputs } from '../runtime/inputs';
import { summarizeModel } from '../onnx/summary';
import { measureModel, type EvaluationSet, type StageMetrics } from '../metrics/measure';
import { canonicalJson, validateStep, type Recipe } from './recipe';

export type StageStatus = 'done' | 'error' | 'skipped' | 'cancelled';

/** One row of a pipeline run: index 0 is the original model, then one per recipe step. */
export interface StageResult {
  index: number;
  /** Stage id, or null for the original model. */
  stage: string | null;
  title: string;
  params: Record<string, unknown>;
  status: StageStatus;
  error?: string;
  notes: string[];
  changes: NodeChange[];
  metrics?: StageMetrics;
  /** SHA-256 of the stage's output model. */
  modelHash?: string;
  /** The stage's output model (kept by the worker; the page receives it only on export). */
  modelBytes?: Uint8Array;
  /** The model came from the content cache (same input, stage and parameters as before). */
  cached: boolean;
  /** Time the stage itself took (0 when cached). */
  runMs: number;
}

interface CachedStage {
  bytes: Uint8Array;
  hash: string;
  notes: string[];
  changes: NodeChange[];
}
interface CachedMeasure {
  metrics: StageMetrics;
  outputs: RtTensor[][];
}

/** Results of earlier runs by content: stage outputs by (input hash, stage, params), measurements by model hash. */
export class PipelineCache {
  readonly stages = new Map<string, CachedStage>();
  readonly measures = new Map<string, CachedMeasure>();
  clear(): void {
    this.stages.clear();
    this.measures.clear();
  }
}

export interface RunPipelineOptions {
  modelBytes: Uint8Array;
  external?: ExternalFiles;
  recipe: Recipe;
  runtime: Runtime;
  dataset?: Dataset;
  cache?: PipelineCache;
  signal?: AbortSignal;
  /** Evaluation samples at most (from the dataset's evaluation split). */
  maxEvalSamples?: number;
  /** Generated input sets when there is no dataset. */
  generatedSamples?: number;
  /** Sizes for symbolic input dimensions of generated inputs. */
  dims?: Record<string, number>;
  latencyRuns?: number;
  onProgress?: (index: number, done: number, total: number, note?: string) => void;
  onResult?: (result: StageResult) => void;
  /**
   * The training host for a training stage (live curves, pause/stop, checkpoints). `stageKey`
   * identifies the stage's input, parameters and data, so checkpoints of a rerun match.
   */
  training?: (stageKey: string, index: number) => TrainingHost | undefined;
  /** The stages recipes may name (the registry by default; tests add their own). */
  registry?: readonly AnyStage[];
  /** Files the user added for stages, by name (a stage parameter names the one it reads). */
  files?: ReadonlyMap<string, Uint8Array>;
}

/** Hashes of the added files a stage's parameters name: the stage's output depends on their content. */
async function namedFilesKey(params: Record<string, unknown>, files?: ReadonlyMap<string, Uint8Array>) {
  if (!files?.size) return '';
  const named = Object.values(params).filter((v): v is string => typeof v === 'string' && files.has(v));
  const hashes = await Promise.all(named.sort().map(async (n) => `${n}:${await sha256Hex(files.get(n)!)}`));
  return hashes.join(',');
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function evaluationSet(model: Model, options: RunPipelineOptions): EvaluationSet {
  const ds = options.dataset;
  if (ds && ds.splits.evaluation.length) {
    const indices = ds.splits.evaluation.slice(0, options.maxEvalSamples ?? 1000);
    const samples = indices.map((i) => ds.sample(i));
    return {
      feeds: samples.map((s) => s.feeds),
      labels: ds.hasLabels ? samples.map((s) => s.label) : undefined,
      source: 'dataset',
    };
  }
  const inputs = summarizeModel(model, 0).inputs;
  const n = options.generatedSamples ?? 8;
  return {
    feeds: Array.from({ length: n }, (_, k) => generateInputs(inputs, options.dims, k + 1)),
    source: 'generated',
  };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Run a recipe stage by stage: validate parameters, reuse cached outputs of unchanged stages, run,
 * check the output model, measure it like every other stage. A failing stage ends the run with its
 * error; earlier results stand. Cancelling through `signal` marks the current stage cancelled.
 */
export async function runPipeline(options: RunPipelineOptions): Promise<StageResult[]> {
  const cache = options.cache ?? new PipelineCache();
  const { runtime, signal } = options;
  const results: StageResult[] = [];
  const emit = (r: StageResult) => {
    results.push(r);
    options.onResult?.(r);
  };
  const original = Model.decode(options.modelBytes, options.external);
  const evaluation = evaluationSet(original, options);
  const evalKey = canonicalJson({
    source: evaluation.source,
    dataset: options.dataset?.name,
    n: evaluation.feeds.length,
    dims: options.dims ?? {},
    runs: options.latencyRuns ?? 20,
    runtime: `${runtime.name}/${runtime.backend}/${runtime.threads}`,
  });

  const measure = async (
    index: number,
    model: Model,
    bytes: Uint8Array,
    hash: string,
    reference?: RtTensor[][],
  ) => {
    const key = `${hash}|${evalKey}|${reference ? 'ref' : 'self'}`;
    const hit = cache.measures.get(key);
    if (hit) return hit;
    const m = await measureModel(model, bytes, runtime, evaluation, reference, {
      latencyRuns: options.latencyRuns,
      signal,
      progress: (d, t, note) => options.onProgress?.(index, d, t, note),
    });
    cache.measures.set(key, m);
    return m;
  };

  const originalHash = await sha256Hex(options.modelBytes);
  const ds = options.dataset;
  const datasetKey = ds
    ? canonicalJson({
        name: ds.name,
        count: ds.count,
        preprocess: ds.preprocess,
        splits: ds.splits,
        input: ds.input,
      })
    : 'no-data';
  let reference: RtTensor[][];
  try {
    const m = await measure(0, original, options.modelBytes, originalHash);
    reference = m.outputs;
    emit({
      index: 0,
      stage: null,
      title: 'Original',
      params: {},
      status: 'done',
      notes: [],
      changes: [],
      metrics: m.metrics,
      modelHash: originalHash,
      modelBytes: options.modelBytes,
      cached: false,
      runMs: 0,
    });
  } catch (e) {
    emit({
      index: 0,
      stage: null,
      title: 'Original',
      params: {},
      status: signal?.aborted ? 'cancelled' : 'error',
      error: `the original model could not be measured: ${errorMessage(e)}`,
      notes: [],
      changes: [],
      cached: false,
      runMs: 0,
    });
    return results;
  }

  let current = { model: original, bytes: options.modelBytes, hash: originalHash };
  let stopped = false;
  for (const [k, step] of options.recipe.stages.entries()) {
    const index = k + 1;
    const base = {
      index,
      stage: step.stage,
      params: step.params,
      notes: [] as string[],
      changes: [],
      cached: false,
      runMs: 0,
    };
    if (stopped) {
      emit({
        ...base,
        title: step.stage,
        status: 'skipped',
        error: 'not run: an earlier stage did not finish',
      });
      continue;
    }
    let title = step.stage;
    try {
      const { stage, params } = validateStep(step, k, options.registry);
      title = stage.title;
      if (step.enabled === false) {
        emit({ ...base, title, params, status: 'skipped', notes: ['disabled'] });
        continue;
      }
      // Stages that read the data (calibration, training) depend on it as much as on their input.
      const dataKey = stage.needs || stage.trains ? datasetKey : '';
      const key = await sha256Hex(
        new TextEncoder().encode(
          `${current.hash}|${stage.id}|${canonicalJson(params)}|${dataKey}${await namedFilesKey(params, options.files)}`,
        ),
      );
      let out = cache.stages.get(key);
      const cached = !!out;
      const t0 = performance.now();
      if (!out) {
        const ctx = {
          runtime,
          data: options.dataset,
          signal: signal ?? new AbortController().signal,
          progress: (d: number, t: number, note?: string) => options.onProgress?.(index, d, t, note),
          training: stage.category === 'train' || stage.trains ? options.training?.(key, index) : undefined,
          files: options.files,
        };
        const r = await stage.run(current.model.clone(), params, ctx);
        signal?.throwIfAborted();
        checkModel(r.model);
        const bytes = r.model.encode();
        out = { bytes, hash: await sha256Hex(bytes), notes: r.notes, changes: r.changes };
        cache.stages.set(key, out);
      }
      const runMs = cached ? 0 : performance.now() - t0;
      const model = Model.decode(out.bytes, current.model.external);
      let metrics: StageMetrics;
      try {
        metrics = (await measure(index, model, out.bytes, out.hash, reference)).metrics;
      } catch (e) {
        if (signal?.aborted) throw e;
        throw new Error(`the stage's output does not run in ${runtime.name}: ${errorMessage(e)}`);
      }
      emit({
        ...base,
        title,
        params,
        status: 'done',
        notes: out.notes,
        changes: out.changes,
        metrics,
        modelHash: out.hash,
        modelBytes: out.bytes,
        cached,
        runMs,
      });
      current = { model, bytes: out.bytes, hash: out.hash };
    } catch (e) {
      const cancelled = signal?.aborted ?? false;
      emit({
        ...base,
        title,
        status: cancelled ? 'cancelled' : 'error',
        error: cancelled ? 'cancelled' : errorMessage(e),
      });
      stopped = true;
    }
  }
  return results;
}
