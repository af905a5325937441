import { describe, expect, it } from 'vitest';
import { unzipSync } from 'fflate';
import { create } from '@bufbuild/protobuf';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { TensorProtoSchema, TensorProto_DataLocation } from '../onnx/proto/onnx_pb';
import { bundleWithExternalData } from './exportBundle';

function externalModel() {
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [1, 2]);
  b.tensor(
    create(TensorProtoSchema, {
      name: 'w',
      dataType: DataType.FLOAT,
      dims: [2n, 2n],
      dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: '0' },
        { key: 'length', value: '16' },
      ],
    }),
  );
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
