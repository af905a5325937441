import * as tf from '@tensorflow/tfjs';
import type { RtTensor } from '../runtime/types';

/** A runtime tensor (float or integer) as a tfjs tensor; integers become int32. */
export function rtToTensor(t: RtTensor): tf.Tensor {
  if (t.type === 'float32') return tf.tensor(t.data as Float32Array, [...t.dims], 'float32');
  if (t.type === 'string') throw new Error('string tensors cannot be trained on');
  return tf.tensor(Int32Array.from(t.data as ArrayLike<number | bigint>, Number), [...t.dims], 'int32');
}
