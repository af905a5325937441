import { Model } from '../onnx/ir';
import { valueInfo } from '../onnx/builder';
import type { RtTensor, Runtime, RuntimeSession } from '../runtime/types';
import { measureLatency, type LatencyResult } from '../runtime/latency';
import { sizeMetrics, type SizeMetrics } from './size';
import { computeMetrics } from './compute';
import { addFidelity, argmax, fidelityResult, newFidelity, type Fidelity } from './fidelity';

/** The inputs every stage is measured on: the evaluation split, or generated inputs without data. */
export interface EvaluationSet {
  feeds: Record<string, RtTensor>[];
  /** Class labels per sample, when the data has them. */
  labels?: (number | undefined)[];
  source: 'dataset' | 'generated';
}

/** Every number the studio shows for one stage (CONTRACT.md `stage-result`, plus more). */
export interface StageMetrics extends SizeMetrics, Fidelity {
  macs: number;
  peakActivationBytes: number;
  latency: LatencyResult & { backend: string; threads: number };
  /** Top-1 accuracy on labeled evaluation samples (0–1), null without labels. */
  accuracy: number | null;
  evaluatedSamples: number;
  inputsSource: EvaluationSet['source'];
  /** Kernel time per operator type from onnxruntime's profiler, slowest first (when measured). */
  opTimes?: OpTime[];
}

/** One kernel execution as onnxruntime's profiler reports it (both runtimes report this shape). */
export interface KernelTime {
  /** Node name (onnxruntime names the nodes it creates when fusing, e.g. `fused /fc1/Gemm`). */
  node: string;
  /** Kernel op type, e.g. 'FusedConv', 'QLinearConv'. */
  op: string;
  /** Execution provider, e.g. 'CPUExecutionProvider'. */
  provider: string;
  durationUs: number;
}

/** Time spent per operator type in one inference, averaged over the profiled runs. */
export interface OpTime {
  /** Kernel op type as onnxruntime ran it (after its own fusions). */
  op: string;
  /** Execution providers that ran kernels of this type. */
  providers: string[];
  /** Kernel calls per run (nodes of this type in the optimized graph). */
  calls: number;
  /** Mean kernel time per run, in ms. */
  ms: number;
  /** Share of the total kernel time of a run (0–1). */
  share: number;
}

/** A session that can report per-kernel timing (created with `profile: true`). */
interface ProfilingSession extends RuntimeSession {
  endProfiling(): Promise<KernelTime[]>;
}

function canProfile(session: RuntimeSession): session is ProfilingSession {
  return typeof (session as Partial<ProfilingSession>).endProfiling === 'function';
}

/**
 * Kernel timings of `runs` runs summarised by op type. Each run of a sequential graph reports the
 * same number of kernels, so the first `warmup` runs' events (allocation, kernel selection) are
 * dropped when the count divides evenly.
 */
export function summarizeKernelTimes(timings: readonly KernelTime[], runs: number, warmup = 0): OpTime[] {
  const total = runs + warmup;
  const perRun = timings.length / total;
  const kept = Number.isInteger(perRun) && warmup > 0 ? timings.slice(perRun * warmup) : timings;
  const counted = kept === timings ? total : runs;
  const byOp = new Map<string, { us: number; calls: number; providers: Set<string> }>();
  for (const t of kept) {
    const entry = byOp.get(t.op) ?? { us: 0, calls: 0, providers: new Set<string>() };
    entry.us += t.durationUs;
    entry.calls++;
    if (t.provider) entry.providers.add(t.provider);
    byOp.set(t.op, entry);
  }
  const sumUs = [...byOp.values()].reduce((a, e) => a + e.us, 0);
  return [...byOp.entries()]
    .map(([op, e]) => ({
      op,
      providers: [...e.providers].sort(),
      calls: e.calls / counted,
      ms: e.us / counted / 1000,
      share: sumUs > 0 ? e.us / sumUs : 0,
    }))
    .sort((a, b) => b.ms - a.ms || a.op.localeCompare(b.op));
}

/**
 * Per-operator timing of a model: a profiling session runs `feeds` `warmup + runs` times and the
 * profiler's kernel events are summarised by op type ({@link summarizeKernelTimes}). Profiling slows
 * a session down, so latency is never measured on this one.
 */
