import * as tf from '@tensorflow/tfjs';
import { installFastCpuKernels } from './cpuKernels';

/** Which TensorFlow.js backend trains: 'auto' picks the fastest real one this environment has. */
export type TrainingBackend = 'auto' | 'cpu' | 'webgl' | 'webgpu';

interface GpuNavigator {
  gpu?: {
    requestAdapter(): Promise<{ info?: { isFallbackAdapter?: boolean }; isFallbackAdapter?: boolean } | null>;
  };
}

async function tryBackend(name: string): Promise<boolean> {
  try {
    if (name === 'webgpu' && !tf.findBackendFactory('webgpu'))
      await import('@tensorflow/tfjs-backend-webgpu');
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/** True when WebGL renders in software (SwiftShader, llvmpipe): slower than the CPU backend. */
function webglIsSoftware(): boolean {
  const canvasCtor = (
    globalThis as { OffscreenCanvas?: new (w: number, h: number) => { getContext(k: string): unknown } }
  ).OffscreenCanvas;
  if (!canvasCtor) return true;
  const gl = new canvasCtor(1, 1).getContext('webgl2') as {
    getExtension(n: string): { UNMASKED_RENDERER_WEBGL: number } | null;
    getParameter(p: number): unknown;
  } | null;
  if (!gl) return true;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
  return /swiftshader|llvmpipe|software/i.test(renderer);
}

async function webgpuIsHardware(): Promise<boolean> {
  const gpu = (globalThis.navigator as GpuNavigator | undefined)?.gpu;
  if (!gpu) return false;
  const adapter = await gpu.requestAdapter();
  if (!adapter) return false;
  return !(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false);
}

/**
 * Select the backend. In Node only the CPU backend exists (with our faster gradient kernels). In a
 * browser 'auto' prefers a hardware WebGPU adapter, then hardware WebGL, then the CPU: tfjs's WASM
 * backend has no convolution gradients, and a software GPU (headless Chromium) is slower than the CPU.
 */
export async function useTrainingBackend(preference: TrainingBackend = 'auto'): Promise<string> {
  const isBrowser =
    typeof (globalThis as { navigator?: unknown }).navigator !== 'undefined' &&
    !(
      'process' in globalThis &&
      (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node
    );
  let chosen = false;
  if (preference === 'webgpu' || preference === 'webgl') {
    chosen = await tryBackend(preference);
    if (!chosen) throw new Error(`The ${preference} backend is not available here.`);
  } else if (preference === 'auto' && isBrowser) {
    if (await webgpuIsHardware()) chosen = await tryBackend('webgpu');
    if (!chosen && !webglIsSoftware()) chosen = await tryBackend('webgl');
  }
  if (!chosen) {
    await tf.setBackend('cpu');
    installFastCpuKernels();
  }
  await tf.ready();
  return tf.getBackend();
}
