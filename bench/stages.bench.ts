/**
 * What the optimization stages buy in speed and size, measured side by side in one run.
 *
 * Generates (GraphBuilder, seeded weights) an 8-conv 64-channel CNN on 1×3×224×224 (Conv → BatchNorm
 * → Relu; BatchNorm folded first, as a real recipe would) and a 6×MatMul 512-wide MLP on 64 tokens
 * (plus the same MLP on 1 token, where 4-bit MatMulNBits is meant to pay off), builds a synthetic
 * calibration Dataset, runs the stages as the pipeline runner does (validated parameters, a checked
 * output model), then measures, interleaved:
 *   - latency in onnxruntime-node (1 and 2 threads) and onnxruntime-web WASM in Node (1 thread) of
 *     fp32 vs quantize-static int8, quantize-dynamic, convert-fp16, quantize-int4, prune-channels 50%
 *     and prune-magnitude 80%;
 *   - raw and gzip file sizes of every variant;
 *   - the studio's live prune slider: PruneEstimator setup and per-call time against building and
 *     gzipping the real pruned model, and how close its gzip estimate is.
 *     (also on a 24 MB 1024-wide MLP, where a real rebuild costs most).
 * Prints medians and ratios, writes bench/out/stages.json. Takes about 2½ minutes on 2 cores.
 * Run: npx tsx bench/stages.bench.ts [--size 112] [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'fflate';
import type { Model } from '../src/onnx/ir';
import { checkModel } from '../src/onnx/validate';
import type { Dataset } from '../src/data/dataset';
import { findStage } from '../src/passes/registry';
import { PruneEstimator, pruneMagnitudeModel } from '../src/passes/pruneMagnitude';
import { sizeMetrics } from '../src/metrics/size';
import { createNodeRuntime } from '../src/runtime/node';
import { createWebRuntime } from '../src/runtime/web';
import { quantile } from '../src/runtime/latency';
import type { RtTensor, Runtime } from '../src/runtime/types';
import { buildConvNet, buildMatMulNet, calibrationDataset } from './stages-models';
import { interleavedLatency, type GroupLatency, type LatencyEntry } from './stages-timing';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: { size: { type: 'string', default: '224' }, quick: { type: 'boolean', default: false } },
});
const imageSize = Number(args.size);
/** Scales every time budget (--quick: a fast smoke run with too few rounds to trust). */
const budgetScale = args.quick ? 0.15 : 1;
const benchStart = performance.now();
const loadBefore = loadavg();

console.log(
  `Node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? '?'}), load average ` +
    `${loadBefore.map((l) => l.toFixed(2)).join(' ')} (1/5/15 min; other processes skew absolute times, ` +
    'the interleaving keeps the ratios fair)',
);

const node1 = createNodeRuntime({ threads: 1 });
const node2 = createNodeRuntime({ threads: 2 });

// ---------------------------------------------------------------------------------------------
// Models and stages

interface Variant {
  key: string;
  label: string;
  model: Model;
  bytes: Uint8Array;
  /** Time the stage took (0 for generated models). */
  stageMs: number;
  notes: string[];
}

function variantOf(key: string, label: string, model: Model, stageMs = 0, notes: string[] = []): Variant {
  return { key, label, model, bytes: model.encode(), stageMs, notes };
}

/** Run one registered stage the way the pipeline runner does: parsed parameters, a checked output. */
async function runStage(
  key: string,
  label: string,
  id: string,
  input: Model,
  params: Record<string, unknown>,
  data?: Dataset,
): Promise<Variant> {
  const stage = findStage(id);
  if (!stage) throw new Error(`no stage "${id}" in the registry`);
  const t0 = performance.now();
  const r = await stage.run(input.clone(), stage.params.parse(params), {
    runtime: node1,
    data,
    progress: () => {},
    signal: new AbortController().signal,
  });
  checkModel(r.model);
  const v = variantOf(key, label, r.model, performance.now() - t0, r.notes);
  console.log(`  ${id.padEnd(16)} ${v.stageMs.toFixed(0).padStart(6)} ms  ${r.notes[0] ?? ''}`);
  return v;
}

console.log(`\nBuilding models and running the stages (CNN input 1×3×${imageSize}×${imageSize})...`);
const cnnWithBn = buildConvNet({ size: imageSize });
const cnnData = calibrationDataset(cnnWithBn, 16, 7);
const cnnBn = variantOf('bn', 'fp32, BatchNorm not folded', cnnWithBn);
const cnnFp32 = await runStage('fp32', 'fp32 (BN folded)', 'fold-batchnorm', cnnWithBn, {});
const cnnInt8 = await runStage(
  'int8',
  'quantize-static int8',
  'quantize-static',
  cnnFp32.model,
  { calibrationSamples: 16 },
  cnnData,
);
const cnnFp16 = await runStage('fp16', 'convert-fp16', 'convert-fp16', cnnFp32.model, {}, cnnData);
const cnnChannels = await runStage('channels50', 'prune-channels 50%', 'prune-channels', cnnFp32.model, {
  ratio: 0.5,
});
const cnnMagnitude = await runStage('magnitude80', 'prune-magnitude 80%', 'prune-magnitude', cnnFp32.model, {
  sparsity: 0.8,
});

