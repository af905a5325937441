import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { TypedArray } from '../onnx/dtype';
import type { Runtime, RuntimeSession, RtTensor, SessionOptions } from './types';

/** The time onnxruntime spent in one operator kernel during one run (from its profiler). */
export interface KernelTiming {
  /** Node name as in the model (onnxruntime names unnamed nodes itself). */
  node: string;
  op: string;
  /** Execution provider that ran the kernel, e.g. 'CPUExecutionProvider'. */
  provider: string;
  durationUs: number;
}

/** A session of the node runtime; with `profile: true`, {@link endProfiling} returns the kernel timings. */
export interface NodeRuntimeSession extends RuntimeSession {
  /** Stop profiling and return every kernel timing recorded since the session was created. */
  endProfiling(): Promise<KernelTiming[]>;
}

/** The onnxruntime-node runtime: CPU execution provider, `threads` intra-op threads. */
export interface NodeRuntime extends Runtime {
  /** onnxruntime-node's version, e.g. '1.30.0'. */
  readonly version: string;
  createSession(model: Uint8Array, options?: SessionOptions): Promise<NodeRuntimeSession>;
}

type Float16Like = ArrayLike<number> & ArrayBufferView;

/** RtTensor → ort.Tensor: same type string and the same data, without copying. */
export function toOrtTensor(name: string, t: RtTensor): ort.Tensor {
  try {
    if (Array.isArray(t.data)) {
      if (t.type !== 'string') throw new Error(`type ${t.type} with string data`);
      return new ort.Tensor('string', t.data, t.dims);
    }
    // The constructor's overloads tie each type string to its typed array; ort checks the pair at run time.
    return new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
  } catch (e) {
    throw new Error(`input "${name}": cannot make an onnxruntime tensor (${messageOf(e)})`);
  }
}

/** ort.Tensor → RtTensor; float16 comes back as its Uint16Array bits even where Float16Array exists. */
export function fromOrtTensor(name: string, value: ort.OnnxValue): RtTensor {
  if (!(value instanceof ort.Tensor))
    throw new Error(`output "${name}" is not a tensor; only tensor outputs are supported`);
  const dims = value.dims.map(Number);
  if (value.type === 'string') return { type: 'string', dims, data: [...(value.data as string[])] };
  let data = value.data as TypedArray | Float16Like;
  if (value.type === 'float16' && !(data instanceof Uint16Array)) {
    const bits = data as Float16Like;
    data = new Uint16Array(bits.buffer, bits.byteOffset, bits.byteLength / 2);
  }
  return { type: value.type, dims, data: data as TypedArray };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface KernelEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string; provider?: string };
}

/** Kernel events of an onnxruntime profile (Chrome trace JSON). */
export function parseOrtProfile(json: string): KernelTiming[] {
  const events = JSON.parse(json) as KernelEvent[];
  const timings: KernelTiming[] = [];
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
    timings.push({
      node: e.name.slice(0, -'_kernel_time'.length),
      op: e.args?.op_name ?? '',
      provider: e.args?.provider ?? '',
      durationUs: e.dur ?? 0,
    });
  }
  return timings;
}

class OrtNodeSession implements NodeRuntimeSession {
  private released = false;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly profileDir: string | undefined,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, RtTensor>, outputs?: readonly string[]): Promise<Record<string, RtTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(name, t);
    const results = outputs ? await this.session.run(ortFeeds, outputs) : await this.session.run(ortFeeds);
    const out: Record<string, RtTensor> = {};
    for (const [name, value] of Object.entries(results)) out[name] = fromOrtTensor(name, value);
    return out;
  }

  async endProfiling(): Promise<KernelTiming[]> {
    if (!this.profileDir) throw new Error('the session was created without profile: true');
    this.session.endProfiling();
    const files = readdirSync(this.profileDir).filter((f) => f.endsWith('.json'));
    const timings = files.flatMap((f) =>
      parseOrtProfile(readFileSync(path.join(this.profileDir!, f), 'utf8')),
    );
    rmSync(this.profileDir, { recursive: true, force: true });
    return timings;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
    if (this.profileDir) rmSync(this.profileDir, { recursive: true, force: true });
  }
}

/**
 * onnxruntime-node behind the {@link Runtime} interface (tests and the CLI). `threads` sets the
 * intra-op thread count; by default one per logical CPU.
 */
export function createNodeRuntime(options: { threads?: number } = {}): NodeRuntime {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`threads must be a positive integer, got ${threads}`);
  return {
    name: 'onnxruntime-node',
    version: ort.env.versions.node ?? ort.env.versions.common,
    backend: 'cpu',
    threads,
    async createSession(model: Uint8Array, sessionOptions: SessionOptions = {}): Promise<NodeRuntimeSession> {
      const profileDir = sessionOptions.profile
        ? mkdtempSync(path.join(tmpdir(), 'whittle-ort-profile-'))
        : undefined;
      const opts: ort.InferenceSession.SessionOptions = {
        executionProviders: ['cpu'],
        ...(sessionOptions.optimize === false ? { graphOptimizationLevel: 'disabled' as const } : {}),
        intraOpNumThreads: threads,
        // Failures reach the caller as rejections; onnxruntime's own log lines would only duplicate them.
        logSeverityLevel: 4,
      };
      if (sessionOptions.externalData?.size)
        opts.externalData = [...sessionOptions.externalData].map(([location, data]) => ({
          path: location,
          data,
        }));
      if (profileDir) {
        opts.enableProfiling = true;
        opts.profileFilePrefix = path.join(profileDir, 'ort');
      }
      try {
        return new OrtNodeSession(await ort.InferenceSession.create(model, opts), profileDir);
      } catch (e) {
        if (profileDir) rmSync(profileDir, { recursive: true, force: true });
        throw e;
      }
    },
  };
}
