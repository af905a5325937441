import { transfer } from 'comlink';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import {
  describeNode,
  summarizeGraph,
  summarizeModel,
  type GraphSummary,
  type ModelSummary,
  type NodeDetails,
} from '../onnx/summary';
import {
  isExternal,
  externalInfo,
  tensorBytes,
  tensorDims,
  tensorStats,
  tensorToFloat64,
  type TensorStats,
} from '../onnx/tensor';
import { dtypeName } from '../onnx/dtype';
import type { Node } from '../onnx/ir';
import { diffGraphs, type GraphDiff } from '../graph/overlay';
import { macsPerNode } from '../metrics/compute';
import { valueInfo } from '../onnx/builder';
import { bundleWithExternalData } from '../pipeline/exportBundle';
import { generateInputs } from '../runtime/inputs';
import { measureLatency } from '../runtime/latency';
import type { RtTensor, Runtime, RuntimeSession } from '../runtime/types';
import type { WebBackend, WebCapabilities } from '../runtime/web';

/** A scale / zero-point pair of a quantization node, summarized. */
export interface QuantParamSummary {
  /** What it quantizes: 'x', 'w', 'y', … (the node's input it belongs to). */
  role: string;
  /** 'per-tensor', 'per-channel (axis 0, 16 channels)' or 'block-wise (axis 1, block 32)'. */
  granularity: string;
  scale: { count: number; min: number; max: number; first: number[] };
  zeroPoint: { dtype: string; count: number; min: number; max: number } | null;
}

/** What the inspector shows for QuantizeLinear / DequantizeLinear / QLinear* nodes. */
export interface QuantDetails {
  params: QuantParamSummary[];
  /** For a DequantizeLinear of a stored integer weight: its integer values, and those values dequantized. */
  quantized?: TensorStats;
  dequantized?: TensorStats;
  /** The float weight it was made from, when the opened model has it. */
  original?: TensorStats;
  originalName?: string;
}

/**
 * Inspector details of a node, with quantization parameters for quantization nodes and its
 * multiply-accumulates (null when a shape it needs is unknown).
 */
export type NodeDetailsWithQuant = NodeDetails & { quant?: QuantDetails; macs?: number | null };

/** MACs of every node of the model on screen, by node index (`n<i>`); NaN where unknown. */
export type NodeCostsResult = { ok: true; macs: Float64Array } | { ok: false; error: string };

/** Which of two compared models the graph shows: the earlier (`from`) or the later (`to`). */
export type CompareSide = 'from' | 'to';

/** Two models to compare, summarized, with the differences between them (from → to). */
export type CompareResult =
  { ok: true; from: GraphSummary; to: GraphSummary; diff: GraphDiff } | { ok: false; error: string };

/** Inputs of QLinear* operators that are (scale, zero point) pairs, with the role they quantize. */
const qlinearPairs: Record<string, [number, number, string][]> = {
  QLinearConv: [
    [1, 2, 'x'],
    [4, 5, 'w'],
    [6, 7, 'y'],
  ],
  QLinearMatMul: [
    [1, 2, 'a'],
    [4, 5, 'b'],
    [6, 7, 'y'],
  ],
  QGemm: [
    [1, 2, 'a'],
    [4, 5, 'b'],
    [7, 8, 'y'],
  ],
};

function isQuantNode(n: Node): boolean {
  return (
    n.opType === 'QuantizeLinear' ||
    n.opType === 'DequantizeLinear' ||
    n.opType.startsWith('QLinear') ||
    n.opType === 'QGemm'
  );
}

