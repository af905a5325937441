import { create } from '@bufbuild/protobuf';
import { decodeModelProto, encodeModelProto } from '../onnx/codec';
import { Model } from '../onnx/ir';
import { StringStringEntryProtoSchema, type ModelProto } from '../onnx/proto/onnx_pb';
import { checkModel } from '../onnx/validate';
import type { ExternalFiles } from '../onnx/tensor';
import type { Runtime } from '../runtime/types';
import { exportFileName } from './exportName';
import { formatRecipe, type Recipe } from './recipe';
import type { StageResult } from './runner';

/** The `metadata_props` keys Whittle writes into an exported model. */
export const provenanceKeys = {
  recipe: 'whittle.recipe',
  stages: 'whittle.stages',
  sourceSha256: 'whittle.source_sha256',
  version: 'whittle.version',
} as const;

/** One stage as recorded in `whittle.stages`: what ran and what it measured (compact keys). */
export interface ProvenanceStage {
  /** 0 = the original model. */
  i: number;
  stage: string | null;
  status: string;
  /** SHA-256 of the stage's output model. */
  sha256?: string;
  bytes?: number;
  gzipBytes?: number;
  parameters?: number;
  nonZeros?: number;
  macs?: number;
  peakActivationBytes?: number;
  latencyMedianMs?: number;
  latencyP95Ms?: number;
  /** Runtime/backend/threads the latency was measured on. */
  runtime?: string;
  accuracy?: number | null;
  agreement?: number;
  /** 'inf' when the outputs equal the original's (JSON has no Infinity). */
  sqnrDb?: number | 'inf';
  maxAbsError?: number;
  evaluatedSamples?: number;
}

export interface ProvenanceInput {
  /** The recipe that was run; the steps up to `upTo` are recorded. */
  recipe: Recipe;
  /** The pipeline's results (index 0 = original); those up to `upTo` are recorded. */
  results: readonly Omit<StageResult, 'modelBytes'>[];
  /** Index of the exported stage in `results`. */
  upTo: number;
  /** SHA-256 (hex) of the model the pipeline started from. */
  sourceSha256: string;
  /** Whittle's version. */
  version: string;
}

/** What {@link readProvenance} finds in a model. */
export interface Provenance {
  recipe: Recipe;
  stages: ProvenanceStage[];
  sourceSha256: string;
  version: string;
}

/** Six significant digits are plenty for measurements and keep the metadata small. */
const round = (v: number) => (Number.isInteger(v) ? v : Number(v.toPrecision(6)));

function compactStage(r: Omit<StageResult, 'modelBytes'>): ProvenanceStage {
  const m = r.metrics;
  const s: ProvenanceStage = { i: r.index, stage: r.stage, status: r.status };
  if (r.modelHash) s.sha256 = r.modelHash;
  if (!m) return s;
  return {
    ...s,
    bytes: m.bytes,
    gzipBytes: m.gzipBytes,
    parameters: m.parameters,
    nonZeros: m.nonZeros,
    macs: m.macs,
    peakActivationBytes: m.peakActivationBytes,
    latencyMedianMs: round(m.latency.medianMs),
    latencyP95Ms: round(m.latency.p95Ms),
    runtime: `${m.latency.backend}/${m.latency.threads}`,
    accuracy: m.accuracy === null ? null : round(m.accuracy),
    agreement: round(m.agreement),
    sqnrDb: m.sqnrDb === Infinity ? 'inf' : round(m.sqnrDb),
    maxAbsError: round(m.maxAbsError),
    evaluatedSamples: m.evaluatedSamples,
  };
}

/** The recipe steps that produced stage `upTo`, as compact JSON (the same content as an exported recipe). */
export function recipeUpTo(recipe: Recipe, upTo: number): Recipe {
  return { whittle: 1, stages: recipe.stages.slice(0, Math.max(0, upTo)) };
}

