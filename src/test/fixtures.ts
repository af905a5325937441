import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

/** The repository root (tests run from anywhere). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** ../shared/models beside the checkout: real third-party models, absent on a newcomer's machine. */
export const sharedModelsDir = path.resolve(repoRoot, '../shared/models');
export const hasSharedModels = existsSync(path.join(sharedModelsDir, 'mnist-8.onnx'));

/** Every .onnx file of ../shared/models (top level and light/), or none when the folder is absent. */
export function sharedModelFiles(): string[] {
  if (!hasSharedModels) return [];
  const top = readdirSync(sharedModelsDir)
    .filter((f) => f.endsWith('.onnx'))
    .map((f) => path.join(sharedModelsDir, f));
  const lightDir = path.join(sharedModelsDir, 'light');
  const light = existsSync(lightDir)
    ? readdirSync(lightDir)
        .filter((f) => f.endsWith('.onnx'))
        .map((f) => path.join(lightDir, f))
    : [];
  return [...top, ...light];
}

export function readBytes(file: string): Uint8Array {
  const b = readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Run a model once in onnxruntime-node and release the session. */
export async function runOrtNode(
  model: Uint8Array,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