function range(values: Float64Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** Per-element index into a scale tensor: per-tensor, per-axis, or block-wise along `axis`. */
function scaleIndexer(dims: number[], scaleDims: number[], axis: number, blockSize: number) {
  const scaleCount = scaleDims.reduce((a, b) => a * b, 1);
  if (scaleCount === 1) return () => 0;
  const ax = axis < 0 ? axis + dims.length : axis;
  const inner = dims.slice(ax + 1).reduce((a, b) => a * b, 1);
  const d = dims[ax];
  if (blockSize <= 0) return (i: number) => Math.floor(i / inner) % d;
  const ds = scaleDims[ax];
  return (i: number) => {
    const c = Math.floor(i / inner) % d;
    const outer = Math.floor(i / (inner * d));
    return (outer * ds + Math.floor(c / blockSize)) * inner + (i % inner);
  };
}

/** Scale / zero point and (for a stored weight) the dequantized values of a quantization node. */
export function quantDetails(model: Model, node: Node, opened?: Model): QuantDetails | undefined {
  if (!isQuantNode(node)) return undefined;
  const g = model.graph;
  const init = (name: string | undefined) => (name ? g.initializers.get(name) : undefined);
  const axis = node.attrInt('axis', 1);
  const blockSize = node.attrInt('block_size', 0);
  const pairs: [number, number, string][] =
    node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear'
      ? [[1, 2, node.opType === 'QuantizeLinear' ? 'y' : 'x']]
      : (qlinearPairs[node.opType] ??
          // QLinearAdd / QLinearMul / … (com.microsoft): A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp.
          [
            [1, 2, 'a'],
            [4, 5, 'b'],
            [6, 7, 'y'],
          ]);
  const params: QuantParamSummary[] = [];
  for (const [si, zi, role] of pairs) {
    const scale = init(node.inputs[si]);
    if (!scale) continue;
    const sv = tensorToFloat64(scale, model.external);
    const sdims = tensorDims(scale);
    const zp = init(node.inputs[zi]);
    const zv = zp ? tensorToFloat64(zp, model.external) : undefined;
    const granularity =
      sv.length === 1
        ? 'per-tensor'
        : blockSize > 0
          ? `block-wise (axis ${axis}, block ${blockSize}, ${sv.length} scales)`
          : `per-channel (axis ${sdims.length === 1 ? axis : '?'}, ${sv.length} channels)`;
    params.push({
      role,
      granularity,
      scale: { count: sv.length, ...range(sv), first: [...sv.slice(0, 4)] },
      zeroPoint: zp && zv ? { dtype: dtypeName(zp.dataType), count: zv.length, ...range(zv) } : null,
    });
  }
  const out: QuantDetails = { params };
  const weight = node.opType === 'DequantizeLinear' ? init(node.inputs[0]) : undefined;
  const scale = init(node.inputs[1]);
  if (weight && scale) {
    const q = tensorToFloat64(weight, model.external);
    const s = tensorToFloat64(scale, model.external);
    const zpT = init(node.inputs[2]);
    const z = zpT ? tensorToFloat64(zpT, model.external) : undefined;
    const index = scaleIndexer(tensorDims(weight), tensorDims(scale), axis, blockSize);
    const deq = new Float64Array(q.length);
    for (let i = 0; i < q.length; i++) {
      const k = index(i);
      deq[i] = (q[i] - (z ? z[k] : 0)) * s[k];
    }
    out.quantized = tensorStats(q);
    out.dequantized = tensorStats(deq);
    const originalName = weight.name.replace(/_(u?int(4|8|16)|float8\w*)$/, '');
    const original = originalName !== weight.name ? opened?.graph.initializers.get(originalName) : undefined;
    if (original && tensorToFloat64(original, opened?.external).length === q.length) {
      out.original = tensorStats(tensorToFloat64(original, opened?.external));
      out.originalName = originalName;
    }
  }
  return out;
}

/** A file handed to the service: its name and its bytes. */
export interface OpenFile {
  name: string;
  bytes: Uint8Array;
}

export type OpenResult =
  | {
      ok: true;
      fileName: string;
      summary: ModelSummary;
      graph: GraphSummary;
      /** Validation warnings (e.g. an old opset). */
      warnings: string[];
      /** Names of the files used as external data. */
      externalFiles: string[];
      /** Time to decode, validate and summarize, in ms. */
      parseMs: number;
    }
  | { ok: false; error: string };

export interface RunRequest {
  backend: WebBackend;
  /** Sizes for symbolic dimensions, by name. */
  dims: Record<string, number>;
  runs: number;
  warmup: number;
}

export interface OutputPreview {
  name: string;
  type: string;
  dims: number[];
  /** The first values, as numbers. */
  preview: number[];
}

export type RunResult =
  | {
      ok: true;
      backend: string;
      threads: number;
      latency: {
        medianMs: number;
        p95Ms: number;
        minMs: number;
        meanMs: number;
        runs: number;
        warmup: number;
      };
      /** Time to create the inference session, in ms (0 when it was reused). */
      sessionMs: number;
      outputs: OutputPreview[];
    }
  | { ok: false; error: string };

export type ExportResult = { ok: true; fileName: string; bytes: Uint8Array } | { ok: false; error: string };

/** The opened model's files (the `.onnx` first, then its external-data files), as copies. */
export type SourceFilesResult =
  { ok: true; fileName: string; files: OpenFile[] } | { ok: false; error: string };

/** A derived model (a pipeline stage's output) shown in the graph instead of the opened one. */
export type ViewResult =
  { ok: true; fileName: string; graph: GraphSummary; summary: ModelSummary } | { ok: false; error: string };

/** Creates the runtime for a backend (onnxruntime-web in the studio). */
export type RuntimeFactory = (backend: WebBackend) => Promise<Runtime>;

export interface ModelServiceOptions {
  runtime?: RuntimeFactory;
  capabilities?: () => Promise<WebCapabilities>;
}

interface Viewed {
  fileName: string;
  model: Model;
}

interface Current {
  fileName: string;
  bytes: Uint8Array;
  external: Map<string, Uint8Array>;
  model: Model;
  summary: ModelSummary;
  version: number;
}

const PREVIEW_VALUES = 8;

/**
 * The model with every symbolic or unknown input dimension at 1 (one sample), so that shapes and
 * MACs are concrete as the pipeline measures them; the model itself when its inputs are fixed.
 */
function withUnitDims(model: Model): Model {
  const g = model.graph;
  const fixed = g
    .feedInputs()
    .every((v) => (g.valueShape(v.name) ?? []).every((d) => typeof d === 'number' && d >= 0));
  if (fixed) return model;
  const copy = new Model(model.toProto(), model.external);
  const cg = copy.graph;
  cg.inputs = cg.inputs.map((v) => {
    const shape = cg.valueShape(v.name);
    const elemType = cg.valueElemType(v.name);
    if (cg.initializers.has(v.name) || !shape || elemType === undefined) return v;
    return valueInfo(
      v.name,
      elemType,
      shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1)),
    );
  });
  cg.invalidate();
  return copy;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function previewValues(t: RtTensor): number[] {
  const out: number[] = [];
  const n = Math.min(PREVIEW_VALUES, t.data.length);
  for (let i = 0; i < n; i++) {
    const v = t.data[i];
    out.push(typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : NaN);
  }
  return out;
}