function provenanceEntries(p: ProvenanceInput): [string, string][] {
  const recipe = JSON.stringify(JSON.parse(formatRecipe(recipeUpTo(p.recipe, p.upTo))));
  const stages = JSON.stringify(p.results.filter((r) => r.index <= p.upTo).map(compactStage));
  return [
    [provenanceKeys.recipe, recipe],
    [provenanceKeys.stages, stages],
    [provenanceKeys.sourceSha256, p.sourceSha256],
    [provenanceKeys.version, p.version],
  ];
}

const ownKeys = new Set<string>(Object.values(provenanceKeys));

/**
 * The model with provenance in its `metadata_props`: the recipe, compact per-stage metrics, the
 * source model's SHA-256 and Whittle's version. Earlier `whittle.*` entries are replaced, every
 * other entry is kept in place; nothing but the metadata changes (the ModelProto is decoded,
 * its metadata edited, and encoded again).
 */
export function withProvenance(modelBytes: Uint8Array, p: ProvenanceInput): Uint8Array {
  const proto = decodeModelProto(modelBytes);
  proto.metadataProps = [
    ...proto.metadataProps.filter((e) => !ownKeys.has(e.key)),
    ...provenanceEntries(p).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  ];
  return encodeModelProto(proto);
}

/** The provenance Whittle recorded in a model, or null when it has none (or it is unreadable). */
export function readProvenance(model: Model | ModelProto | Uint8Array): Provenance | null {
  const proto =
    model instanceof Uint8Array ? decodeModelProto(model) : 'proto' in model ? model.proto : model;
  const get = (key: string) => proto.metadataProps.find((e) => e.key === key)?.value;
  const recipe = get(provenanceKeys.recipe);
  const stages = get(provenanceKeys.stages);
  if (recipe === undefined || stages === undefined) return null;
  try {
    const r = JSON.parse(recipe) as Recipe;
    const s = JSON.parse(stages) as ProvenanceStage[];
    if (!r || !Array.isArray(r.stages) || !Array.isArray(s)) return null;
    return {
      recipe: r,
      stages: s,
      sourceSha256: get(provenanceKeys.sourceSha256) ?? '',
      version: get(provenanceKeys.version) ?? '',
    };
  } catch {
    return null;
  }
}

export interface ExportStageOptions extends Omit<ProvenanceInput, 'sourceSha256'> {
  /** The file name the model was opened as (for the export name). */
  modelFileName: string;
  /** The results' stage `upTo` must carry its model bytes; index 0 must carry its hash. */
  results: readonly StageResult[];
  /** External-data files of the models, for the checker. */
  external?: ExternalFiles;
  /** When given, the exported bytes must also load in this runtime. */
  runtime?: Runtime;
}

/** A model ready to download: its bytes and its file name. */
export interface ExportedModel {
  fileName: string;
  bytes: Uint8Array;
  /** False when the model equals the input: then it is the input, byte for byte, without provenance. */
  modified: boolean;
}

/**
 * The `export-model` of one stage: an unmodified model (the original, or stages that changed
 * nothing) is the input byte for byte under its own name; a changed one gains provenance and a
 * name that says what was done. Either is checked (our validator, and a load in `runtime` when
 * given) before it is returned.
 */
export async function exportStageModel(options: ExportStageOptions): Promise<ExportedModel> {
  const { results, upTo } = options;
  const target = results.find((r) => r.index === upTo);
  const original = results.find((r) => r.index === 0);
  if (!target || target.status !== 'done' || !target.modelBytes)
    throw new Error(`stage ${upTo} has no model to export (status: ${target?.status ?? 'missing'})`);
  if (!original?.modelHash) throw new Error('the original model has no hash to record');
  const modified = upTo > 0 && target.modelHash !== original.modelHash;
  const bytes = modified
    ? withProvenance(target.modelBytes, { ...options, sourceSha256: original.modelHash })
    : target.modelBytes;
  // The user's own bytes go back untouched; what Whittle wrote must pass the checker and load.
  if (modified) checkModel(Model.decode(bytes, options.external));
  if (modified && options.runtime) {
    const session = await options.runtime.createSession(bytes, { externalData: options.external });
    await session.release();
  }
  const ran = modified ? results.filter((r) => r.index > 0 && r.index <= upTo) : [];
  return { fileName: exportFileName(options.modelFileName, ran), bytes, modified };
}
