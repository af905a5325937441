import { readFileSync } from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { ImageDecoder } from '../data/dataset';
import { writeNpy } from '../data/npy';
import { encodeTensorProto } from '../onnx/codec';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { makeTensor } from '../onnx/tensor';
import { readProvenance } from '../pipeline/provenance';
import type { Recipe } from '../pipeline/recipe';
import { createNodeRuntime } from '../runtime/node';
import { readBytes, repoRoot } from '../test/fixtures';
import { PipelineService, type DatasetFile, type DatasetResult, type PipelineEvent } from './pipelineService';
import { smallCnn } from './testing/models';

const runtime = createNodeRuntime({ threads: 1 });
const samples = path.join(repoRoot, 'public/samples');
const sampleModel = { name: 'digits-cnn.onnx', bytes: readBytes(path.join(samples, 'digits-cnn.onnx')) };
const sampleFacts = JSON.parse(readFileSync(path.join(samples, 'digits-cnn.json'), 'utf8')) as {
  accuracy: { evaluation: number; samples: number };
};
const sampleDataset = (): DatasetFile[] =>
  ['digits-dataset.json', 'digits-images.npy', 'digits-labels.npy'].map((f) => ({
    path: f,
    bytes: readBytes(path.join(samples, f)),
  }));

/** A 24-bit BMP (bottom-up rows padded to 4 bytes): the test's stand-in for images the browser decodes. */
function bmp(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]) {
  const row = Math.ceil((width * 3) / 4) * 4;
  const out = new Uint8Array(54 + row * height);
  const v = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  v.setUint32(2, out.length, true);
  v.setUint32(10, 54, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, width, true);
  v.setInt32(22, height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, 24, true);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      out.set([b, g, r], 54 + (height - 1 - y) * row + x * 3);
    }
  return out;
}

const decodeBmp: ImageDecoder = async (bytes, name) => {
  if (bytes[0] !== 0x42 || bytes[1] !== 0x4d) throw new Error(`${name}: not a BMP`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = v.getInt32(18, true);
  const height = v.getInt32(22, true);
  const row = Math.ceil((width * 3) / 4) * 4;
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = 54 + (height - 1 - y) * row + x * 3;
      rgba.set([bytes[o + 2], bytes[o + 1], bytes[o], 255], (y * width + x) * 4);
    }
  return { width, height, rgba };
};

function service() {
  return new PipelineService({ runtime: async () => runtime, decodeImage: decodeBmp });
}

