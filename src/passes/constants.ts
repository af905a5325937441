import type { Graph } from '../onnx/ir';
import type { TensorProto } from '../onnx/proto/onnx_pb';

/**
 * The constant tensor behind a value: an initializer, or the `value` of a Constant node (many
 * exporters, e.g. paddle2onnx, store every weight that way). Undefined when the value is computed.
 */
export function constantTensor(graph: Graph, name: string): TensorProto | undefined {
  const init = graph.initializers.get(name);
  if (init) return init;
  const p = graph.producer(name);
  if (p && p.opType === 'Constant' && p.domain === '') return p.attribute('value')?.t;
  return undefined;
}
