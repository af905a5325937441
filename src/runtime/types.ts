import type { TypedArray } from '../onnx/dtype';

/** A tensor crossing the runtime boundary: onnxruntime's type string, dims and data. */
export interface RtTensor {
  /** onnxruntime type: 'float32', 'int64', 'uint8', 'bool', 'float16', ... */
  type: string;
  dims: readonly number[];
  data: TypedArray | string[];
}

export interface RuntimeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, RtTensor>, outputs?: readonly string[]): Promise<Record<string, RtTensor>>;
  release(): Promise<void>;
}

export interface SessionOptions {
  /** External-data files by the location the model names. */
  externalData?: ReadonlyMap<string, Uint8Array>;
  /** Collect per-operator timing (onnxruntime profiling). */
  profile?: boolean;
  /** false: load and check the graph without optimizing it (a quicker validity check). */
  optimize?: boolean;
}

/** onnxruntime behind one interface: web (wasm, webgpu) in the studio, node in tests and the CLI. */
export interface Runtime {
  /** 'onnxruntime-web' or 'onnxruntime-node'. */
  readonly name: string;
  /** Execution provider actually used: 'wasm', 'webgpu', 'cpu'. */
  readonly backend: string;
  /** Intra-op threads. */
  readonly threads: number;
  createSession(model: Uint8Array, options?: SessionOptions): Promise<RuntimeSession>;
}
