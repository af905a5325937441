import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { decodeModelProto, decodeTensorProto, encodeModelProto, encodeTensorProto } from '../codec';
import { dtypeName } from '../dtype';
import { tensorToFloat64 } from '../tensor';
import { Model } from '../ir';
import type { TensorProto, TypeProto } from '../proto/onnx_pb';
import {
  type MapProto,
  MapProtoSchema,
  type OptionalProto,
  OptionalProtoSchema,
  type SequenceProto,
  SequenceProtoSchema,
} from './onnx_data_pb';
import { type TensorDigest, tensorDigest } from './digest';
import { UnsupportedOrtTypeError, tensorMismatch, toOrtTensor } from './ortTensors';

/** Debian's libonnx-testdata: ONNX's backend test data (1.12), one folder per test model. */
export const conformanceRoot = '/usr/share/libonnx-testdata/data';
/** The suites with recorded inputs and outputs that run offline (`real/` needs downloaded weights). */
export const conformanceSuites = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'] as const;

export interface ConformanceCase {
  suite: string;
  name: string;
  dir: string;
}

/** Every test model folder (one holding model.onnx) of the given suites; none when the data is absent. */
export function listConformanceCases(
  root = conformanceRoot,
  suites: readonly string[] = conformanceSuites,
): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  for (const suite of suites) {
    const suiteDir = path.join(root, suite);
    if (!existsSync(suiteDir)) continue;
    for (const name of readdirSync(suiteDir).sort()) {
      const dir = path.join(suiteDir, name);
      if (existsSync(path.join(dir, 'model.onnx'))) cases.push({ suite, name, dir });
    }
  }
  return cases;
}

/** A recorded test value: ONNX writes tensors as TensorProto and other values with onnx-data.proto. */
export type TestValue =
  | { kind: 'tensor'; tensor: TensorProto }
  | { kind: 'sequence'; sequence: SequenceProto }
  | { kind: 'optional'; optional: OptionalProto }
  | { kind: 'map'; map: MapProto };

/**
 * Decode an `input_*.pb` / `output_*.pb` file the way ONNX's backend test runner does: the declared
 * type of the matching graph input or output says which message the file holds.
 */
export function decodeTestValue(bytes: Uint8Array, type: TypeProto | undefined): TestValue {
  const opts = { readUnknownFields: true };
  switch (type?.value.case) {
    case 'sequenceType':
      return { kind: 'sequence', sequence: fromBinary(SequenceProtoSchema, bytes, opts) };
    case 'optionalType':
      return { kind: 'optional', optional: fromBinary(OptionalProtoSchema, bytes, opts) };
    case 'mapType':
      return { kind: 'map', map: fromBinary(MapProtoSchema, bytes, opts) };
    default:
      return { kind: 'tensor', tensor: decodeTensorProto(bytes) };
  }
}

/** Serialize a test value again (to check the decode was lossless). */
export function encodeTestValue(value: TestValue): Uint8Array {
  const opts = { writeUnknownFields: true };
  switch (value.kind) {
    case 'tensor':
      return encodeTensorProto(value.tensor);
    case 'sequence':
      return toBinary(SequenceProtoSchema, value.sequence, opts);
    case 'optional':
      return toBinary(OptionalProtoSchema, value.optional, opts);
    case 'map':
      return toBinary(MapProtoSchema, value.map, opts);
  }
}

/** Every TensorProto a test value holds (sequence elements, an optional's content), for element checks. */
export function tensorsOf(value: TestValue): TensorProto[] {
  switch (value.kind) {
    case 'tensor':
      return [value.tensor];
    case 'sequence':
      return [
        ...value.sequence.tensorValues,
        ...value.sequence.sequenceValues.flatMap((s) => tensorsOf({ kind: 'sequence', sequence: s })),
      ];
    case 'optional':
      return value.optional.tensorValue
        ? [value.optional.tensorValue]
        : value.optional.sequenceValue
          ? tensorsOf({ kind: 'sequence', sequence: value.optional.sequenceValue })
          : [];
    case 'map':
      return value.map.values ? tensorsOf({ kind: 'sequence', sequence: value.map.values }) : [];
  }
}

