import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Model } from '../onnx/ir';
import { summarizeModel, type ModelSummary } from '../onnx/summary';
import { CliError, errorMessage } from './io';

/** A model file read from disk, decoded, with the external-data files its tensors name. */
export interface LoadedModel {
  /** The path as the user gave it (for messages). */
  file: string;
  /** The absolute path. */
  path: string;
  bytes: Uint8Array;
  model: Model;
  summary: ModelSummary;
  /** External-data files found beside the model, by the location the tensors name. */
  external: Map<string, Uint8Array>;
  /** Why some external-data files could not be loaded (missing, outside the model's folder, ...). */
  externalProblems: string[];
}

function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return errorMessage(e);
  }
}

/** Read a whole file as a Uint8Array view of the buffer Node allocated (no extra copy). */
export function readFileBytes(file: string): Uint8Array {
  const b = readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Read and decode an ONNX model. Tensors stored in external data are looked up relative to the
 * model's folder, as ONNX specifies; files that are missing are reported in `externalProblems`
 * (counting needs no weight data; running does). Unreadable and non-ONNX files throw a
 * {@link CliError} naming the file and the problem.
 */
export function loadModelFile(file: string, cwd: string): LoadedModel {
  const abs = path.resolve(cwd, file);
  const fail = (why: string) => new CliError(`cannot read model "${file}": ${why}`);
  let bytes: Uint8Array;
  try {
    if (statSync(abs).isDirectory()) throw fail('it is a directory, not a file');
    bytes = readFileBytes(abs);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw fail(describeFsError(e));
  }
  let model: Model;
  try {
    model = Model.decode(bytes);
  } catch (e) {
    throw fail(errorMessage(e));
  }
  const summary = summarizeModel(model, bytes.byteLength);
  const dir = path.dirname(abs);
  const external = new Map<string, Uint8Array>();
  const externalProblems: string[] = [];
  for (const location of summary.externalFiles) {
    const target = path.resolve(dir, location);
    const rel = path.relative(dir, target);
    if (rel.startsWith('..') || path.isAbsolute(rel) || path.isAbsolute(location)) {
      externalProblems.push(`external data "${location}" points outside the model's folder; not loaded`);
      continue;
    }
    try {
      external.set(location, readFileBytes(target));
    } catch (e) {
      externalProblems.push(`external data file "${location}" (next to the model): ${describeFsError(e)}`);
    }
  }
  model.external = external;
  return { file, path: abs, bytes, model, summary, external, externalProblems };
}
