import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TensorProto } from '../proto/onnx_pb';
import { DataType } from '../dtype';
import { tensorToFloat64 } from '../tensor';

/** [element type, dims, sha256 of the elements]: the same digest tensor_digest.py computes with numpy. */
export type TensorDigest = [number, number[], string];

const python = '/usr/bin/python3';
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tensor_digest.py');

/** Whether ONNX's Python package (python3-onnx) is there to cross-check against. */
export const hasPythonOnnx =
  spawnSync(python, ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;

/** Digest of a tensor's elements as Whittle reads them (tensorToFloat64, or the raw strings). */
export function tensorDigest(t: TensorProto): TensorDigest {
  const h = createHash('sha256');
  if (t.dataType === DataType.STRING) {
    for (const s of t.stringData) {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(s.byteLength);
      h.update(len);
      h.update(s);
    }
  } else {
    const values = tensorToFloat64(t);
    const bits = new BigUint64Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) bits[i] = 0x7ff8000000000000n;
    h.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return [t.dataType, t.dims.map(Number), h.digest('hex')];
}

/** Digests of the tensors in each file, computed by ONNX's Python package (onnx.numpy_helper). */
export function pythonDigests(
  files: readonly { path: string; kind: 'tensor' | 'sequence' | 'optional' }[],
): Record<string, TensorDigest[]> {
  const r = spawnSync(python, [script], {
    input: JSON.stringify(files),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`tensor_digest.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, TensorDigest[]>;
}