const mlp = buildMatMulNet({ tokens: 64 });
const mlpData = calibrationDataset(mlp, 16, 9);
const mlpFp32 = variantOf('fp32', 'fp32', mlp);
const mlpInt8 = await runStage('int8', 'quantize-static int8', 'quantize-static', mlp, {}, mlpData);
const mlpDynamic = await runStage('dynamic', 'quantize-dynamic int8', 'quantize-dynamic', mlp, {});
const mlpFp16 = await runStage('fp16', 'convert-fp16', 'convert-fp16', mlp, {}, mlpData);
const mlpInt4 = await runStage('int4', 'quantize-int4 (MatMulNBits)', 'quantize-int4', mlp, {});
const mlpMagnitude = await runStage('magnitude80', 'prune-magnitude 80%', 'prune-magnitude', mlp, {
  sparsity: 0.8,
});

// The same weights on a single token (a decoder step): MatMulNBits' intended case. Stages are
// rerun on it because the input shape is part of the model.
const mlpToken = buildMatMulNet({ tokens: 1 });
const tokenData = calibrationDataset(mlpToken, 16, 9);
const tokenFp32 = variantOf('fp32', 'fp32', mlpToken);
console.log('  (the same MLP on 1 token:)');
const tokenInt8 = await runStage('int8', 'quantize-static int8', 'quantize-static', mlpToken, {}, tokenData);
const tokenDynamic = await runStage('dynamic', 'quantize-dynamic int8', 'quantize-dynamic', mlpToken, {});
const tokenInt4 = await runStage('int4', 'quantize-int4 (MatMulNBits)', 'quantize-int4', mlpToken, {});

function firstSample(data: Dataset): Record<string, RtTensor> {
  return data.sample(data.splits.calibration[0]).feeds;
}
const cnnFeeds = firstSample(cnnData);
const mlpFeeds = firstSample(mlpData);
const tokenFeeds = firstSample(tokenData);

// ---------------------------------------------------------------------------------------------
// Sizes

interface SizeRow {
  model: string;
  variant: string;
  bytes: number;
  gzipBytes: number;
  sparsity: number;
  stageMs: number;
}
const sizeRows: SizeRow[] = [];
function addSizes(modelName: string, variants: readonly Variant[]) {
  for (const v of variants) {
    const s = sizeMetrics(v.model, v.bytes);
    sizeRows.push({
      model: modelName,
      variant: v.label,
      bytes: s.bytes,
      gzipBytes: s.gzipBytes,
      sparsity: s.sparsity,
      stageMs: v.stageMs,
    });
  }
}
addSizes(`CNN ${imageSize}`, [cnnBn, cnnFp32, cnnInt8, cnnFp16, cnnChannels, cnnMagnitude]);
addSizes('MLP 512', [mlpFp32, mlpInt8, mlpDynamic, mlpFp16, mlpInt4, mlpMagnitude]);

// ---------------------------------------------------------------------------------------------
// Latency, interleaved

const entries = (vs: readonly Variant[]): LatencyEntry[] =>
  vs.map((v) => ({ label: v.label, bytes: v.bytes }));
const groups: GroupLatency[] = [];
async function group(
  name: string,
  runtime: Runtime | Promise<Runtime>,
  vs: readonly Variant[],
  feeds: Record<string, RtTensor>,
  budgetMs: number,
  minRounds = 5,
) {
  const rt = await runtime;
  const g = await interleavedLatency(name, rt, entries(vs), feeds, {
    budgetMs: budgetMs * budgetScale,
    minRounds: args.quick ? 2 : minRounds,
  });
  groups.push(g);
  console.log(`  ${name}: ${g.rounds} rounds in ${(g.wallMs / 1000).toFixed(1)} s`);
}

