import type * as OrtWeb from 'onnxruntime-web';
import type { TypedArray } from '../onnx/dtype';
import type { Runtime, RuntimeSession, RtTensor, SessionOptions } from './types';

/** Execution providers the studio offers. */
export type WebBackend = 'wasm' | 'webgpu';

/** What this browser offers, as the run panel shows it. */
export interface WebCapabilities {
  /** The page is cross-origin isolated, so WASM may use threads. */
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  /** WASM threads the runtime will ask for. */
  threads: number;
  webgpu: WebGpuAvailability;
}

export interface WebGpuAvailability {
  available: boolean;
  /** Why WebGPU cannot be used, when it cannot. */
  reason?: string;
  /** Adapter vendor / architecture / description, when known. */
  adapter?: string;
}

type OrtModule = typeof OrtWeb;

/** The minimal WebGPU surface used here (TypeScript's DOM library has no WebGPU types). */
interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(): Promise<GpuAdapterLike | null>;
}

function gpu(): GpuLike | undefined {
  return (globalThis.navigator as (Navigator & { gpu?: GpuLike }) | undefined)?.gpu;
}

/**
 * Threads for onnxruntime's WASM backend: min(4, cores) when the page is cross-origin isolated
 * (SharedArrayBuffer available), otherwise 1.
 */
export function wasmThreadCount(): number {
  if (!globalThis.crossOriginIsolated) return 1;
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(4, cores));
}

let gpuAvailability: Promise<WebGpuAvailability> | undefined;

/** WebGPU is usable only when `navigator.gpu` exists and hands out an adapter. */
export function webGpuAvailability(): Promise<WebGpuAvailability> {
  gpuAvailability ??= (async () => {
    const g = gpu();
    if (!g)
      return { available: false, reason: 'This browser does not expose WebGPU (navigator.gpu is missing).' };
    try {
      const adapter = await g.requestAdapter();
      if (!adapter)
        return { available: false, reason: 'The browser exposes WebGPU but offers no GPU adapter.' };
      const i = adapter.info ?? {};
      const label = [i.vendor, i.architecture, i.description || i.device].filter(Boolean).join(' ');
      return { available: true, adapter: label || (adapter.isFallbackAdapter ? 'fallback adapter' : 'GPU') };
    } catch (e) {
      return { available: false, reason: `Requesting a WebGPU adapter failed: ${message(e)}` };
    }
  })();
  return gpuAvailability;
}