/** What happened when the re-encoded model ran in onnxruntime-node. */
export type RunOutcome =
  'match' | 'mismatch' | 'session-failed' | 'run-failed' | 'not-comparable' | 'skipped-decode-failed';

export interface CaseResult {
  case: ConformanceCase;
  decoded: boolean;
  decodeError?: string;
  /** decode → encode of the ModelProto gives the file's bytes. */
  byteIdentical: boolean;
  /** decode → IR (Model) → encode gives the file's bytes. */
  irByteIdentical: boolean;
  valueFiles: number;
  /** .pb files decoded (as TensorProto, or SequenceProto/OptionalProto where the type says so). */
  valuesDecoded: number;
  /** .pb files whose decoded message re-encodes to the same bytes. */
  valuesByteIdentical: number;
  /** Decoded .pb files by message: TensorProto, or SequenceProto/OptionalProto/MapProto. */
  valueKinds: Record<TestValue['kind'], number>;
  /** TensorProto files turned into an ort.Tensor, and those whose element type onnxruntime-js lacks. */
  tensorsToOrt: number;
  tensorsOrtUnsupported: number;
  /** Problems with the .pb files: not decodable, not byte-identical, or elements that cannot be read. */
  valueFailures: string[];
  /** Digests of the tensors each decoded .pb file holds, to compare with ONNX's Python package. */
  valueDigests: { path: string; kind: 'tensor' | 'sequence' | 'optional'; digests: TensorDigest[] }[];
  sessionCreated: boolean;
  outcome: RunOutcome;
  category?: string;
  detail?: string;
}

/**
 * Tests whose recorded outputs onnxruntime is known not to reproduce, and why. Only outputs that
 * differ are explained by this list; it skips nothing.
 */
export const knownMismatches: readonly { pattern: RegExp; reason: string }[] = [
  {
    pattern: /^test_bernoulli/,
    reason: 'random output: Bernoulli draws its own samples, not the numpy draws recorded',
  },
  {
    pattern: /^test_training_dropout/,
    reason: 'random output: Dropout in training mode draws its own mask',
  },
  {
    pattern: /^test_castlike_FLOAT_to_STRING|^test_cast_FLOAT_to_STRING/,
    reason:
      'float-to-string formatting: onnxruntime prints 8 significant digits where numpy printed fewer (onnxruntime lists it as failing permanently)',
  },
  {
    pattern:
      /^test_maxunpool_export_with_output_shape$|^test_resize_downsample_scales_(cubic|linear)_align_corners$/,
    reason:
      "onnxruntime disagrees with ONNX 1.12's reference output (listed in onnxruntime's own backend-test failures)",
  },
  {
    pattern: /^test_dft|^test_stft/,
    reason:
      'float32 rounding: onnxruntime computes the FFT in float32; errors are below 1e-6 of the largest output, on elements that are 0 (or nearly) in the float64 reference',
  },
];

/** Sort an onnxruntime error (or another reason) into a readable failure category. */
export function categorize(stage: 'session' | 'run', message: string): string {
  const m = message;
  const kernel = /Could not find an implementation for (\w+)\((\d+)\)/.exec(m);
  if (kernel && Number(kernel[2]) < 7)
    return `${stage}: onnxruntime has no kernels for operator versions below opset 7`;
  if (kernel) return `${stage}: onnxruntime has no CPU kernel for this operator/version/type combination`;
  if (/ai\.onnx\.preview\.training:\w+\(-?\d+\) is not a registered function\/op/.test(m))
    return `${stage}: onnxruntime (inference build) does not implement the ai.onnx.preview.training operators`;
  if (/No Op registered for|not a registered function\/op/.test(m))
    return `${stage}: onnxruntime does not know the operator (or this domain/version of it)`;
  if (/Batchwise recurrent operations \(layout == 1\) are not supported/.test(m))
    return `${stage}: onnxruntime does not implement batchwise (layout=1) RNN/GRU/LSTM`;
  if (/Unsupported data type: 16\b/.test(m))
    return `${stage}: onnxruntime's CPU kernels do not support bfloat16 here`;
  if (/Failed to construct locale with name/.test(m))
    return `${stage}: environment: StringNormalizer needs the en_US.UTF-8 locale, which this machine lacks`;
  if (/not supported|NOT_IMPLEMENTED|unsupported/i.test(m))
    return `${stage}: onnxruntime reports the feature or type as not supported`;
  if (/Type Error|TypeInferenceError|ShapeInferenceError/i.test(m))
    return `${stage}: onnxruntime's type/shape inference rejects the model`;
  return `${stage}: other onnxruntime error`;
}

