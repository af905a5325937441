import { gzipSync } from 'fflate';
import type { Model } from '../onnx/ir';
import type { TensorProto } from '../onnx/proto/onnx_pb';
import { countParameters } from '../onnx/summary';
import { elementCount, tensorToFloat64, type ExternalFiles } from '../onnx/tensor';

export interface SizeMetrics {
  /** Size of the serialized model. */
  bytes: number;
  /** Size after gzip (level 9): what sparsity and clustering buy on a compressed download or flash image. */
  gzipBytes: number;
  parameters: number;
  nonZeros: number;
  /** Fraction of stored weight elements that are exactly zero. */
  sparsity: number;
}

function countNonZeros(t: TensorProto, external: ExternalFiles): number {
  let n = 0;
  try {
    for (const v of tensorToFloat64(t, external)) if (v !== 0) n++;
  } catch {
    n = elementCount(t.dims); // strings or unreadable data: count as dense
  }
  return n;
}

/** Raw and compressed size, parameters and non-zeros of a model (subgraphs and Constant nodes included). */
export function sizeMetrics(model: Model, bytes: Uint8Array): SizeMetrics {
  let nonZeros = 0;
  for (const g of model.graph.allGraphs()) {
    for (const t of g.initializers.values()) nonZeros += countNonZeros(t, model.external);
    for (const n of g.nodes) {
      if (n.opType !== 'Constant' || n.domain !== '') continue;
      for (const a of n.proto.attribute) {
        if (a.name === 'value' && a.t) nonZeros += countNonZeros(a.t, model.external);
        else if (a.name === 'value_floats') nonZeros += a.floats.filter((v) => v !== 0).length;
        else if (a.name === 'value_ints') nonZeros += a.ints.filter((v) => v !== 0n).length;
        else if (a.name === 'value_float') nonZeros += a.f !== 0 ? 1 : 0;
        else if (a.name === 'value_int') nonZeros += a.i !== 0n ? 1 : 0;
        else if (a.name === 'sparse_value' && a.sparseTensor?.values)
          nonZeros += countNonZeros(a.sparseTensor.values, model.external);
      }
    }
  }
  const parameters = countParameters(model.graph);
  return {
    bytes: bytes.byteLength,
    gzipBytes: gzipSync(bytes, { level: 9 }).byteLength,
    parameters,
    nonZeros,
    sparsity: parameters ? 1 - nonZeros / parameters : 0,
  };
}
