import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { Model } from '../onnx/ir';
import { summarizeGraph, summarizeModel } from '../onnx/summary';
import { generateInputs } from '../runtime/inputs';
import { createNodeRuntime } from '../runtime/node';
import type { WebBackend } from '../runtime/web';
import { hasSharedModels, readBytes, sharedModelsDir } from '../test/fixtures';
import { ModelService, type OpenResult } from './modelService';
import { badInputs, externalDataModel, smallCnn } from './testing/models';
import path from 'node:path';

function expectOk(result: OpenResult): Extract<OpenResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected the model to open, got: ${result.error}`);
  return result;
}

describe('ModelService (in-process)', () => {
  it('opens a model and returns the same summaries as the core', async () => {
    const service = new ModelService();
    const cnn = smallCnn();
    const result = expectOk(await service.open([cnn]));
    const model = Model.decode(cnn.bytes);
    expect(result.fileName).toBe('small-cnn.onnx');
    expect(result.summary).toEqual(summarizeModel(model, cnn.bytes.byteLength));
    expect(result.graph).toEqual(summarizeGraph(model.graph));
    expect(result.summary).toMatchObject({ nodes: 4, initializers: 4, parameters: 36 + 4 + 1440 + 10 });
    expect(result.warnings).toEqual([]);
  });

  it('describes a node with weight statistics', async () => {
    const service = new ModelService();
    await service.open([smallCnn()]);
    const conv = service.nodeDetails('n0');
    expect(conv?.node.opType).toBe('Conv');
    expect(conv?.attributes.map((a) => a.name)).toEqual(['kernel_shape']);
    const weight = conv!.weights.find((w) => w.name === 'conv.weight')!;
    expect(weight.shape).toEqual([4, 1, 3, 3]);
    expect(weight.stats?.count).toBe(36);
    // Every fifth value was set to zero: indices 0, 5, ..., 35.
    expect(weight.stats?.zeros).toBe(8);
    expect(weight.stats?.histogram.length).toBeGreaterThan(1);
    expect(service.nodeDetails('n99')).toBeNull();
  });

  it('exports the original bytes of an unmodified model, as a copy', async () => {
    const service = new ModelService();
    const cnn = smallCnn();
    await service.open([{ name: cnn.name, bytes: cnn.bytes }]);
    const exported = service.exportModel();
    if (!exported.ok) throw new Error(exported.error);
    expect(exported.fileName).toBe('small-cnn.onnx');
    expect(exported.bytes).toEqual(cnn.bytes);
    expect(exported.bytes.buffer).not.toBe(cnn.bytes.buffer);
  });

  it('reports an error for export and run before any model is open', async () => {
    const service = new ModelService();
    expect(service.exportModel()).toEqual({ ok: false, error: 'There is no model to export.' });
    expect(await service.run({ backend: 'wasm', dims: {}, runs: 1, warmup: 0 })).toMatchObject({ ok: false });
    expect(service.nodeDetails('n0')).toBeNull();
  });

  for (const bad of badInputs()) {
    it(`rejects a ${bad.label} with a clear message and keeps the previous model`, async () => {
      const service = new ModelService();
      const cnn = smallCnn();
      expectOk(await service.open([cnn]));
      const result = await service.open([{ name: bad.name, bytes: bad.bytes }]);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.error).toMatch(bad.message);
      expect(result.error.startsWith(bad.name)).toBe(true);
      expect(service.currentSummary()?.fileName).toBe('small-cnn.onnx');
      const exported = service.exportModel();
      expect(exported.ok && exported.bytes).toEqual(cnn.bytes);
      expect(service.nodeDetails('n0')?.node.opType).toBe('Conv');
    });
  }

  it('opens a model with its external-data file and refuses it without', async () => {
    const service = new ModelService();
    const { model, data, weights } = externalDataModel();
    const missing = await service.open([model]);
    expect(missing).toEqual({
      ok: false,
      error:
        'ext-model.onnx keeps its weights in "ext-weights.bin", which was not opened with it: open the model and its data file together.',
    });
    expect(service.currentSummary()).toBeUndefined();

    const opened = expectOk(await service.open([data, model]));
    expect(opened.fileName).toBe('ext-model.onnx');
    expect(opened.externalFiles).toEqual(['ext-weights.bin']);
    expect(opened.summary.externalFiles).toEqual(['ext-weights.bin']);
    const details = service.nodeDetails('n0');
    const w = details!.weights.find((x) => x.name === 'W')!;
    expect(w.stats?.min).toBeCloseTo(Math.min(...weights.subarray(0, 12)), 6);
    expect(w.stats?.max).toBeCloseTo(Math.max(...weights.subarray(0, 12)), 6);
    // Its download is complete: one .zip with the .onnx, byte for byte, and its data file.
    const exported = service.exportModel();
    if (!exported.ok) throw new Error(exported.error);
    expect(exported.fileName).toBe('ext-model.zip');
    const files = unzipSync(exported.bytes);
    expect(Buffer.from(files['ext-model.onnx']).equals(Buffer.from(model.bytes))).toBe(true);
    expect(Buffer.from(files['ext-weights.bin']).equals(Buffer.from(data.bytes))).toBe(true);
  });

  it('rejects a data file that is too short for the tensors it should hold', async () => {
    const service = new ModelService();
    const { model, data } = externalDataModel();
    const result = await service.open([model, { name: data.name, bytes: data.bytes.subarray(0, 40) }]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(/needs bytes 0–48 of "ext-weights.bin", which has only 40/);
  });

  it('refuses several .onnx files at once and a set of files without a model', async () => {
    const service = new ModelService();
    const a = smallCnn();
    const r1 = await service.open([a, { ...a, name: 'other.onnx' }]);
    expect(r1).toMatchObject({ ok: false, error: expect.stringMatching(/one model at a time/) });
    const r2 = await service.open([
      { name: 'a.bin', bytes: new Uint8Array(4) },
      { name: 'b.bin', bytes: new Uint8Array(4) },
    ]);
    expect(r2).toMatchObject({
      ok: false,
      error: expect.stringMatching(/None of the files is an .onnx model/),
    });
    expect(await service.open([])).toEqual({ ok: false, error: 'No file was given.' });
  });

  it('opens File objects as the model worker receives them', async () => {
    const service = new ModelService();
    const cnn = smallCnn();
    const result = expectOk(
      await service.openFiles([new File([cnn.bytes as Uint8Array<ArrayBuffer>], cnn.name)]),
    );
    expect(result.summary.bytes).toBe(cnn.bytes.byteLength);
  });

  it('runs the current model through the runtime it is given, reusing the session', async () => {
    const runtime = createNodeRuntime({ threads: 1 });
    const created: WebBackend[] = [];
    const service = new ModelService({
      runtime: async (backend) => {
        created.push(backend);
        return runtime;
      },
    });
    await service.open([smallCnn()]);
    const first = await service.run({ backend: 'wasm', dims: { batch: 3 }, runs: 5, warmup: 1 });
    if (!first.ok) throw new Error(first.error);
    expect(first.latency.runs).toBe(5);
    expect(first.latency.medianMs).toBeGreaterThan(0);
    expect(first.latency.p95Ms).toBeGreaterThanOrEqual(first.latency.medianMs);
    expect(first.outputs).toHaveLength(1);
    expect(first.outputs[0]).toMatchObject({ name: 'logits', type: 'float32', dims: [3, 10] });
    expect(first.outputs[0].preview).toHaveLength(8);
    expect(first.sessionMs).toBeGreaterThan(0);
    const second = await service.run({ backend: 'wasm', dims: { batch: 1 }, runs: 2, warmup: 0 });
    expect(second.ok && second.sessionMs).toBe(0);
    expect(second.ok && second.outputs[0].dims).toEqual([1, 10]);

    const ext = externalDataModel();
    const opened = expectOk(await service.open([ext.model, ext.data]));
    const third = await service.run({ backend: 'wasm', dims: {}, runs: 1, warmup: 0 });
    if (!third.ok) throw new Error(third.error);
    expect(third.sessionMs).toBeGreaterThan(0);
    // y = x·W + B on the generated input, with W and B read from the external file.
    const x = generateInputs(opened.summary.inputs, {}).x.data as Float32Array;
    const expected = [0, 1, 2].map(
      (j) => ext.weights[12 + j] + [0, 1, 2, 3].reduce((acc, i) => acc + x[i] * ext.weights[i * 3 + j], 0),
    );
    expect(third.outputs[0].dims).toEqual([1, 3]);
    third.outputs[0].preview.forEach((v, j) => expect(v).toBeCloseTo(expected[j], 5));
  });

  it('returns a run failure as a message, never a throw', async () => {
    const service = new ModelService({
      runtime: async () => {
        throw new Error('backend exploded');
      },
    });
    await service.open([smallCnn()]);
    const result = await service.run({ backend: 'webgpu', dims: {}, runs: 1, warmup: 0 });
    expect(result).toEqual({ ok: false, error: 'Running small-cnn.onnx on webgpu failed: backend exploded' });
  });

  it.skipIf(!hasSharedModels)('opens mnist-8 with the same numbers as the core summary', async () => {
    const bytes = readBytes(path.join(sharedModelsDir, 'mnist-8.onnx'));
    const service = new ModelService();
    const result = expectOk(await service.open([{ name: 'mnist-8.onnx', bytes }]));
    expect(result.summary).toEqual(summarizeModel(Model.decode(bytes), bytes.byteLength));
    expect(result.summary.nodes).toBe(12);
    const exported = service.exportModel();
    expect(exported.ok && exported.bytes).toEqual(bytes);
  });
});