function firstLine(message: string): string {
  const line = message.split('\n')[0];
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a).equals(Buffer.from(b));
}

function readBytes(file: string): Uint8Array {
  const b = readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function numbered(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)))
    .map((f) => path.join(dir, f));
}

/** Decode, re-encode, load every test value, run in onnxruntime-node and compare — one test model. */
export async function runConformanceCase(c: ConformanceCase): Promise<CaseResult> {
  const result: CaseResult = {
    case: c,
    decoded: false,
    byteIdentical: false,
    irByteIdentical: false,
    valueFiles: 0,
    valuesDecoded: 0,
    valueKinds: { tensor: 0, sequence: 0, optional: 0, map: 0 },
    tensorsToOrt: 0,
    tensorsOrtUnsupported: 0,
    valuesByteIdentical: 0,
    valueFailures: [],
    valueDigests: [],
    sessionCreated: false,
    outcome: 'skipped-decode-failed',
  };
  const bytes = readBytes(path.join(c.dir, 'model.onnx'));
  let reencoded: Uint8Array;
  let model: Model;
  try {
    const proto = decodeModelProto(bytes);
    reencoded = encodeModelProto(proto);
    model = Model.decode(bytes);
    result.decoded = true;
  } catch (e) {
    result.decodeError = e instanceof Error ? e.message : String(e);
    return result;
  }
  result.byteIdentical = equalBytes(reencoded, bytes);
  result.irByteIdentical = equalBytes(model.encode(), bytes);

  const graph = model.graph;
  const sets = readdirSync(c.dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => path.join(c.dir, d));
  const data = sets.map((dir) => ({
    dir,
    inputs: numbered(dir, 'input_').map((file, i) => ({ file, info: graph.inputs[i] })),
    outputs: numbered(dir, 'output_').map((file, i) => ({ file, info: graph.outputs[i] })),
  }));
  const decodedSets: { inputs: (TestValue | undefined)[]; outputs: (TestValue | undefined)[] }[] = [];
  for (const set of data) {
    const load = ({ file, info }: { file: string; info: (typeof graph.inputs)[number] | undefined }) => {
      result.valueFiles++;
      const where = path.relative(c.dir, file);
      try {
        const raw = readBytes(file);
        const value = decodeTestValue(raw, info?.type);
        result.valuesDecoded++;
        result.valueKinds[value.kind]++;
        if (value.kind === 'tensor') {
          try {
            toOrtTensor(value.tensor);
            result.tensorsToOrt++;
          } catch (e) {
            if (!(e instanceof UnsupportedOrtTypeError)) throw e;
            result.tensorsOrtUnsupported++;
          }
        }
        if (equalBytes(encodeTestValue(value), raw)) result.valuesByteIdentical++;
        else result.valueFailures.push(`${where}: re-encoded bytes differ`);
        for (const t of tensorsOf(value)) checkTensorReadable(t, where, result.valueFailures);
        if (value.kind !== 'map')
          result.valueDigests.push({
            path: file,
            kind: value.kind,
            digests: tensorsOf(value).map(tensorDigest),
          });
        return value;
      } catch (e) {
        result.valueFailures.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }
    };
    decodedSets.push({ inputs: set.inputs.map(load), outputs: set.outputs.map(load) });
  }

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(reencoded, { logSeverityLevel: 3 });
    result.sessionCreated = true;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    result.outcome = 'session-failed';
    result.category = categorize('session', message);
    result.detail = firstLine(message);
    return result;
  }
  try {
    const nonTensor = [...graph.inputs, ...graph.outputs].find(
      (v) => v.type && v.type.value.case !== 'tensorType',
    );
    if (nonTensor) {
      result.outcome = 'not-comparable';
      result.category = `not comparable: ${nonTensor.type?.value.case?.replace('Type', '')} values (the onnxruntime JS API feeds and fetches tensors only)`;
      result.detail = `"${nonTensor.name}"`;
      return result;
    }
    result.outcome = 'match';
    for (let s = 0; s < data.length; s++) {
      const feeds: Record<string, ort.Tensor> = {};
      for (let i = 0; i < data[s].inputs.length; i++) {
        const value = decodedSets[s].inputs[i];
        const info = data[s].inputs[i].info;
        if (!value || value.kind !== 'tensor' || !info) {
          result.outcome = 'not-comparable';
          result.category = 'not comparable: an input file could not be matched to a tensor input';
          return result;
        }
        try {
          feeds[info.name] = toOrtTensor(value.tensor);
        } catch (e) {
          if (!(e instanceof UnsupportedOrtTypeError)) throw e;
          result.outcome = 'not-comparable';
          result.category = `not comparable: input element type ${dtypeName(value.tensor.dataType)} cannot be fed through the onnxruntime JS API`;
          result.detail = info.name;
          return result;
        }
      }
      let fetched: ort.InferenceSession.OnnxValueMapType;
      try {
        fetched = await session.run(feeds);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        result.outcome = 'run-failed';
        result.category = categorize('run', message);
        result.detail = firstLine(message);
        return result;
      }
      for (let j = 0; j < data[s].outputs.length; j++) {
        const value = decodedSets[s].outputs[j];
        const info = data[s].outputs[j].info;
        const actual = info ? fetched[info.name] : undefined;
        if (!value || value.kind !== 'tensor' || !info || !(actual instanceof ort.Tensor)) {
          result.outcome = 'not-comparable';
          result.category = 'not comparable: an output file could not be matched to a tensor output';
          return result;
        }
        if (!dtypeInfoOrt(value.tensor)) {
          result.outcome = 'not-comparable';
          result.category = `not comparable: output element type ${dtypeName(value.tensor.dataType)} cannot be fetched through the onnxruntime JS API`;
          return result;
        }
        const why = tensorMismatch(value.tensor, actual);
        if (why) {
          result.outcome = 'mismatch';
          const known = knownMismatches.find((k) => k.pattern.test(c.name));
          result.category = `outputs differ: ${known?.reason ?? 'UNEXPLAINED'}`;
          result.detail = `${path.basename(data[s].dir)} output "${info.name}": ${why}`;
          return result;
        }
      }
    }
    return result;
  } finally {
    await session.release();
  }
}