export async function webCapabilities(): Promise<WebCapabilities> {
  return {
    crossOriginIsolated: Boolean(globalThis.crossOriginIsolated),
    hardwareConcurrency: globalThis.navigator?.hardwareConcurrency ?? 1,
    threads: wasmThreadCount(),
    webgpu: await webGpuAvailability(),
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Each backend loads its own onnxruntime-web build, imported dynamically so the studio downloads the
 * 14 MB WASM binary for CPU runs and the 27 MB WebGPU one only when WebGPU is chosen. A static
 * import inside a multithreaded worker hung in production builds (ARCHITECTURE.md).
 */
const loaders: Record<WebBackend, () => Promise<OrtModule>> = {
  wasm: () => import('onnxruntime-web/wasm'),
  webgpu: () => import('onnxruntime-web/webgpu'),
};

/** One kernel execution from onnxruntime-web's profiler (the shape the node runtime reports too). */
export interface WebKernelTiming {
  node: string;
  op: string;
  provider: string;
  durationUs: number;
}

/**
 * onnxruntime-web has no API that returns a profile: `endProfiling()` prints the Chrome-trace JSON
 * through the `console.log` its WASM glue bound when it loaded. So `console.log` is wrapped before
 * the runtime is imported, and lines printed while a profile is collected go to that profile.
 */
let profileLines: string[] | null = null;
let consoleWrapped = false;

function wrapConsoleLog(): void {
  if (consoleWrapped) return;
  consoleWrapped = true;
  const log = console.log.bind(console);
  console.log = (...args: unknown[]) => {
    if (profileLines) profileLines.push(args.map(String).join(' '));
    else log(...args);
  };
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string; provider?: string };
}

/** Kernel events of onnxruntime's Chrome-trace profile, printed one event per line. */
export function parseProfileLines(lines: readonly string[]): WebKernelTiming[] {
  const timings: WebKernelTiming[] = [];
  for (const raw of lines.flatMap((l) => l.split('\n'))) {
    const line = raw.trim().replace(/,$/, '');
    if (!line.startsWith('{') || !line.includes('_kernel_time')) continue;
    let e: TraceEvent;
    try {
      e = JSON.parse(line) as TraceEvent;
    } catch {
      continue;
    }
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

function toOrtTensor(ort: OrtModule, t: RtTensor): OrtWeb.Tensor {
  return new ort.Tensor(t.type as OrtWeb.Tensor.Type, t.data as TypedArray, t.dims);
}

function fromOrtTensor(t: OrtWeb.Tensor): RtTensor {
  return { type: t.type, dims: [...t.dims], data: t.data as TypedArray | string[] };
}

class WebSession implements RuntimeSession {
  constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtWeb.InferenceSession,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, RtTensor>, outputs?: readonly string[]): Promise<Record<string, RtTensor>> {
    const ortFeeds: Record<string, OrtWeb.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(this.ort, t);
    const result = outputs ? await this.session.run(ortFeeds, outputs) : await this.session.run(ortFeeds);
    const out: Record<string, RtTensor> = {};
    for (const [name, t] of Object.entries(result)) out[name] = fromOrtTensor(t);
    return out;
  }

  /** Stop profiling and return the kernel timings (for a session created with `profile: true`). */
  async endProfiling(): Promise<WebKernelTiming[]> {
    const lines: string[] = [];
    profileLines = lines;
    try {
      this.session.endProfiling();
      // The profile is printed synchronously; one macrotask lets a buffered tail flush too.
      await new Promise((resolve) => setTimeout(resolve, 0));
    } finally {
      profileLines = null;
    }
    return parseProfileLines(lines);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

class WebRuntime implements Runtime {
  readonly name = 'onnxruntime-web';

  constructor(
    private readonly ort: OrtModule,
    readonly backend: WebBackend,
  ) {}

  /** Threads actually used: onnxruntime resets the setting to 1 when threads are unavailable. */
  get threads(): number {
    return this.ort.env.wasm.numThreads ?? 1;
  }

  async createSession(model: Uint8Array, options: SessionOptions = {}): Promise<RuntimeSession> {
    const externalData = [...(options.externalData ?? new Map<string, Uint8Array>())].map(([path, data]) => ({
      path,
      data,
    }));
    const session = await this.ort.InferenceSession.create(model, {
      executionProviders: [this.backend],
      graphOptimizationLevel: options.optimize === false ? 'disabled' : 'all',
      logSeverityLevel: 3,
      enableProfiling: options.profile ?? false,
      externalData,
    });
    return new WebSession(this.ort, session);
  }
}

const runtimes = new Map<WebBackend, Promise<Runtime>>();

/**
 * onnxruntime-web on the given backend. WebGPU is refused with a reason when the browser offers no
 * adapter; WASM uses {@link wasmThreadCount} threads.
 */
export function createWebRuntime(backend: WebBackend): Promise<Runtime> {
  let runtime = runtimes.get(backend);
  if (!runtime) {
    runtime = (async () => {
      if (backend === 'webgpu') {
        const gpuState = await webGpuAvailability();
        if (!gpuState.available) throw new Error(`WebGPU is not available: ${gpuState.reason}`);
      }
      wrapConsoleLog();
      const ort = await loaders[backend]();
      ort.env.wasm.numThreads = wasmThreadCount();
      // Already inside a worker: no proxy worker on top of it.
      ort.env.wasm.proxy = false;
      ort.env.logLevel = 'error';
      return new WebRuntime(ort, backend);
    })();
    runtimes.set(backend, runtime);
    runtime.catch(() => runtimes.delete(backend));
  }
  return runtime;
}
