import { describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import { loadDataset, makeSplits, parseCsv, toModelInput, type RawSamples } from './dataset';
import { parseNpy, writeNpy, DataFormatError } from './npy';
import { PreprocessSchema } from './dataset';
import type { ValueSummary } from '../onnx/summary';
import { DataType } from '../onnx/dtype';
import { encodeTensorProto } from '../onnx/codec';
import { makeTensor } from '../onnx/tensor';

const imageInput: ValueSummary[] = [
  { name: 'image', type: 'float', elemType: DataType.FLOAT, shape: ['N', 1, 4, 4] },
];
const enc = new TextEncoder();

function files(map: Record<string, Uint8Array>) {
  return async (p: string) => {
    const f = map[p];
    if (!f) throw new Error('no such file');
    return f;
  };
}

describe('npy', () => {
  it('round-trips arrays of each dtype', () => {
    for (const a of [
      new Float32Array([1.5, -2]),
      new Uint8Array([1, 255]),
      new Int32Array([-7, 9]),
      new BigInt64Array([3n, -4n]),
      new Float64Array([0.25, 8]),
    ]) {
      const back = parseNpy(writeNpy(a, [2]));
      expect(back.shape).toEqual([2]);
      expect(Array.from(back.data as ArrayLike<number | bigint>)).toEqual(
        Array.from(a as ArrayLike<number | bigint>),
      );
    }
  });
  it('rejects non-npy, unsupported dtypes and truncated data clearly', () => {
    expect(() => parseNpy(enc.encode('hello world'), 'x.npy')).toThrow(/x.npy: not a .npy file/);
    const good = writeNpy(new Float32Array(8), [8]);
    expect(() => parseNpy(good.subarray(0, good.length - 4), 't.npy')).toThrow(/t.npy: truncated/);
    const weird = good.slice();
    const at = new TextDecoder('latin1').decode(weird).indexOf('<f4');
    weird.set(enc.encode('<c8'), at);
    expect(() => parseNpy(weird, 'c.npy')).toThrow(/dtype '<c8' is not supported/);
  });
});

describe('preprocess', () => {
  it('scales and normalizes per channel, converts HWC to NCHW and resizes', () => {
    const raw: RawSamples = { values: Float32Array.from([0, 255, 255, 0]), count: 1, sampleShape: [2, 2] };
    const p = PreprocessSchema.parse({ scale: 1 / 255, mean: [0.5], std: [0.5] });
    expect(Array.from(toModelInput(raw, 0, [1, 1, 2, 2], p))).toEqual([-1, 1, 1, -1]);
    const rgb: RawSamples = {
      values: Float32Array.from([1, 2, 3, 4, 5, 6]),
      count: 1,
      sampleShape: [1, 2, 3],
    };
    expect(Array.from(toModelInput(rgb, 0, [1, 3, 1, 2], PreprocessSchema.parse({})))).toEqual([
      1, 4, 2, 5, 3, 6,
    ]);
    const big: RawSamples = { values: new Float32Array(16).fill(2), count: 1, sampleShape: [4, 4] };
    expect(Array.from(toModelInput(big, 0, [1, 1, 2, 2], PreprocessSchema.parse({})))).toEqual([2, 2, 2, 2]);
  });
});

describe('splits', () => {
  it('are disjoint, in file order, or shuffled with a seed', () => {
    const s = makeSplits(10, { train: 2, calibration: 3, evaluation: 4 });
    expect(s).toEqual({ train: [0, 1], calibration: [2, 3, 4], evaluation: [5, 6, 7, 8] });
    const a = makeSplits(100, { train: 10, calibration: 20, evaluation: 70 }, 7);
    const all = [...a.train, ...a.calibration, ...a.evaluation];
    expect(new Set(all).size).toBe(100);
    expect(a).toEqual(makeSplits(100, { train: 10, calibration: 20, evaluation: 70 }, 7));
    expect(() => makeSplits(10, { train: 5, calibration: 5, evaluation: 5 })).toThrow(/"split"/);
  });
});

describe('loadDataset', () => {
  const images = writeNpy(
    Uint8Array.from({ length: 3 * 16 }, (_, i) => i),
    [3, 4, 4],
  );
  const labels = writeNpy(Uint8Array.from([0, 1, 2]), [3]);
  const manifest = {
    'whittle-dataset': 1,
    samples: 'x.npy',
    labels: 'y.npy',
    preprocess: { scale: 1 / 255 },
    split: { train: 0, calibration: 1, evaluation: 2 },
  };

  it('loads .npy samples and labels into model inputs', async () => {
    const ds = await loadDataset(manifest, files({ 'x.npy': images, 'y.npy': labels }), imageInput);
    expect(ds.count).toBe(3);
    expect(ds.splits.evaluation).toEqual([1, 2]);
    const s = ds.sample(2);
    expect(s.label).toBe(2);
    expect(s.feeds.image.dims).toEqual([1, 1, 4, 4]);
    expect((s.feeds.image.data as Float32Array)[0]).toBeCloseTo(32 / 255);
  });

  it('loads .npz with a labels key, CSV with a label column, and TensorProto .pb', async () => {
    const npz = zipSync({ 'x.npy': images, 'y.npy': labels });
    const ds = await loadDataset(
      { ...manifest, samples: 'd.npz', labels: 'y' },
      files({ 'd.npz': npz }),
      imageInput,
    );
    expect(ds.label(1)).toBe(1);
    const csv = 'a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n';
    const tab: ValueSummary[] = [{ name: 'f', type: 'float', elemType: DataType.FLOAT, shape: [1, 2] }];
    const c = await loadDataset(
      { 'whittle-dataset': 1, samples: 't.csv', labels: 'label' },
      files({ 't.csv': enc.encode(csv) }),
      tab,
    );
    expect([c.label(0), c.label(1), c.label(2)]).toEqual([0, 1, 0]);
    expect(Array.from(c.sample(2).feeds.f.data as Float32Array)).toEqual([5, 6]);
    const pb = encodeTensorProto(makeTensor('t', DataType.FLOAT, [1, 2], new Float32Array([7, 8])));
    const p = await loadDataset({ 'whittle-dataset': 1, samples: 's.pb' }, files({ 's.pb': pb }), tab);
    expect(Array.from(p.sample(0).feeds.f.data as Float32Array)).toEqual([7, 8]);
  });

  it.each([
    ['a wrong input name', { input: 'pixels' }, {}, /field "input": the model has no input "pixels"/],
    [
      'labels count ≠ samples',
      {},
      { 'y.npy': writeNpy(Uint8Array.from([0, 1]), [2]) },
      /field "labels": 2 labels for 3/,
    ],
    ['an unreachable shape', { preprocess: { shape: [1, 1, 5, 5] } }, {}, /field "preprocess.shape"/],
    ['a missing file', { samples: 'nope.npy' }, {}, /field "samples": cannot read "nope.npy"/],
    ['a bad version', { 'whittle-dataset': 2 }, {}, /field "whittle-dataset"/],
    [
      'a float npy as labels',
      {},
      { 'y.npy': writeNpy(Float32Array.from([0.5, 1, 2]), [3]) },
      /not a class index/,
    ],
  ])('rejects %s naming the field', async (_, change, override, message) => {
    const read = files({ 'x.npy': images, 'y.npy': labels, ...override });
    await expect(loadDataset({ ...manifest, ...change }, read, imageInput)).rejects.toThrow(message);
  });

  it('rejects a CSV with a missing column and a zip with no class folders', async () => {
    const tab: ValueSummary[] = [{ name: 'f', type: 'float', elemType: DataType.FLOAT, shape: [1, 2] }];
    await expect(
      loadDataset(
        { 'whittle-dataset': 1, samples: 't.csv', labels: 'label' },
        files({ 't.csv': enc.encode('a,b\n1,2\n') }),
        tab,
      ),
    ).rejects.toThrow(/no column "label"/);
    await expect(
      loadDataset(
        { 'whittle-dataset': 1, samples: 't.csv' },
        files({ 't.csv': enc.encode('a,b\n1\n') }),
        tab,
      ),
    ).rejects.toThrow(/row 2 has 1 columns/);
    const zip = zipSync({ 'a.png': new Uint8Array([1]) });
    await expect(
      loadDataset({ 'whittle-dataset': 1, samples: 'imgs.zip' }, files({ 'imgs.zip': zip }), imageInput, {
        decodeImage: async () => ({ width: 1, height: 1, rgba: new Uint8Array(4) }),
      }),
    ).rejects.toThrow(/one subfolder per class/);
    expect(parseCsv('"a,b",c\n"x""y",2')).toEqual([
      ['a,b', 'c'],
      ['x"y', '2'],
    ]);
    expect(DataFormatError).toBeDefined();
  });

  it('reads a zip of class folders through the image decoder', async () => {
    const png = (v: number) => new Uint8Array([v]);
    const zip = zipSync({ 'cat/1.png': png(10), 'dog/2.png': png(200), 'cat/3.png': png(30) });
    const ds = await loadDataset(
      { 'whittle-dataset': 1, samples: 'imgs.zip' },
      files({ 'imgs.zip': zip }),
      imageInput,
      {
        decodeImage: async (bytes) => ({ width: 2, height: 2, rgba: new Uint8Array(16).fill(bytes[0]) }),
      },
    );
    expect(ds.count).toBe(3);
    expect(ds.raw.classNames).toEqual(['cat', 'dog']);
    expect([ds.label(0), ds.label(1), ds.label(2)]).toEqual([0, 0, 1]);
    expect((ds.sample(2).feeds.image.data as Float32Array)[0]).toBeCloseTo(200);
  });
});
