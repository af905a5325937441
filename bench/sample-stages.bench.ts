/**
 * The bundled sample model, float vs its optimized versions, measured side by side in one run:
 * latency in onnxruntime-node (1 thread) and onnxruntime-web's WASM build (1 thread; the studio's
 * runtime, whose Node entry runs the same WebAssembly), interleaved round by round so machine noise
 * hits every variant alike. Run: npx tsx bench/sample-stages.bench.ts
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadDataset } from '../src/data/dataset';
import { Model } from '../src/onnx/ir';
import { summarizeModel } from '../src/onnx/summary';
import { findStage } from '../src/passes/registry';
import type { StageContext } from '../src/passes/types';
import { createNodeRuntime } from '../src/runtime/node';
import { quantile } from '../src/runtime/latency';
import { profileOperators } from '../src/metrics/measure';

const samples = path.resolve(import.meta.dirname, '../public/samples');
const bytes = new Uint8Array(readFileSync(path.join(samples, 'digits-cnn.onnx')));
const original = Model.decode(bytes);
const dataset = await loadDataset(
  JSON.parse(readFileSync(path.join(samples, 'digits-dataset.json'), 'utf8')),
  async (p) => new Uint8Array(readFileSync(path.join(samples, p))),
  summarizeModel(original, bytes.length).inputs,
);
const ctx: StageContext = {
  runtime: createNodeRuntime({ threads: 1 }),
  data: dataset,
  progress: () => {},
  signal: new AbortController().signal,
};
async function stage(id: string, params: Record<string, unknown>, input = original): Promise<Uint8Array> {
  const s = findStage(id)!;
  return (await s.run(input.clone(), s.params.parse(params), ctx)).model.encode();
}
const folded = await stage('fold-batchnorm', {});
const variants: [string, Uint8Array][] = [
  ['float', bytes],
  ['fold-batchnorm', folded],
  ['prune-channels 50%', await stage('prune-channels', { ratio: 0.5 }, Model.decode(folded))],
  ['quantize-static int8', await stage('quantize-static', {}, Model.decode(folded))],
  ['quantize-dynamic', await stage('quantize-dynamic', {}, Model.decode(folded))],
];

const input = dataset.sample(dataset.splits.evaluation[0]).feeds.image;
const ortWeb = await import('onnxruntime-web');
ortWeb.env.wasm.numThreads = 1;
type Runner = () => Promise<unknown>;
const runners: { name: string; runtime: string; run: Runner; times: number[] }[] = [];
for (const [name, model] of variants) {
  const n = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const w = await ortWeb.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const nIn = { image: new ort.Tensor('float32', input.data as Float32Array, [...input.dims]) };
  const wIn = { image: new ortWeb.Tensor('float32', input.data as Float32Array, [...input.dims]) };
  runners.push({ name, runtime: 'node', run: () => n.run(nIn), times: [] });
  runners.push({ name, runtime: 'web-wasm', run: () => w.run(wIn), times: [] });
}
for (const r of runners) for (let i = 0; i < 20; i++) await r.run(); // warm-up
const rounds = 30;
const perRound = 20;
for (let k = 0; k < rounds; k++) {
  for (const r of k % 2 ? [...runners].reverse() : runners) {
    const t0 = performance.now();
    for (let i = 0; i < perRound; i++) await r.run();
    r.times.push((performance.now() - t0) / perRound);
  }
}
console.log(
  `sample digits-cnn, 1 thread, ${rounds} interleaved rounds × ${perRound} runs (median of round means)`,
);
for (const runtime of ['node', 'web-wasm']) {
  const rows = runners.filter((r) => r.runtime === runtime);
  const base = quantile(
    [...rows[0].times].sort((a, b) => a - b),
    0.5,
  );
  console.log(`\n${runtime}`);
  for (const [i, r] of rows.entries()) {
    const m = quantile(
      [...r.times].sort((a, b) => a - b),
      0.5,
    );
    console.log(
      `  ${r.name.padEnd(22)} ${m.toFixed(4)} ms   ${(base / m).toFixed(2)}× vs float   ${(variants[i][1].byteLength / 1024).toFixed(1)} KiB`,
    );
  }
}

// Where the time goes: onnxruntime-node's per-operator profile (1 thread) of the folded float model
// and its int8 version, operator types summed per run.
const profiled = variants.filter(([name]) => name === 'fold-batchnorm' || name === 'quantize-static int8');
console.log('\nper-operator time in onnxruntime-node (µs per run, 300 profiled runs):');
for (const [name, model] of profiled) {
  const ops = await profileOperators(ctx.runtime, model, { image: input }, { runs: 300, warmup: 30 });
  const total = ops.reduce((a, o) => a + o.ms, 0);
  console.log(
    `  ${name.padEnd(22)} ${(total * 1000).toFixed(1)} µs: ${ops.map((o) => `${o.op} ${(o.ms * 1000).toFixed(1)}${o.calls > 1 ? ` (×${o.calls})` : ''}`).join(', ')}`,
  );
}
