import * as tf from '@tensorflow/tfjs';

/*
 * TensorFlow.js 4.22's CPU backend computes two gradients element by element through
 * `TensorBuffer.get(b, y, x, c)`: Conv2DBackpropFilter (~13 s per batch of 64 for the sample CNN's
 * second convolution) and MaxPoolGrad (~0.5 s). The kernels below compute the same sums with flat
 * indexing, for the NHWC float32 case `tf.layers` uses here; any other case goes to the original
 * kernel. They are checked against the originals in scripts/samples.test.ts.
 */

/** dW[kh,kw,ci,co] = Σ over batch and output positions of x[b, iy, ix, ci] · dy[b, oy, ox, co]. */
export function conv2dBackpropFilterNhwc(
  x: Float32Array,
  xShape: readonly number[],
  dy: Float32Array,
  dyShape: readonly number[],
  filterShape: readonly number[],
  stride: readonly [number, number],
  padTop: number,
  padLeft: number,
): Float32Array {
  const [batch, inH, inW, inC] = xShape;
  const [, outH, outW, outC] = dyShape;
  const [kH, kW] = filterShape;
  const acc = new Float64Array(kH * kW * inC * outC);
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const dyBase = ((b * outH + oy) * outW + ox) * outC;
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * stride[0] + ky - padTop;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * stride[1] + kx - padLeft;
            if (ix < 0 || ix >= inW) continue;
            const xBase = ((b * inH + iy) * inW + ix) * inC;
            const wBase = (ky * kW + kx) * inC;
            for (let ci = 0; ci < inC; ci++) {
              const xv = x[xBase + ci];
              // Inputs after ReLU and pooling are mostly zero; skipping them leaves the sum unchanged.
              if (xv === 0) continue;
              const wRow = (wBase + ci) * outC;
              for (let co = 0; co < outC; co++) acc[wRow + co] += xv * dy[dyBase + co];
            }
          }
        }
      }
  return Float32Array.from(acc);
}

/** y[b,oy,ox,co] = Σ over the window and input channels of x[b, iy, ix, ci] · w[ky, kx, ci, co]. */
export function conv2dNhwc(
  x: Float32Array,
  xShape: readonly number[],
  w: Float32Array,
  filterShape: readonly number[],
  outShape: readonly number[],
  stride: readonly [number, number],
  padTop: number,
  padLeft: number,
): Float32Array {
  const [batch, inH, inW, inC] = xShape as [number, number, number, number];
  const [, outH, outW, outC] = outShape as [number, number, number, number];
  const [kH, kW] = filterShape as [number, number];
  const y = new Float32Array(batch * outH * outW * outC);
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const yBase = ((b * outH + oy) * outW + ox) * outC;
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * stride[0] + ky - padTop;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * stride[1] + kx - padLeft;
            if (ix < 0 || ix >= inW) continue;
            const xBase = ((b * inH + iy) * inW + ix) * inC;
            const wBase = (ky * kW + kx) * inC;
            for (let ci = 0; ci < inC; ci++) {
              const xv = x[xBase + ci]!;
              // Zeros (image background, ReLU outputs, pruned inputs) contribute nothing.
              if (xv === 0) continue;
              const wRow = (wBase + ci) * outC;
              for (let co = 0; co < outC; co++) y[yBase + co]! += xv * w[wRow + co]!;
            }
          }
        }
      }
  return y;
}

/** dx[b,iy,ix,ci] = Σ over the output positions reading it of dy[b, oy, ox, co] · w[ky, kx, ci, co]. */
export function conv2dBackpropInputNhwc(
  dy: Float32Array,
  dyShape: readonly number[],
  w: Float32Array,
  filterShape: readonly number[],
  xShape: readonly number[],
  stride: readonly [number, number],
  padTop: number,
  padLeft: number,
): Float32Array {
  const [batch, inH, inW, inC] = xShape as [number, number, number, number];
  const [, outH, outW, outC] = dyShape as [number, number, number, number];
  const [kH, kW] = filterShape as [number, number];
  const dx = new Float32Array(batch * inH * inW * inC);
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const dyBase = ((b * outH + oy) * outW + ox) * outC;
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * stride[0] + ky - padTop;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * stride[1] + kx - padLeft;
            if (ix < 0 || ix >= inW) continue;
            const xBase = ((b * inH + iy) * inW + ix) * inC;
            const wBase = (ky * kW + kx) * inC;
            for (let ci = 0; ci < inC; ci++) {
              const wRow = (wBase + ci) * outC;
              let sum = 0;
              for (let co = 0; co < outC; co++) sum += dy[dyBase + co]! * w[wRow + co]!;
              dx[xBase + ci]! += sum;
            }
          }
        }
      }
  return dx;
}

/**
 * Max-pool gradient: each output's dy goes to the first (row-major) largest input of its window,
 * the same tie-break as tfjs's `maxPoolPositions`.
 */
