import { describe, expect, it } from 'vitest';
import { unzipSync } from 'fflate';
import { GraphBuilder, externalTensor } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { bundleWithExternalData } from './exportBundle';

function externalModel() {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [1, 2]);
  b.tensor(externalTensor('w', DataType.FLOAT, [2, 2], 'weights.bin', 0, 16));
  b.node('MatMul', ['x', 'w'], {}, { outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 2]);
  return b.bytes();
}

describe('bundleWithExternalData', () => {
  it('leaves a self-contained model alone', () => {
    const b = new GraphBuilder();
    b.input('x', DataType.FLOAT, [1]);
    b.node('Relu', ['x'], {}, { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [1]);
    const bytes = b.bytes();
    expect(bundleWithExternalData('m.onnx', bytes, new Map())).toEqual({
      fileName: 'm.onnx',
      bytes,
      bundled: false,
    });
  });

  it('zips the model with the data files it refers to, bytes unchanged', () => {
    const bytes = externalModel();
    const data = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
    const out = bundleWithExternalData('m.onnx', bytes, new Map([['weights.bin', data]]));
    expect(out.fileName).toBe('m.zip');
    const files = unzipSync(out.bytes);
    expect(Buffer.from(files['m.onnx']).equals(Buffer.from(bytes))).toBe(true);
    expect(Array.from(files['weights.bin'])).toEqual(Array.from(data));
  });

  it('says which data file is missing', () => {
    expect(() => bundleWithExternalData('m.onnx', externalModel(), new Map())).toThrow(
      /"weights.bin" is not open/,
    );
  });
});