function ok<T extends { ok: boolean }>(r: T): Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got: ${(r as { error?: string }).error}`);
  return r as Extract<T, { ok: true }>;
}

const recipe = (...stages: Recipe['stages']): Recipe => ({ whittle: 1, stages });

async function sampleService() {
  const s = service();
  ok(await s.setModel([sampleModel]));
  return s;
}

describe('PipelineService (in-process, onnxruntime-node)', () => {
  it('runs a recipe on the sample with its dataset; the original scores the documented accuracy', async () => {
    const s = await sampleService();
    const data = ok(await s.openDataset(sampleDataset()));
    expect(data.info).toMatchObject({
      count: 2500,
      hasLabels: true,
      classes: 10,
      imported: true,
      splits: { train: 1000, calibration: 500, evaluation: 1000 },
      input: { name: 'image', shape: [1, 1, 28, 28] },
    });
    expect(data.info.preview).toHaveLength(8);
    expect(data.info.preview[0].image).toMatchObject({ width: 28, height: 28 });
    expect(data.info.preview[0].label).toBeGreaterThanOrEqual(0);

    const events: PipelineEvent[] = [];
    const result = ok(
      await s.run(
        {
          runId: 'r1',
          recipe: recipe({ stage: 'fold-batchnorm', params: {} }),
          backend: 'cpu',
          latencyRuns: 5,
        },
        (e) => events.push(e),
      ),
    );
    expect(result.inputsSource).toBe('dataset');
    expect(result.results.map((r) => [r.index, r.status])).toEqual([
      [0, 'done'],
      [1, 'done'],
    ]);
    const [original, folded] = result.results;
    expect(original.metrics!.evaluatedSamples).toBe(sampleFacts.accuracy.samples);
    expect(original.metrics!.accuracy).toBe(sampleFacts.accuracy.evaluation);
    expect(original.metrics!.bytes).toBe(sampleModel.bytes.byteLength);
    expect(folded.metrics!.agreement).toBeGreaterThan(0.99);
    expect(folded.metrics!.parameters).toBeLessThan(original.metrics!.parameters);
    expect('modelBytes' in folded).toBe(false);

    // Progress: per stage, fractions within [0, 1] that reach the end; results arrive in order.
    const progress = events.filter((e) => e.type === 'progress');
    for (const index of [0, 1]) {
      const mine = progress.filter((e) => e.index === index);
      expect(mine.length).toBeGreaterThan(1);
      for (const e of mine) expect(e.done).toBeLessThanOrEqual(e.total);
      expect(mine.some((e) => e.done === e.total)).toBe(true);
    }
    expect(
      events.filter((e) => e.type === 'result').map((e) => e.type === 'result' && e.result.index),
    ).toEqual([0, 1]);
    expect(events.every((e) => e.runId === 'r1')).toBe(true);
  });

  it('reuses unchanged stages by content and recomputes from the first changed one', async () => {
    const s = await sampleService();
    const first = ok(
      await s.run({
        runId: 'a',
        recipe: recipe(
          { stage: 'fold-batchnorm', params: {} },
          { stage: 'prune-magnitude', params: { sparsity: 0.5 } },
        ),
        backend: 'cpu',
        latencyRuns: 3,
      }),
    );
    expect(first.inputsSource).toBe('generated');
    expect(first.results.map((r) => r.cached)).toEqual([false, false, false]);
    expect(first.results[2].metrics!.sparsity).toBeGreaterThan(0.4);
    expect(first.results[0].metrics!.accuracy).toBeNull();

    const second = ok(
      await s.run({
        runId: 'b',
        recipe: recipe(
          { stage: 'fold-batchnorm', params: {} },
          { stage: 'prune-magnitude', params: { sparsity: 0.8 } },
        ),
        backend: 'cpu',
        latencyRuns: 3,
      }),
    );
    expect(second.results.map((r) => r.status)).toEqual(['done', 'done', 'done']);
    expect(second.results[1].cached).toBe(true);
    expect(second.results[1].runMs).toBe(0);
    expect(second.results[1].modelHash).toBe(first.results[1].modelHash);
    expect(second.results[2].cached).toBe(false);
    expect(second.results[2].metrics!.sparsity).toBeGreaterThan(first.results[2].metrics!.sparsity);
  });

  it('a failing stage keeps the earlier results; after the fix the earlier stages come from the cache', async () => {
    const s = await sampleService();
    const bad = ok(
      await s.run({
        runId: 'bad',
        recipe: recipe(
          { stage: 'fold-batchnorm', params: {} },
          { stage: 'prune-magnitude', params: { sparsity: 1.5 } },
          { stage: 'simplify', params: {} },
        ),
        backend: 'cpu',
        latencyRuns: 3,
      }),
    );
    expect(bad.results.map((r) => r.status)).toEqual(['done', 'done', 'error', 'skipped']);
    expect(bad.results[2].error).toMatch(/prune-magnitude.*field "sparsity"/);
    expect(bad.results[1].metrics).toBeDefined();

    const fixed = ok(
      await s.run({
        runId: 'fixed',
        recipe: recipe(
          { stage: 'fold-batchnorm', params: {} },
          { stage: 'prune-magnitude', params: { sparsity: 0.5 } },
          { stage: 'simplify', params: {} },
        ),
        backend: 'cpu',
        latencyRuns: 3,
      }),
    );
    expect(fixed.results.map((r) => r.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(fixed.results[1]).toMatchObject({ cached: true, modelHash: bad.results[1].modelHash });
    expect(fixed.results[2].cached).toBe(false);
  });

  it('cancels a run through cancel() and through the shared flag; earlier results stand', async () => {
    const s = await sampleService();
    ok(await s.openDataset(sampleDataset()));
    const steps = recipe({ stage: 'fold-batchnorm', params: {} }, { stage: 'simplify', params: {} });

    let cancelled: boolean | undefined;
    const viaCall = ok(
      await s.run({ runId: 'c1', recipe: steps, backend: 'cpu', latencyRuns: 3 }, (e) => {
        if (e.type === 'progress' && e.index === 1 && cancelled === undefined) cancelled = s.cancel('c1');
      }),
    );
    expect(cancelled).toBe(true);
    expect(viaCall.cancelled).toBe(true);
    expect(viaCall.results.map((r) => r.status)).toEqual(['done', 'cancelled', 'skipped']);
    expect(viaCall.results[0].metrics!.accuracy).toBe(sampleFacts.accuracy.evaluation);
    expect(s.cancel('c1')).toBe(false);

    const flag = new Int32Array(new SharedArrayBuffer(4));
    const viaFlag = ok(
      await s.run({ runId: 'c2', recipe: steps, backend: 'cpu', latencyRuns: 3, cancelFlag: flag }, (e) => {
        if (e.type === 'result' && e.result.index === 1) Atomics.store(flag, 0, 1);
      }),
    );
    expect(viaFlag.results.map((r) => r.status)).toEqual(['done', 'done', 'cancelled']);

    // A run after a cancelled one completes and reuses what the cancelled runs finished.
    const again = ok(await s.run({ runId: 'c3', recipe: steps, backend: 'cpu', latencyRuns: 3 }));
    expect(again.results.map((r) => r.status)).toEqual(['done', 'done', 'done']);
    expect(again.results[1].cached).toBe(true);
  });

  it('refuses a second run while one is running, and runs without a model fail cleanly', async () => {
    const empty = service();
    expect(await empty.run({ runId: 'x', recipe: recipe(), backend: 'cpu' })).toMatchObject({ ok: false });
    const s = await sampleService();
    const first = s.run({
      runId: 'p',
      recipe: recipe({ stage: 'simplify', params: {} }),
      backend: 'cpu',
      latencyRuns: 2,
    });
    const second = await s.run({ runId: 'q', recipe: recipe(), backend: 'cpu' });
    expect(second).toEqual({ ok: false, runId: 'q', error: 'A pipeline is already running.' });
    expect((await first).ok).toBe(true);
  });

  it('exports the original byte for byte and a stage with provenance; shows a stage model; profiles operators', async () => {
    const s = await sampleService();
    ok(
      await s.run({
        runId: 'e',
        recipe: recipe({ stage: 'fold-batchnorm', params: {} }),
        backend: 'cpu',
        latencyRuns: 2,
      }),
    );
    const original = ok(await s.exportStage(0));
    expect(original).toMatchObject({ fileName: 'digits-cnn.onnx', modified: false });
    expect(Buffer.compare(Buffer.from(original.bytes), Buffer.from(sampleModel.bytes))).toBe(0);
    const folded = ok(await s.exportStage(1));
    expect(folded.fileName).toBe('digits-cnn.whittle-bnfolded.onnx');
    expect(readProvenance(folded.bytes)?.recipe.stages.map((x) => x.stage)).toEqual(['fold-batchnorm']);

    const view = ok(s.stageModel(1));
    expect(view.graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(false);
    expect(view.summary.nodes).toBe(Model.decode(view.bytes).graph.nodes.length);
    expect(s.stageModel(5)).toMatchObject({ ok: false });

    const profile = ok(await s.profileStage(0, { runs: 3 }));
    expect(profile.opTimes.length).toBeGreaterThan(0);
    const ops = profile.opTimes.map((o) => o.op);
    expect(ops.some((op) => /Conv/.test(op))).toBe(true);
    const share = profile.opTimes.reduce((a, o) => a + o.share, 0);
    expect(share).toBeCloseTo(1, 5);
    for (const o of profile.opTimes) expect(o.ms).toBeGreaterThanOrEqual(0);
    // MaxPool runs twice per inference in the sample.
    expect(profile.opTimes.find((o) => o.op === 'MaxPool')?.calls).toBe(2);
  });
});

describe('PipelineService datasets', () => {
  const labelsOf = (n: number) => Int32Array.from({ length: n }, (_, i) => i % 10);

  it('guesses a manifest for .npy samples plus labels, with default splits', async () => {
    const s = await sampleService();
    const images = new Uint8Array(30 * 28 * 28).map((_, i) => i % 251);
    const r = ok(
      await s.openDataset([
        { path: 'x.npy', bytes: writeNpy(images, [30, 28, 28]) },
        { path: 'y_labels.npy', bytes: writeNpy(labelsOf(30), [30]) },
      ]),
    );
    expect(r.manifest).toMatchObject({
      samples: 'x.npy',
      labels: 'y_labels.npy',
      input: 'image',
      preprocess: { layout: 'NCHW', scale: 1 / 255 },
      split: { train: 0, calibration: 10, evaluation: 20 },
    });
    expect(r.info).toMatchObject({ count: 30, hasLabels: true, imported: false, sampleShape: [28, 28] });
    const edited = ok(
      await s.configureDataset({ ...r.manifest, split: { train: 0, calibration: 5, evaluation: 25 } }),
    );
    expect(edited.info.splits).toEqual({ train: 0, calibration: 5, evaluation: 25 });
  });

  it('reads CSV rows with a label column and names the field when the column is missing', async () => {
    const s = service();
    ok(await s.setModel([smallCnn()]));
    const header = [...Array.from({ length: 64 }, (_, i) => `p${i}`), 'label'].join(',');
    const rows = Array.from({ length: 12 }, (_, r) =>
      [...Array.from({ length: 64 }, (_, i) => ((r + i) % 7) / 7), r % 10].join(','),
    );
    const csv = new TextEncoder().encode([header, ...rows].join('\n'));
    const r = ok(await s.openDataset([{ path: 'rows.csv', bytes: csv }]));
    expect(r.manifest).toMatchObject({ samples: 'rows.csv', labels: 'label', input: 'x' });
    expect(r.info).toMatchObject({ count: 12, hasLabels: true, input: { shape: [1, 1, 8, 8] } });
    expect(r.info.choices.csvColumns).toContain('label');

    const bad = await s.configureDataset({ ...r.manifest, labels: 'class' });
    expect(bad).toMatchObject({ ok: false });
    expect((bad as Extract<DatasetResult, { ok: false }>).error).toMatch(/field "labels".*no column "class"/);
    // Fixing the field works with the same files.
    ok(await s.configureDataset({ ...r.manifest, labels: 'label' }));
  });

  it('decodes a .zip of class folders and a folder of class subfolders', async () => {
    const s = await sampleService();
    const image = (shade: number) => bmp(14, 14, (x, y) => [shade, (x * 9) % 256, (y * 9) % 256]);
    const zip = zipSync({
      'digits/0/a.bmp': image(10),
      'digits/0/b.bmp': image(20),
      'digits/1/c.bmp': image(200),
      'digits/1/d.bmp': image(210),
    });
    const fromZip = ok(await s.openDataset([{ path: 'digits.zip', bytes: zip }]));
    expect(fromZip.info).toMatchObject({
      count: 4,
      hasLabels: true,
      classNames: ['0', '1'],
      sampleShape: [28, 28, 1],
    });
    expect(fromZip.info.preview[0].image).toMatchObject({ width: 28, height: 28 });

    const folder = ok(
      await s.openDataset([
        { path: 'pics/cat/1.bmp', bytes: image(30) },
        { path: 'pics/dog/2.bmp', bytes: image(90) },
        { path: 'pics/dog/3.bmp', bytes: image(120) },
      ]),
    );
    expect(folder.manifest.samples).toBe('pics/');
    expect(folder.info).toMatchObject({ count: 3, classNames: ['cat', 'dog'] });

    const loose = await s.openDataset([{ path: 'cat.bmp', bytes: image(1) }]);
    expect(loose).toMatchObject({ ok: false });
    expect((loose as { error: string }).error).toMatch(/field "samples".*subfolder per class/);
  });

  it('reads ONNX TensorProto .pb files as samples', async () => {
    const s = service();
    ok(await s.setModel([smallCnn()]));
    const pb = (k: number) =>
      encodeTensorProto(
        makeTensor(
          'x',
          DataType.FLOAT,
          [1, 1, 8, 8],
          Float32Array.from({ length: 64 }, (_, i) => (i * k) % 5),
        ),
      );
    const r = ok(
      await s.openDataset([
        { path: 'test_data/input_0.pb', bytes: pb(1) },
        { path: 'test_data/input_1.pb', bytes: pb(2) },
        { path: 'test_data/input_2.pb', bytes: pb(3) },
      ]),
    );
    expect(r.manifest.samples).toBe('test_data/');
    expect(r.info).toMatchObject({ count: 3, hasLabels: false, sampleShape: [1, 8, 8] });
    expect(r.info.preview[0].image).toBeDefined();
  });

  it('names the manifest field at fault and keeps the previous dataset', async () => {
    const s = await sampleService();
    ok(await s.openDataset(sampleDataset()));
    const manifestOnly = await s.openDataset([sampleDataset()[0]]);
    expect((manifestOnly as { error: string }).error).toMatch(
      /field "samples": cannot read "digits-images.npy".*not among the opened files/,
    );
    const wrongShape = await s.openDataset([
      { path: 'v.npy', bytes: writeNpy(new Float32Array(5 * 7), [5, 7]) },
    ]);
    expect((wrongShape as { error: string }).error).toMatch(/field "preprocess.shape"/);
    const notData = await s.openDataset([{ path: 'notes.txt', bytes: new Uint8Array([104, 105]) }]);
    expect((notData as { error: string }).error).toMatch(/field "samples": none of the files is a dataset/);
    const badJson = await s.openDataset([
      { path: 'm.json', bytes: new TextEncoder().encode('{"samples": 3}') },
    ]);
    expect((badJson as { error: string }).error).toMatch(/field "whittle-dataset"/);
    // The sample dataset is still the one runs use.
    const run = ok(await s.run({ runId: 'd', recipe: recipe(), backend: 'cpu', latencyRuns: 2 }));
    expect(run.inputsSource).toBe('dataset');
  });

  it('saves opened dataset files for the next visit and reopens them with the edited manifest', async () => {
    let saved: DatasetFile[] | undefined;
    const store = { save: async (f: DatasetFile[]) => void (saved = f), load: async () => saved };
    const first = new PipelineService({ runtime: async () => runtime, datasetStore: store });
    ok(await first.setModel([sampleModel]));
    const images = new Uint8Array(9 * 28 * 28).map((_, i) => i % 7);
    const files = [{ path: 'x.npy', bytes: writeNpy(images, [9, 28, 28]) }];
    const opened = ok(await first.openDataset(files, undefined, { save: true }));
    expect(saved?.map((f) => f.path)).toEqual(['x.npy']);
    // Files that fail are not saved over the good ones.
    await first.openDataset([{ path: 'bad.npy', bytes: writeNpy(new Float32Array(3), [3]) }], undefined, {
      save: true,
    });
    expect(saved?.map((f) => f.path)).toEqual(['x.npy']);

    const next = new PipelineService({ runtime: async () => runtime, datasetStore: store });
    ok(await next.setModel([sampleModel]));
    const edited = { ...opened.manifest, split: { train: 0, calibration: 2, evaluation: 7 } };
    const restored = ok(await next.restoreDataset(edited));
    expect(restored.info).toMatchObject({ count: 9, splits: { calibration: 2, evaluation: 7 } });
    const none = new PipelineService({ runtime: async () => runtime });
    ok(await none.setModel([sampleModel]));
    expect(await none.restoreDataset(null)).toMatchObject({ ok: false });
  });

  it('checks the dataset again when the model changes and falls back to generated inputs', async () => {
    const s = await sampleService();
    ok(await s.openDataset(sampleDataset()));
    const changed = ok(await s.setModel([smallCnn()]));
    expect(changed.dataset).toMatchObject({ ok: false });
    expect((changed.dataset as { error: string }).error).toMatch(
      /field "input": the model has no input "image"/,
    );
    const run = ok(await s.run({ runId: 'g', recipe: recipe(), backend: 'cpu', latencyRuns: 2 }));
    expect(run.inputsSource).toBe('generated');
    expect(run.results[0].metrics!.accuracy).toBeNull();
    // Back to the sample: the same files fit again.
    const back = ok(await s.setModel([sampleModel]));
    expect(back.dataset).toMatchObject({ ok: true });
  });
});