function dtypeInfoOrt(t: TensorProto): boolean {
  try {
    toOrtTensor(t);
    return true;
  } catch (e) {
    if (e instanceof UnsupportedOrtTypeError) return false;
    throw e;
  }
}

function checkTensorReadable(t: TensorProto, where: string, failures: string[]): void {
  const name = dtypeName(t.dataType);
  try {
    const count = t.dims.reduce((n, d) => n * Number(d), 1);
    if (name === 'string') {
      if (t.stringData.length !== count)
        failures.push(`${where}: ${t.stringData.length} strings for ${count} elements`);
      return;
    }
    const complex = name.startsWith('complex') ? 2 : 1;
    const values = tensorToFloat64(t).length;
    if (values !== count * complex)
      failures.push(`${where}: ${values} ${name} values for ${count * complex} elements`);
  } catch (e) {
    failures.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Totals over all cases, with failure categories and a few example tests for each. */
export interface ConformanceReport {
  models: number;
  decoded: number;
  byteIdentical: number;
  irByteIdentical: number;
  valueFiles: number;
  valuesDecoded: number;
  valueKinds: Record<TestValue['kind'], number>;
  tensorsToOrt: number;
  tensorsOrtUnsupported: number;
  valuesByteIdentical: number;
  sessionsCreated: number;
  /** Models whose every recorded output was reproduced. */
  outputsMatch: number;
  outcomes: Record<RunOutcome, number>;
  categories: { category: string; count: number; examples: string[] }[];
  bySuite: Record<string, { models: number; outputsMatch: number }>;
  seconds: number;
}

export function summarize(results: readonly CaseResult[], seconds: number): ConformanceReport {
  const outcomes: Record<RunOutcome, number> = {
    match: 0,
    mismatch: 0,
    'session-failed': 0,
    'run-failed': 0,
    'not-comparable': 0,
    'skipped-decode-failed': 0,
  };
  const cats = new Map<string, { count: number; examples: string[] }>();
  const bySuite: ConformanceReport['bySuite'] = {};
  for (const r of results) {
    outcomes[r.outcome]++;
    const suite = (bySuite[r.case.suite] ??= { models: 0, outputsMatch: 0 });
    suite.models++;
    if (r.outcome === 'match') suite.outputsMatch++;
    if (r.category) {
      const entry = cats.get(r.category) ?? { count: 0, examples: [] };
      entry.count++;
      if (entry.examples.length < 6)
        entry.examples.push(`${r.case.suite}/${r.case.name}${r.detail ? ` — ${r.detail}` : ''}`);
      cats.set(r.category, entry);
    }
  }
  const sum = (f: (r: CaseResult) => number | boolean) => results.reduce((n, r) => n + Number(f(r)), 0);
  return {
    models: results.length,
    decoded: sum((r) => r.decoded),
    byteIdentical: sum((r) => r.byteIdentical),
    irByteIdentical: sum((r) => r.irByteIdentical),
    valueFiles: sum((r) => r.valueFiles),
    valuesDecoded: sum((r) => r.valuesDecoded),
    valueKinds: {
      tensor: sum((r) => r.valueKinds.tensor),
      sequence: sum((r) => r.valueKinds.sequence),
      optional: sum((r) => r.valueKinds.optional),
      map: sum((r) => r.valueKinds.map),
    },
    tensorsToOrt: sum((r) => r.tensorsToOrt),
    tensorsOrtUnsupported: sum((r) => r.tensorsOrtUnsupported),
    valuesByteIdentical: sum((r) => r.valuesByteIdentical),
    sessionsCreated: sum((r) => r.sessionCreated),
    outputsMatch: outcomes.match,
    outcomes,
    categories: [...cats.entries()]
      .map(([category, v]) => ({ category, ...v }))
      .sort((a, b) => b.count - a.count),
    bySuite,
    seconds,
  };
}

/** The report as plain text (test-results/conformance-summary.txt). */
export function formatReport(r: ConformanceReport, root = conformanceRoot): string {
  const pct = (n: number, of: number) => `${n} / ${of} (${((100 * n) / Math.max(1, of)).toFixed(1)} %)`;
  const lines = [
    `ONNX conformance (libonnx-testdata at ${root}), ${r.seconds.toFixed(1)} s`,
    '',
    `models                               ${r.models}`,
    `decoded by our codec                 ${pct(r.decoded, r.models)}`,
    `re-encoded byte-identical (proto)    ${pct(r.byteIdentical, r.models)}`,
    `re-encoded byte-identical (via IR)   ${pct(r.irByteIdentical, r.models)}`,
    `test value .pb files decoded         ${pct(r.valuesDecoded, r.valueFiles)}`,
    `test value .pb files byte-identical  ${pct(r.valuesByteIdentical, r.valueFiles)}`,
    `  of which TensorProto ${r.valueKinds.tensor}, SequenceProto ${r.valueKinds.sequence}, OptionalProto ${r.valueKinds.optional}, MapProto ${r.valueKinds.map}`,
    `TensorProto files → ort.Tensor       ${pct(r.tensorsToOrt, r.valueKinds.tensor)}` +
      (r.tensorsOrtUnsupported ? ` (${r.tensorsOrtUnsupported} of element types onnxruntime-js lacks)` : ''),
    `onnxruntime-node session created     ${pct(r.sessionsCreated, r.models)}`,
    `all recorded outputs reproduced      ${pct(r.outputsMatch, r.models)}`,
    '',
    'outcomes: ' +
      Object.entries(r.outcomes)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
    'by suite: ' +
      Object.entries(r.bySuite)
        .map(([k, v]) => `${k} ${v.outputsMatch}/${v.models}`)
        .join(', '),
    '',
    'why the others do not match:',
  ];
  for (const c of r.categories) {
    lines.push(`  ${c.count.toString().padStart(4)}  ${c.category}`);
    for (const e of c.examples) lines.push(`          e.g. ${e}`);
  }
  return lines.join('\n') + '\n';
}