export async function profileOperators(
  runtime: Runtime,
  bytes: Uint8Array,
  feeds: Record<string, RtTensor>,
  options: {
    runs?: number;
    warmup?: number;
    external?: ReadonlyMap<string, Uint8Array>;
    signal?: AbortSignal;
  } = {},
): Promise<OpTime[]> {
  const runs = Math.max(1, options.runs ?? 10);
  const warmup = Math.max(0, options.warmup ?? 1);
  const session = await runtime.createSession(bytes, { externalData: options.external, profile: true });
  try {
    if (!canProfile(session)) throw new Error(`${runtime.name} does not report per-operator timing`);
    for (let i = 0; i < warmup + runs; i++) {
      options.signal?.throwIfAborted();
      await session.run(feeds);
    }
    return summarizeKernelTimes(await session.endProfiling(), runs, warmup);
  } finally {
    await session.release();
  }
}

export interface MeasureOptions {
  latencyRuns?: number;
  warmup?: number;
  signal?: AbortSignal;
  progress?: (done: number, total: number, note: string) => void;
  /** Also profile this many runs per operator type ({@link profileOperators}); 0 (default) skips it. */
  profileRuns?: number;
}

/** A copy of the model whose inputs declare the shapes actually fed, so symbolic dims resolve. */
function withConcreteInputs(model: Model, feeds: Record<string, RtTensor>): Model {
  const copy = new Model(model.toProto(), model.external);
  copy.graph.inputs = copy.graph.inputs.map((v) => {
    const t = feeds[v.name];
    const elemType = copy.graph.valueElemType(v.name);
    return t && elemType !== undefined ? valueInfo(v.name, elemType, t.dims) : v;
  });
  copy.graph.invalidate();
  return copy;
}

const floatOutputs = (outputs: Record<string, RtTensor>, names: readonly string[]) =>
  names.map((n) => outputs[n]);

/**
 * Measure a model the same way whatever stage produced it: size, compute, latency, accuracy and
 * fidelity to `reference` (the original model's outputs on the same evaluation set). Returns the
 * outputs too, so the original's become the reference.
 */
export async function measureModel(
  model: Model,
  bytes: Uint8Array,
  runtime: Runtime,
  evaluation: EvaluationSet,
  reference: RtTensor[][] | undefined,
  options: MeasureOptions = {},
): Promise<{ metrics: StageMetrics; outputs: RtTensor[][] }> {
  const size = sizeMetrics(model, bytes);
  const compute = computeMetrics(withConcreteInputs(model, evaluation.feeds[0] ?? {}).graph);
  const session = await runtime.createSession(bytes, { externalData: model.external });
  try {
    const outputs: RtTensor[][] = [];
    const fidelity = newFidelity();
    let correct = 0;
    let labeled = 0;
    const total = evaluation.feeds.length;
    for (let i = 0; i < total; i++) {
      options.signal?.throwIfAborted();
      const out = floatOutputs(await session.run(evaluation.feeds[i]), session.outputNames);
      outputs.push(out);
      if (reference) addFidelity(fidelity, reference[i], out);
      const label = evaluation.labels?.[i];
      if (label !== undefined && out[0] && !Array.isArray(out[0].data)) {
        labeled++;
        if (argmax(out[0].data as ArrayLike<number>) === label) correct++;
      }
      if (i % 50 === 0) options.progress?.(i, total, 'evaluating');
    }
    options.progress?.(total, total, 'measuring latency');
    const latency = await measureLatency(session, evaluation.feeds[0], {
      runs: options.latencyRuns ?? 20,
      warmup: options.warmup ?? 3,
      signal: options.signal,
    });
    const f = reference ? fidelityResult(fidelity) : { agreement: 1, sqnrDb: Infinity, maxAbsError: 0 };
    const opTimes = options.profileRuns
      ? await profileOperators(runtime, bytes, evaluation.feeds[0], {
          runs: options.profileRuns,
          external: model.external,
          signal: options.signal,
        })
      : undefined;
    return {
      outputs,
      metrics: {
        ...size,
        macs: compute.macs,
        peakActivationBytes: compute.peakActivationBytes,
        latency: { ...latency, backend: runtime.backend, threads: runtime.threads },
        accuracy: labeled ? correct / labeled : null,
        ...f,
        evaluatedSamples: total,
        inputsSource: evaluation.source,
        ...(opTimes ? { opTimes } : {}),
      },
    };
  } finally {
    await session.release();
  }
}
