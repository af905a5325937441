import { GraphBuilder } from '../src/onnx/builder';
import { DataType } from '../src/onnx/dtype';
import type { Model } from '../src/onnx/ir';

const channels = 8;
const side = 32;

/**
 * A chain of residual blocks until `targetNodes` operators exist. Even blocks are
 * Conv→Relu→Conv→Add(skip)→Relu; odd blocks add a parallel 1×1 Conv branch into the Add.
 */
export function residualModel(targetNodes: number): Model {
  const b = new GraphBuilder(`residual_${targetNodes}`);
  const shape = [1, channels, side, side];
  let x = b.input('image', DataType.FLOAT, shape);
  const conv = (input: string, k: number, name: string) => {
    const w = b.initializer(
      `${name}.weight`,
      DataType.FLOAT,
      [channels, channels, k, k],
      new Float32Array(channels * channels * k * k),
    );
    const bias = b.initializer(`${name}.bias`, DataType.FLOAT, [channels], new Float32Array(channels));
    const pad = (k - 1) / 2;
    return b.info(
      b.op('Conv', [input, w, bias], { kernel_shape: [k, k], pads: [pad, pad, pad, pad] }, name),
      DataType.FLOAT,
      shape,
    );
  };
  const op = (type: string, inputs: string[], name: string) =>
    b.info(b.op(type, inputs, {}, name), DataType.FLOAT, shape);
  let count = 0;
  for (let block = 0; count < targetNodes; block++) {
    const p = `block${block}`;
    const c1 = conv(x, 3, `${p}.conv1`);
    const r1 = op('Relu', [c1], `${p}.relu1`);
    const c2 = conv(r1, 3, `${p}.conv2`);
    let skip = x;
    count += 5;
    if (block % 2 === 1) {
      skip = conv(x, 1, `${p}.shortcut`);
      count += 1;
    }
    const sum = op('Add', [c2, skip], `${p}.add`);
    x = op('Relu', [sum], `${p}.relu2`);
  }
  b.output(x, DataType.FLOAT, shape);
  return b.model({ opset: 17 });
}