console.log('\nMeasuring latency (interleaved, rotating order; budgets are for the timed runs)...');
const cnn = `CNN ${imageSize}`;
await group(
  `${cnn} · node 1 thread`,
  node1,
  [cnnFp32, cnnInt8, cnnFp16, cnnChannels, cnnMagnitude, cnnBn],
  cnnFeeds,
  24_000,
);
await group(`${cnn} · node 2 threads`, node2, [cnnFp32, cnnInt8, cnnChannels], cnnFeeds, 12_000);
const wasm = createWebRuntime('wasm');
await group(`${cnn} · WASM 1 thread`, wasm, [cnnFp32, cnnInt8, cnnChannels], cnnFeeds, 24_000, 4);
await group(
  'MLP 512×64 tok · node 1 thread',
  node1,
  [mlpFp32, mlpInt8, mlpDynamic, mlpFp16, mlpInt4, mlpMagnitude],
  mlpFeeds,
  10_000,
);
await group(
  'MLP 512×64 tok · node 2 threads',
  node2,
  [mlpFp32, mlpInt8, mlpDynamic, mlpInt4],
  mlpFeeds,
  6_000,
);
await group(
  'MLP 512×64 tok · WASM 1 thread',
  wasm,
  [mlpFp32, mlpInt8, mlpDynamic, mlpInt4],
  mlpFeeds,
  10_000,
);
await group(
  'MLP 512×1 tok · node 1 thread',
  node1,
  [tokenFp32, tokenInt8, tokenDynamic, tokenInt4],
  tokenFeeds,
  5_000,
);
await group(
  'MLP 512×1 tok · WASM 1 thread',
  wasm,
  [tokenFp32, tokenInt8, tokenDynamic, tokenInt4],
  tokenFeeds,
  5_000,
);

// ---------------------------------------------------------------------------------------------
// The live prune slider: estimate vs the real thing

interface EstimatorRow {
  model: string;
  setupMs: number;
  callMs: number;
  realMs: number;
  /** realMs / callMs: how many estimates fit in the time of one real pruned model. */
  callSpeedup: number;
  /** realMs / setupMs. */
  setupSpeedup: number;
  /** Per slider position: estimated and real gzip bytes (level 6, as the estimator targets). */
  points: { sparsity: number; estimatedGzip: number; realGzip: number; errorPct: number }[];
  rounds: number;
}
const sliderPositions = [0.3, 0.5, 0.7, 0.8, 0.9];

/**
 * Per round: a fresh estimator (setup timed), then for each slider position an estimate call and
 * a real prune + encode + gzip, alternating which goes first.
 */
async function sliderBench(modelName: string, model: Model, rounds: number): Promise<EstimatorRow> {
  const setup: number[] = [];
  const calls: number[] = [];
  const real: number[] = [];
  const estimated = new Map<number, number>();
  const actual = new Map<number, number>();
  const realBuild = async (sparsity: number) => {
    const t0 = performance.now();
    const r = await pruneMagnitudeModel(model, { sparsity });
    const gz = gzipSync(r.model.encode(), { level: 6 }).byteLength;
    real.push(performance.now() - t0);
    actual.set(sparsity, gz);
  };
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const estimator = new PruneEstimator(model);
    setup.push(performance.now() - t0);
    for (const [i, sparsity] of sliderPositions.entries()) {
      const estimate = () => {
        const t = performance.now();
        const e = estimator.estimate({ sparsity });
        calls.push(performance.now() - t);
        estimated.set(sparsity, e.gzipBytes);
      };
      if ((r + i) % 2 === 0) {
        estimate();
        await realBuild(sparsity);
      } else {
        await realBuild(sparsity);
        estimate();
      }
    }
  }
  const med = (xs: number[]) =>
    quantile(
      [...xs].sort((a, b) => a - b),
      0.5,
    );
  const setupMs = med(setup);
  const callMs = med(calls);
  const realMs = med(real);
  return {
    model: modelName,
    rounds,
    setupMs,
    callMs,
    realMs,
    callSpeedup: realMs / callMs,
    setupSpeedup: realMs / setupMs,
    points: sliderPositions.map((s) => {
      const e = estimated.get(s)!;
      const a = actual.get(s)!;
      return { sparsity: s, estimatedGzip: e, realGzip: a, errorPct: ((e - a) / a) * 100 };
    }),
  };
}

console.log('\nMeasuring the prune slider estimate against real pruned models...');
const sliderRounds = args.quick ? 2 : 6;
const slider = [
  await sliderBench(cnn, cnnFp32.model, sliderRounds),
  await sliderBench('MLP 512', mlp, sliderRounds),
  // A bigger file (24 MB), where building the real model costs most and the estimate matters most.
  await sliderBench('MLP 1024', buildMatMulNet({ width: 1024, tokens: 1 }), Math.ceil(sliderRounds / 2)),
];

// ---------------------------------------------------------------------------------------------
// Report

const pad = (s: string, w: number) => (w < 0 ? s.padEnd(-w) : s.padStart(w));
const row = (cells: string[], widths: number[]) => cells.map((c, i) => pad(c, widths[i])).join('  ');
const ms = (x: number) =>
  Number.isNaN(x) ? '—' : x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0);
