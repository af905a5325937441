import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset';
import { Model } from '../onnx/ir';
import { checkModel } from '../onnx/validate';
import { readBytes, repoRoot } from '../test/fixtures';
import { clusterWeights, clusterWeightsParams } from './clusterWeights';
import { foldBatchNorm } from './foldBatchNorm';
import { pruneChannels, pruneChannelsParams } from './pruneChannels';
import { pruneMagnitude, pruneMagnitudeParams, pruneMagnitudeModel } from './pruneMagnitude';
import { simplify } from './simplify';
import {
  compareOnDataset,
  optimizedOps,
  runOnWeb,
  runtime,
  sampleDataset,
  stageContext,
} from './testing/quantFixtures';
import { quantizeStatic, quantizeStaticParams } from './quantizeStatic';
import { DataType } from '../onnx/dtype';
import { tensorBytes, tensorDims } from '../onnx/tensor';

const samples = path.join(repoRoot, 'public/samples');
const modelBytes = readBytes(path.join(samples, 'digits-cnn.onnx'));

/** Outputs of a model on every evaluation sample, by output name. */
async function outputsOn(
  model: Model,
  data: Dataset,
): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>[]> {
  const session = await runtime.createSession(model.encode(), { externalData: model.external });
  const all = [];
  for (const i of data.splits.evaluation) {
    const r = await session.run(data.sample(i).feeds);
    all.push(
      Object.fromEntries(
        session.outputNames.map((n) => [n, { data: r[n].data as Float32Array, dims: [...r[n].dims] }]),
      ),
    );
  }
  await session.release();
  return all;
}

/** Largest |a − b| over the largest |a| of the same output, across all samples. */
function relativeError(
  a: Record<string, { data: Float32Array }>[],
  b: Record<string, { data: Float32Array }>[],
): number {
  let worst = 0;
  a.forEach((outs, i) => {
    for (const [name, x] of Object.entries(outs)) {
      const y = b[i][name].data;
      let scale = 0;
      let err = 0;
      for (let k = 0; k < x.data.length; k++) {
        scale = Math.max(scale, Math.abs(x.data[k]));
        err = Math.max(err, Math.abs(x.data[k] - y[k]));
      }
      worst = Math.max(worst, err / Math.max(scale, 1e-12));
    }
  });
  return worst;
}

function report(name: string, before: Model, after: Model, accuracy: number, reference: number) {
  const a = before.encode();
  const b = after.encode();
  console.log(
    `digits-cnn ${name}: nodes ${before.graph.nodes.length} → ${after.graph.nodes.length}, bytes ${a.byteLength} → ${b.byteLength} (${(b.byteLength / a.byteLength).toFixed(3)}×), gzip ${gzipSync(a).byteLength} → ${gzipSync(b).byteLength}, accuracy ${(reference * 100).toFixed(1)} % → ${(accuracy * 100).toFixed(1)} %`,
  );
}

