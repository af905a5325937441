import path from 'node:path';
import { existsSync } from 'node:fs';
import { readBytes, sharedModelsDir } from '../../test/fixtures';
import { parseNpy } from '../../data/npy';
import type { Runtime } from '../../runtime/types';

const dir = path.join(sharedModelsDir, 'datasets');
export const hasMnist = existsSync(path.join(dir, 'mnist_test_images_uint8.npy'));

/** The first `count` MNIST test images (raw 0–255 pixels, as mnist-8 expects) and their labels. */
export function mnistTest(count: number): { images: Float32Array[]; labels: number[] } {
  const images = parseNpy(readBytes(path.join(dir, 'mnist_test_images_uint8.npy')));
  const labels = parseNpy(readBytes(path.join(dir, 'mnist_test_labels_uint8.npy')));
  const px = images.data as Uint8Array;
  return {
    images: Array.from({ length: count }, (_, i) => Float32Array.from(px.subarray(i * 784, (i + 1) * 784))),
    labels: Array.from((labels.data as Uint8Array).subarray(0, count)),
  };
}

/** Top-1 accuracy of an MNIST model (input [1,1,28,28]) on the given samples. */
export async function mnistAccuracy(
  runtime: Runtime,
  model: Uint8Array,
  data: ReturnType<typeof mnistTest>,
): Promise<number> {
  const session = await runtime.createSession(model);
  try {
    let correct = 0;
    for (const [i, image] of data.images.entries()) {
      const out = await session.run({
        [session.inputNames[0]]: { type: 'float32', dims: [1, 1, 28, 28], data: image },
      });
      const y = out[session.outputNames[0]].data as Float32Array;
      let best = 0;
      for (let k = 1; k < y.length; k++) if (y[k] > y[best]) best = k;
      if (best === data.labels[i]) correct++;
    }
    return correct / data.images.length;
  } finally {
    await session.release();
  }
}