/**
 * The studio's model service: owns the parsed model, answers the page with summaries and numbers.
 * The model worker exposes one instance through comlink; tests use it in-process. No method throws:
 * failures come back as `{ ok: false, error }` and leave the current model as it was.
 */
export class ModelService {
  private current: Current | undefined;
  /** A stage model shown in the graph; node details then describe it. */
  private viewed: Viewed | undefined;
  /** Two models compared in the graph (before/after); node details describe the side shown. */
  private compared: { from: Model; to: Model; side: CompareSide } | undefined;
  /** Per-node MACs of each model, computed on first request. */
  private macs = new WeakMap<Model, Float64Array>();
  private versions = 0;
  private sessions = new Map<WebBackend, { version: number; session: RuntimeSession }>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ModelServiceOptions = {}) {}

  /** Run operations one after another, so a run never sees a model swapped underneath it. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** What the browser offers (threads, WebGPU); a Node caller gets WASM-only defaults. */
  async capabilities(): Promise<WebCapabilities> {
    if (this.options.capabilities) return this.options.capabilities();
    return {
      crossOriginIsolated: false,
      hardwareConcurrency: 1,
      threads: 1,
      webgpu: { available: false, reason: 'No WebGPU runtime in this environment.' },
    };
  }

  /**
   * Open a model: the `.onnx` file among `files`, the others serving as its external-data files by
   * name. Decodes, validates and summarizes; on failure the previous model stays current.
   */
  open(files: OpenFile[]): Promise<OpenResult> {
    return this.serial(async () => this.openNow(files));
  }

  /** Open `File`s (from a file input or a drop), reading them here rather than on the page. */
  async openFiles(files: readonly File[]): Promise<OpenResult> {
    try {
      const read = await Promise.all(
        files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })),
      );
      return await this.open(read);
    } catch (e) {
      return { ok: false, error: `Could not read the file: ${errorMessage(e)}` };
    }
  }

  /** Fetch a model (the bundled sample) and open it. */
  async openUrl(url: string): Promise<OpenResult> {
    const name = decodeURIComponent(new URL(url).pathname.split('/').pop() || 'model.onnx');
    try {
      const response = await fetch(url);
      if (!response.ok) return { ok: false, error: `Could not load ${name}: HTTP ${response.status}.` };
      const type = response.headers.get('content-type') ?? '';
      if (type.includes('text/html'))
        return { ok: false, error: `Could not load ${name}: the server has no such file.` };
      return await this.open([{ name, bytes: new Uint8Array(await response.arrayBuffer()) }]);
    } catch (e) {
      return { ok: false, error: `Could not load ${name}: ${errorMessage(e)}` };
    }
  }

  private async openNow(files: OpenFile[]): Promise<OpenResult> {
    const started = performance.now();
    try {
      if (files.length === 0) return { ok: false, error: 'No file was given.' };
      const onnx = files.filter((f) => /\.onnx$/i.test(f.name));
      let main: OpenFile;
      if (onnx.length === 1) main = onnx[0];
      else if (onnx.length > 1)
        return {
          ok: false,
          error: `Open one model at a time: ${onnx.map((f) => f.name).join(', ')} are all .onnx files.`,
        };
      else if (files.length === 1) main = files[0];
      else
        return {
          ok: false,
          error: `None of the files is an .onnx model (${files.map((f) => f.name).join(', ')}).`,
        };

      const external = new Map<string, Uint8Array>();
      for (const f of files) if (f !== main) external.set(f.name, f.bytes);

      let model: Model;
      try {
        model = Model.decode(main.bytes, external);
      } catch (e) {
        return { ok: false, error: `${main.name}: ${errorMessage(e)}` };
      }
      let warnings: string[];
      try {
        warnings = checkModel(model).map((w) => w.message);
      } catch (e) {
        return { ok: false, error: `${main.name}: ${errorMessage(e)}` };
      }
      const externalError = this.checkExternalData(model, main.name);
      if (externalError) return { ok: false, error: externalError };

      const summary = summarizeModel(model, main.bytes.byteLength);
      const graph = summarizeGraph(model.graph);
      await this.releaseSessions();
      this.viewed = undefined;
      this.compared = undefined;
      this.current = {
        fileName: main.name,
        bytes: main.bytes,
        external,
        model,
        summary,
        version: ++this.versions,
      };
      return {
        ok: true,
        fileName: main.name,
        summary,
        graph,
        warnings,
        externalFiles: [...external.keys()],
        parseMs: performance.now() - started,
      };
    } catch (e) {
      return { ok: false, error: `${files[0]?.name ?? 'model'}: ${errorMessage(e)}` };
    }
  }

  /** Every external tensor must find its bytes among the opened files. */
  private checkExternalData(model: Model, fileName: string): string | undefined {
    const missing = new Set<string>();
    for (const g of model.graph.allGraphs())
      for (const t of g.initializers.values()) {
        if (!isExternal(t)) continue;
        try {
          tensorBytes(t, model.external);
        } catch (e) {
          const { location } = externalInfo(t);
          if (!model.external.has(location) && !model.external.has(location.split('/').pop() ?? location))
            missing.add(location);
          else return `${fileName}: ${errorMessage(e)}`;
        }
      }
    if (missing.size === 0) return undefined;
    const names = [...missing].map((m) => `"${m}"`).join(', ');
    return `${fileName} keeps its weights in ${names}, which ${missing.size > 1 ? 'were' : 'was'} not opened with it: open the model and its data file${missing.size > 1 ? 's' : ''} together.`;
  }

  /** The current model's summary, or undefined before any model is open. */
  currentSummary(): { fileName: string; summary: ModelSummary } | undefined {
    return this.current && { fileName: this.current.fileName, summary: this.current.summary };
  }

  /** Inspector details for a node of the main graph (`n<index>`), weight statistics included. */
  nodeDetails(id: string): NodeDetailsWithQuant | null {
    const model = this.shownModel();
    if (!model) return null;
    try {
      const details = describeNode(model, id);
      if (!details) return null;
      const index = Number(id.replace(/^n/, ''));
      const node = model.graph.nodes[index];
      const quant = node ? quantDetails(model, node, this.current?.model) : undefined;
      const macs = this.macsOf(model)[index];
      return { ...details, ...(quant ? { quant } : {}), macs: Number.isNaN(macs) ? null : macs };
    } catch {
      return null;
    }
  }

  /** The model the graph shows: a compared side, a stage model, or the opened model. */
  private shownModel(): Model | undefined {
    if (this.compared) return this.compared[this.compared.side];
    return this.viewed?.model ?? this.current?.model;
  }

  /**
   * Per-node MACs of a model for one sample (symbolic input dimensions at 1), inferred once per
   * model: shape inference is the costly part.
   */
  private macsOf(model: Model): Float64Array {
    let macs = this.macs.get(model);
    if (!macs) {
      try {
        macs = macsPerNode(withUnitDims(model).graph);
      } catch {
        macs = new Float64Array(model.graph.nodes.length).fill(NaN);
      }
      this.macs.set(model, macs);
    }
    return macs;
  }

  /**
   * MACs of every node of the model on screen, by node index: one compact array (8 bytes a node),
   * transferred, for the graph view's cost labels.
   */
  nodeCosts(): NodeCostsResult {
    const model = this.shownModel();
    if (!model) return { ok: false, error: 'Open a model first.' };
    const macs = this.macsOf(model).slice();
    return transfer({ ok: true, macs }, [macs.buffer]);
  }

  /**
   * Compare two models (pipeline stages, sharing the opened model's external data; `null` is the
   * opened model): both graphs summarized and their differences. The graph then shows the `from`
   * side (see {@link compareSide}) until the comparison ends.
   */
  compare(from: OpenFile | null, to: OpenFile | null): CompareResult {
    const current = this.current;
    if (!current) return { ok: false, error: 'Open a model first.' };
    try {
      const load = (f: OpenFile | null) => (f ? Model.decode(f.bytes, current.external) : current.model);
      const a = load(from);
      const b = load(to);
      const diff = diffGraphs(a.graph, b.graph, { before: a.external, after: b.external });
      this.compared = { from: a, to: b, side: 'from' };
      return { ok: true, from: summarizeGraph(a.graph), to: summarizeGraph(b.graph), diff };
    } catch (e) {
      return { ok: false, error: `Could not compare: ${errorMessage(e)}` };
    }
  }

  /** Show one side of the comparison (node details and costs then describe it); null ends it. */
  compareSide(side: CompareSide | null): boolean {
    if (side === null) this.compared = undefined;
    else if (this.compared) this.compared.side = side;
    else return false;
    return true;
  }

  /**
   * Show a derived model (a pipeline stage's output, sharing the opened model's external data) in
   * place of the opened one: its graph comes back and node details describe it. `null` returns to
   * the opened model. Runs and exports keep using the opened model.
   */
  view(file: OpenFile | null): ViewResult {
    const current = this.current;
    if (!current) return { ok: false, error: 'Open a model first.' };
    this.compared = undefined;
    if (!file) {
      this.viewed = undefined;
      return {
        ok: true,
        fileName: current.fileName,
        graph: summarizeGraph(current.model.graph),
        summary: current.summary,
      };
    }
    try {
      const model = Model.decode(file.bytes, current.external);
      this.viewed = { fileName: file.name, model };
      return {
        ok: true,
        fileName: file.name,
        graph: summarizeGraph(model.graph),
        summary: summarizeModel(model, file.bytes.byteLength),
      };
    } catch (e) {
      return { ok: false, error: `${file.name}: ${errorMessage(e)}` };
    }
  }

  /** Copies of the opened model's files, transferred, for the pipeline worker and the saved session. */
  sourceFiles(): SourceFilesResult {
    const current = this.current;
    if (!current) return { ok: false, error: 'There is no model open.' };
    const files: OpenFile[] = [
      { name: current.fileName, bytes: current.bytes.slice() },
      ...[...current.external].map(([name, bytes]) => ({ name, bytes: bytes.slice() })),
    ];
    return transfer(
      { ok: true, fileName: current.fileName, files },
      files.map((f) => f.bytes.buffer as ArrayBuffer),
    );
  }

  /** Run the current model on generated inputs and measure its latency. */
  run(request: RunRequest): Promise<RunResult> {
    return this.serial(async () => {
      const current = this.current;
      if (!current) return { ok: false, error: 'Open a model before running it.' };
      if (!this.options.runtime) return { ok: false, error: 'No runtime is available here.' };
      try {
        const runtime = await this.options.runtime(request.backend);
        let sessionMs = 0;
        let cached = this.sessions.get(request.backend);
        if (!cached || cached.version !== current.version) {
          await cached?.session.release().catch(() => undefined);
          const t0 = performance.now();
          const session = await runtime.createSession(current.bytes, {
            externalData: this.externalDataByLocation(current),
          });
          sessionMs = performance.now() - t0;
          cached = { version: current.version, session };
          this.sessions.set(request.backend, cached);
        }
        const feeds = generateInputs(current.summary.inputs, request.dims);
        const first = await cached.session.run(feeds);
        const latency = await measureLatency(cached.session, feeds, {
          runs: Math.max(1, Math.round(request.runs)),
          warmup: Math.max(0, Math.round(request.warmup)),
        });
        return {
          ok: true,
          backend: runtime.backend,
          threads: runtime.threads,
          latency,
          sessionMs,
          outputs: Object.entries(first).map(([name, t]) => ({
            name,
            type: t.type,
            dims: [...t.dims],
            preview: previewValues(t),
          })),
        };
      } catch (e) {
        return {
          ok: false,
          error: `Running ${current.fileName} on ${request.backend} failed: ${errorMessage(e)}`,
        };
      }
    });
  }

  /** External files keyed by the locations the model names, as onnxruntime looks them up. */
  private externalDataByLocation(current: Current): Map<string, Uint8Array> {
    const byLocation = new Map<string, Uint8Array>();
    for (const location of current.summary.externalFiles) {
      const file =
        current.external.get(location) ?? current.external.get(location.split('/').pop() ?? location);
      if (file) byLocation.set(location, file);
    }
    return byLocation;
  }

  private async releaseSessions(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.session.release().catch(() => undefined)));
  }

  /**
   * The current model's file. Unmodified models come back byte for byte as they were opened; the bytes
   * are a copy transferred (not cloned) to the caller.
   */
  exportModel(): ExportResult {
    if (!this.current) return { ok: false, error: 'There is no model to export.' };
    // A model with external data downloads as one .zip of the .onnx (bytes unchanged) and its data files.
    const out = bundleWithExternalData(this.current.fileName, this.current.bytes, this.current.external);
    const bytes = out.bytes === this.current.bytes ? out.bytes.slice() : out.bytes;
    return transfer({ ok: true, fileName: out.fileName, bytes }, [bytes.buffer as ArrayBuffer]);
  }
}