describe('pruning and compression stages on the bundled sample model and its dataset', () => {
  let model: Model;
  let data: Dataset;
  let reference: Awaited<ReturnType<typeof outputsOn>>;
  beforeAll(async () => {
    model = Model.decode(modelBytes);
    data = await sampleDataset(model);
    reference = await outputsOn(model, data);
  });

  it('simplify and fold-batchnorm keep the outputs within 1e-4 relative', async () => {
    for (const stage of [simplify, foldBatchNorm]) {
      // Stages may edit their input in place (the runner hands them a copy).
      const r = await stage.run(model.clone(), {}, stageContext(data));
      checkModel(r.model);
      const err = relativeError(reference, await outputsOn(r.model, data));
      const f = await compareOnDataset(model, r.model, data);
      report(stage.id, model, r.model, f.accuracy, f.referenceAccuracy);
      console.log(`digits-cnn ${stage.id}: max relative output error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-4);
    }
    const folded = await foldBatchNorm.run(model.clone(), {}, stageContext(data));
    expect(model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length).toBeGreaterThan(0);
    expect(folded.model.graph.nodes.filter((n) => n.opType === 'BatchNormalization')).toHaveLength(0);
  });

  it('prune-channels at 50 % makes the file at least 40 % smaller and runs in onnxruntime-node and -web', async () => {
    const r = await pruneChannels.run(
      model.clone(),
      pruneChannelsParams.parse({ ratio: 0.5 }),
      stageContext(data),
    );
    checkModel(r.model);
    const bytes = r.model.encode();
    expect(bytes.byteLength).toBeLessThanOrEqual(modelBytes.byteLength * 0.6);
    const f = await compareOnDataset(model, r.model, data);
    report('prune-channels 50 %', model, r.model, f.accuracy, f.referenceAccuracy);
    const pruned = await outputsOn(r.model, data);
    for (const [name, out] of Object.entries(reference[0])) expect(pruned[0][name].dims).toEqual(out.dims);
    const web = await runOnWeb(bytes, data.sample(data.splits.evaluation[0]).feeds);
    for (const [name, out] of Object.entries(pruned[0])) {
      expect(web[name]).toHaveLength(out.data.length);
      for (let k = 0; k < out.data.length; k++) expect(web[name][k]).toBeCloseTo(out.data[k], 3);
    }
  });

  it('cluster-weights with k=16 is at most 0.3× the float file', async () => {
    const r = await clusterWeights.run(
      model,
      clusterWeightsParams.parse({ clusters: 16 }),
      stageContext(data),
    );
    checkModel(r.model);
    const size = r.model.encode().byteLength;
    const f = await compareOnDataset(model, r.model, data);
    report('cluster-weights k=16', model, r.model, f.accuracy, f.referenceAccuracy);
    expect(size).toBeLessThanOrEqual(modelBytes.byteLength * 0.3);
  });

  it('cluster-weights on a static int8 model keeps int8 kernels and shrinks the gzipped file', async () => {
    const q = await quantizeStatic.run(model, quantizeStaticParams.parse({}), stageContext(data));
    const r = await clusterWeights.run(
      q.model,
      clusterWeightsParams.parse({ clusters: 16 }),
      stageContext(data),
    );
    checkModel(r.model);
    // Every int8 weight tensor read by a Conv/Gemm through DequantizeLinear has at most 16 levels.
    let tensors = 0;
    for (const dq of r.model.graph.nodes.filter((n) => n.opType === 'DequantizeLinear')) {
      const t = r.model.graph.initializers.get(dq.inputs[0]!);
      if (!t || t.dataType !== DataType.INT8 || tensorDims(t).reduce((p, d) => p * d, 1) < 1024) continue;
      tensors++;
      expect(new Set(tensorBytes(t)).size).toBeLessThanOrEqual(16);
    }
    expect(tensors).toBeGreaterThanOrEqual(2);
    const gz = (m: Model) => gzipSync(m.encode()).byteLength;
    expect(gz(r.model)).toBeLessThan(gz(q.model) * 0.8);
    const ops = await optimizedOps(r.model.encode());
    expect(ops.get('com.microsoft:QLinearConv') ?? 0).toBeGreaterThan(0);
    const f = await compareOnDataset(model, r.model, data);
    report('quantize-static → cluster-weights k=16', model, r.model, f.accuracy, f.referenceAccuracy);
    expect(f.accuracy).toBeGreaterThanOrEqual(f.referenceAccuracy - 0.01);
  });

  it('prune-magnitude reaches its target sparsity within 0.5 %', async () => {
    for (const sparsity of [0.5, 0.8]) {
      const p = pruneMagnitudeParams.parse({ sparsity });
      const detail = await pruneMagnitudeModel(model, p);
      const total = detail.layers.reduce((s, l) => s + l.elements, 0);
      const zeros = detail.layers.reduce((s, l) => s + l.sparsity * l.elements, 0);
      expect(total).toBeGreaterThan(0);
      expect(Math.abs(zeros / total - sparsity)).toBeLessThanOrEqual(0.005);
      const r = await pruneMagnitude.run(model.clone(), p, stageContext(data));
      const f = await compareOnDataset(model, r.model, data);
      report(
        `prune-magnitude ${sparsity * 100} % (achieved ${((zeros / total) * 100).toFixed(2)} %)`,
        model,
        r.model,
        f.accuracy,
        f.referenceAccuracy,
      );
    }
  });
});