export function maxPoolGradNhwc(
  x: Float32Array,
  xShape: readonly number[],
  dy: Float32Array,
  dyShape: readonly number[],
  window: readonly [number, number],
  stride: readonly [number, number],
  padTop: number,
  padLeft: number,
): Float32Array {
  const [batch, inH, inW, channels] = xShape;
  const [, outH, outW] = dyShape;
  const dx = new Float32Array(x.length);
  for (let b = 0; b < batch; b++)
    for (let oy = 0; oy < outH; oy++) {
      const y0 = oy * stride[0] - padTop;
      const yMin = Math.max(0, y0);
      const yMax = Math.min(inH, y0 + window[0]);
      for (let ox = 0; ox < outW; ox++) {
        const x0 = ox * stride[1] - padLeft;
        const xMin = Math.max(0, x0);
        const xMax = Math.min(inW, x0 + window[1]);
        const dyBase = ((b * outH + oy) * outW + ox) * channels;
        for (let c = 0; c < channels; c++) {
          let best = Number.NEGATIVE_INFINITY;
          let bestAt = -1;
          for (let iy = yMin; iy < yMax; iy++)
            for (let ix = xMin; ix < xMax; ix++) {
              const at = ((b * inH + iy) * inW + ix) * channels + c;
              if (x[at] > best) {
                best = x[at];
                bestAt = at;
              }
            }
          if (bestAt >= 0) dx[bestAt] += dy[dyBase + c];
        }
      }
    }
  return dx;
}

interface ConvFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** NHWC without dilation: the case the kernels above implement. */
function plainNhwc(attrs: ConvAttrs): boolean {
  const d = attrs.dilations ?? 1;
  const undilated = typeof d === 'number' ? d === 1 : d[0] === 1 && d[1] === 1;
  return (attrs.dataFormat ?? 'NHWC') === 'NHWC' && undilated;
}

interface MaxPoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

type Shape4 = [number, number, number, number];

function replaceKernel(name: string, make: (original: tf.KernelConfig) => tf.KernelFunc): void {
  const original = tf.getKernel(name, 'cpu');
  if (!original) throw new Error(`The tfjs CPU backend has no ${name} kernel to replace.`);
  tf.unregisterKernel(name, 'cpu');
  tf.registerKernel({ kernelName: name, backendName: 'cpu', kernelFunc: make(original) });
}

function output(backend: tf.KernelBackend, values: Float32Array, shape: number[]): tf.TensorInfo {
  return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
}

let installed = false;

/** Replace the tfjs CPU backend's Conv2DBackpropFilter and MaxPoolGrad kernels (once per process). */
export function installFastCpuKernels(): void {
  if (installed) return;
  replaceKernel('Conv2DBackpropFilter', (original) => (args) => {
    const { x, dy } = args.inputs;
    const attrs = args.attrs as unknown as ConvFilterAttrs;
    const backend = args.backend as tf.KernelBackend;
    if (!x || !dy || attrs.dataFormat !== 'NHWC' || x.dtype !== 'float32' || dy.dtype !== 'float32')
      return original.kernelFunc(args);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as Shape4,
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const values = conv2dBackpropFilterNhwc(
      backend.readSync(x.dataId) as Float32Array,
      x.shape,
      backend.readSync(dy.dataId) as Float32Array,
      dy.shape,
      attrs.filterShape,
      [info.strideHeight, info.strideWidth],
      info.padInfo.top,
      info.padInfo.left,
    );
    return output(backend, values, [...attrs.filterShape]);
  });
  replaceKernel('Conv2D', (original) => (args) => {
    const { x, filter } = args.inputs;
    const attrs = args.attrs as unknown as ConvAttrs;
    const backend = args.backend as tf.KernelBackend;
    if (!x || !filter || !plainNhwc(attrs) || x.dtype !== 'float32' || filter.dtype !== 'float32')
      return original.kernelFunc(args);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as Shape4,
      filter.shape as Shape4,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const values = conv2dNhwc(
      backend.readSync(x.dataId) as Float32Array,
      x.shape,
      backend.readSync(filter.dataId) as Float32Array,
      filter.shape,
      info.outShape,
      [info.strideHeight, info.strideWidth],
      info.padInfo.top,
      info.padInfo.left,
    );
    return output(backend, values, [...info.outShape]);
  });
  replaceKernel('Conv2DBackpropInput', (original) => (args) => {
    const { dy, filter } = args.inputs;
    const attrs = args.attrs as unknown as ConvAttrs & { inputShape: Shape4 };
    const backend = args.backend as tf.KernelBackend;
    if (!dy || !filter || !plainNhwc(attrs) || dy.dtype !== 'float32' || filter.dtype !== 'float32')
      return original.kernelFunc(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape as Shape4,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const values = conv2dBackpropInputNhwc(
      backend.readSync(dy.dataId) as Float32Array,
      dy.shape,
      backend.readSync(filter.dataId) as Float32Array,
      filter.shape,
      attrs.inputShape,
      [info.strideHeight, info.strideWidth],
      info.padInfo.top,
      info.padInfo.left,
    );
    return output(backend, values, [...attrs.inputShape]);
  });
  replaceKernel('MaxPoolGrad', (original) => (args) => {
    const { dy, input } = args.inputs;
    const attrs = args.attrs as unknown as MaxPoolGradAttrs;
    const backend = args.backend as tf.KernelBackend;
    if (!dy || !input || input.dtype !== 'float32' || dy.dtype !== 'float32')
      return original.kernelFunc(args);
    const info = tf.backend_util.computePool2DInfo(
      input.shape as Shape4,
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const values = maxPoolGradNhwc(
      backend.readSync(input.dataId) as Float32Array,
      input.shape,
      backend.readSync(dy.dataId) as Float32Array,
      dy.shape,
      [info.filterHeight, info.filterWidth],
      [info.strideHeight, info.strideWidth],
      info.padInfo.top,
      info.padInfo.left,
    );
    return output(backend, values, [...input.shape]);
  });
  installed = true;
}