const times = (x: number | undefined) => (x === undefined ? '' : `${x.toFixed(2)}×`);
const kb = (b: number) => (b / 1024).toFixed(1);

console.log(
  '\nLatency: median ms per run; speedup = baseline median / variant median (> 1 is faster), with the' +
    '\nquartiles of the per-round paired ratios in brackets. Baseline = first row of each group.',
);
const lw = [-32, -28, 9, 9, 6, 8, 13];
console.log(row(['group', 'variant', 'median', 'p90', 'runs', 'speedup', '(Q1–Q3)'], lw));
for (const g of groups) {
  for (const [i, v] of g.variants.entries()) {
    const cells = [
      i === 0 ? g.group : '',
      v.label,
      ms(v.medianMs),
      ms(v.p90Ms),
      String(v.runs),
      v.error ? 'n/a' : times(v.speedup),
      v.error
        ? `(${v.error.slice(0, 60)})`
        : i === 0
          ? ''
          : `(${v.speedupQ1?.toFixed(2)}–${v.speedupQ3?.toFixed(2)})`,
    ];
    console.log(row(cells, lw));
  }
}

console.log('\nFile sizes (gzip -9, as the studio reports); ratios = baseline / variant (> 1 is smaller).');
const sw = [-9, -28, 10, 7, 10, 7, 9, 9];
console.log(row(['model', 'variant', 'raw KB', 'raw ×', 'gzip KB', 'gzip ×', 'zeros', 'stage ms'], sw));
for (const modelName of [...new Set(sizeRows.map((r) => r.model))]) {
  const rows = sizeRows.filter((r) => r.model === modelName);
  const base = rows.find((r) => r.variant.startsWith('fp32'))!;
  const baseRow = rows.find((r) => r.variant === 'fp32 (BN folded)') ?? base;
  for (const [i, r] of rows.entries())
    console.log(
      row(
        [
          i === 0 ? modelName : '',
          r.variant,
          kb(r.bytes),
          times(baseRow.bytes / r.bytes),
          kb(r.gzipBytes),
          times(baseRow.gzipBytes / r.gzipBytes),
          `${(r.sparsity * 100).toFixed(0)}%`,
          r.stageMs ? r.stageMs.toFixed(0) : '',
        ],
        sw,
      ),
    );
}

console.log(
  '\nPrune slider (prune-magnitude, layer scope): PruneEstimator built once per model, then one' +
    '\nestimate() per slider move, against pruneMagnitudeModel + encode + gzip -6 of the real model' +
    `\n(medians over ${sliderRounds} rounds, 3 for MLP 1024, × ${sliderPositions.length} positions, interleaved).`,
);
const ew = [-9, 9, 9, 10, 12, 12];
console.log(row(['model', 'setup ms', 'call ms', 'real ms', 'real/call', 'real/setup'], ew));
for (const s of slider)
  console.log(
    row(
      [s.model, ms(s.setupMs), ms(s.callMs), ms(s.realMs), times(s.callSpeedup), times(s.setupSpeedup)],
      ew,
    ),
  );
for (const s of slider)
  console.log(
    `  ${s.model} gzip estimate vs real: ` +
      s.points
        .map(
          (p) =>
            `${(p.sparsity * 100).toFixed(0)}% ${kb(p.estimatedGzip)}/${kb(p.realGzip)} KB (${p.errorPct >= 0 ? '+' : ''}${p.errorPct.toFixed(1)}%)`,
        )
        .join(', '),
  );

const loadAfter = loadavg();
const totalS = (performance.now() - benchStart) / 1000;
console.log(
  `\nTotal ${totalS.toFixed(0)} s; load average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}.`,
);

const outDir = path.join(repoRoot, 'bench/out');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  path.join(outDir, 'stages.json'),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpus: availableParallelism(),
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAfter,
      imageSize,
      quick: args.quick,
      totalSeconds: totalS,
      stages: [
        ...[cnnFp32, cnnInt8, cnnFp16, cnnChannels, cnnMagnitude].map((v) => ({
          model: cnn,
          ...stageFacts(v),
        })),
        ...[mlpInt8, mlpDynamic, mlpFp16, mlpInt4, mlpMagnitude].map((v) => ({
          model: 'MLP 512',
          ...stageFacts(v),
        })),
      ],
      latency: groups,
      sizes: sizeRows,
      slider,
    },
    null,
    2,
  ),
);
console.log(`Wrote ${path.relative(repoRoot, path.join(outDir, 'stages.json'))}.`);

function stageFacts(v: Variant) {
  return { variant: v.label, stageMs: v.stageMs, notes: v.notes };
}
