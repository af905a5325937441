/**
 * The live pruning slider and the pruning/compression stages at scale.
 *
 * 1. On the bundled sample (public/samples/digits-cnn.onnx with its dataset): the latency of one live
 *    estimate as the studio's pipeline worker computes it (PruneLive: estimated gzip size + fidelity
 *    on 64 evaluation samples, onnxruntime-node 1 thread) against building the real pruned model
 *    (prune, encode, gzip) and measuring it the same way; plus how close the gzip estimate is.
 * 2. Time per stage (simplify, fold-constants, fold-batchnorm, prune-magnitude 80 %, prune-channels
 *    50 %, cluster-weights k=16) on a generated ~100 MB CNN (bench/stages-models.ts buildConvNet).
 * Prints medians and ratios. About a minute or two on 2 cores.
 * Run: npx tsx bench/prune-slider.bench.ts [--channels 640]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'fflate';
import { loadDataset } from '../src/data/dataset';
import { Model } from '../src/onnx/ir';
import { summarizeModel } from '../src/onnx/summary';
import { checkModel } from '../src/onnx/validate';
import { compareProbe, probeSet, runProbe } from '../src/passes/probe';
import { pruneMagnitudeModel } from '../src/passes/pruneMagnitude';
import { findStage } from '../src/passes/registry';
import { quantile } from '../src/runtime/latency';
import { createNodeRuntime } from '../src/runtime/node';
import { PruneLive } from '../src/worker/pruneLive';
import { buildConvNet } from './stages-models';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { channels: { type: 'string', default: '640' } } });
const runtime = createNodeRuntime({ threads: 1 });
const median = (xs: number[]) => quantile(xs, 0.5);

async function sliderOnSample() {
  const dir = path.join(repoRoot, 'public/samples');
  const bytes = new Uint8Array(readFileSync(path.join(dir, 'digits-cnn.onnx')));
  const model = Model.decode(bytes);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'digits-dataset.json'), 'utf8'));
  const data = await loadDataset(
    manifest,
    async (p) => new Uint8Array(readFileSync(path.join(dir, p))),
    summarizeModel(model, bytes.byteLength).inputs,
  );
  const live = new PruneLive();
  const sparsities = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
  let t = performance.now();
  const first = await live.estimate('sample', model, runtime, data, {
    requestId: 0,
    params: { sparsity: 0.5 },
    backend: 'cpu',
  });
  const firstMs = performance.now() - t;
  if (!first.ok) throw new Error(first.error);
  const liveMs: number[] = [];
  const fullMs: number[] = [];
  const errors: number[] = [];
  const set = probeSet(model, 64, data);
  const reference = await runProbe(runtime, model, set);
  for (let round = 0; round < 3; round++)
    for (const [i, sparsity] of sparsities.entries()) {
      t = performance.now();
      const a = await live.estimate('sample', model, runtime, data, {
        requestId: i + 1,
        params: { sparsity },
        backend: 'cpu',
      });
      liveMs.push(performance.now() - t);
      if (!a.ok) throw new Error(a.error);
      t = performance.now();
      const pruned = await pruneMagnitudeModel(model, { sparsity, steps: 1 });
      const encoded = pruned.model.encode();
      const gzip = gzipSync(encoded, { level: 6 }).byteLength;
      const f = compareProbe(reference, await runProbe(runtime, encoded, set), set.labels);
      fullMs.push(performance.now() - t);
      errors.push(Math.abs(a.estimate.gzipBytes - gzip) / gzip);
      if (round === 0)
        console.log(
          `  sparsity ${(sparsity * 100).toFixed(0)} %: estimated gzip ${a.estimate.gzipBytes} vs real ${gzip} bytes, accuracy ${((a.fidelity.accuracy ?? 0) * 100).toFixed(1)} % (real build: ${((f.accuracy ?? 0) * 100).toFixed(1)} %), agreement ${(a.fidelity.agreement * 100).toFixed(1)} %`,
        );
    }
  console.log(
    `live slider on digits-cnn (64 evaluation samples): first estimate ${firstMs.toFixed(0)} ms (prepares reference outputs), then median ${median(liveMs).toFixed(1)} ms (max ${Math.max(...liveMs).toFixed(1)} ms) vs building + gzipping + measuring the real pruned model ${median(fullMs).toFixed(1)} ms (${(median(fullMs) / median(liveMs)).toFixed(2)}×); gzip estimate error median ${(median(errors) * 100).toFixed(2)} %, max ${(Math.max(...errors) * 100).toFixed(2)} %`,
  );
}

async function stagesAtScale() {
  const channels = Number(args.channels);
  let t = performance.now();
  const model = buildConvNet({ size: 32, channels });
  const size = model.encode().byteLength;
  console.log(
    `\ngenerated CNN: 8 convs × ${channels} channels, ${(size / 1e6).toFixed(1)} MB, built in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const stages: [string, Record<string, unknown>][] = [
    ['simplify', {}],
    ['fold-constants', {}],
    ['fold-batchnorm', {}],
    ['prune-magnitude', { sparsity: 0.8 }],
    ['prune-channels', { ratio: 0.5 }],
    ['cluster-weights', { clusters: 16 }],
  ];
  for (const [id, raw] of stages) {
    const stage = findStage(id);
    if (!stage) throw new Error(`no stage ${id}`);
    const params = stage.params.parse(raw);
    const input = model.clone();
    t = performance.now();
    const r = await stage.run(input, params, {
      runtime,
      progress: () => {},
      signal: new AbortController().signal,
    });
    const runMs = performance.now() - t;
    t = performance.now();
    const out = r.model.encode();
    const encodeMs = performance.now() - t;
    checkModel(r.model);
    console.log(
      `  ${id.padEnd(16)} ${(runMs / 1000).toFixed(2).padStart(6)} s (+ encode ${(encodeMs / 1000).toFixed(2)} s), ${(size / 1e6).toFixed(1)} → ${(out.byteLength / 1e6).toFixed(1)} MB (${(out.byteLength / size).toFixed(3)}×)`,
    );
  }
}

const started = performance.now();
await sliderOnSample();
await stagesAtScale();
console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(0)} s`);
