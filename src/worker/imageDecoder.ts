/// <reference lib="webworker" />
import type { ImageDecoder } from '../data/dataset';

/**
 * Decode an image file in a worker: `createImageBitmap` parses it, an `OffscreenCanvas` hands back
 * its RGBA pixels.
 */
export const decodeImageInWorker: ImageDecoder = async (bytes, name) => {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  } catch (e) {
    throw new Error(`${name}: not a readable image (${e instanceof Error ? e.message : String(e)})`);
  }
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    if (!context) throw new Error(`${name}: no 2D canvas in this worker`);
    context.drawImage(bitmap, 0, 0);
    const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height);
    return {
      width: bitmap.width,
      height: bitmap.height,
      rgba: new Uint8Array(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength),
    };
  } finally {
    bitmap.close();
  }
};
