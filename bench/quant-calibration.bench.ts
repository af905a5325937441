/**
 * Calibration + quantization time of quantize-static on a ~100 MB generated CNN with 200 calibration
 * samples, next to the time of one float inference pass over the same 200 samples (the least any
 * calibration must cost: it runs the float model once per sample, with every quantized activation
 * exposed as an extra output). Both use onnxruntime-node with the same thread count. Peak RSS is
 * the process's high-water mark after each phase.
 * Run: npx tsx bench/quant-calibration.bench.ts [--threads N] [--channels C] [--samples S]
 */
import { parseArgs } from 'node:util';
import { createNodeRuntime } from '../src/runtime/node';
import {
  applyStatic,
  calibratePlan,
  planStatic,
  prepareStatic,
  quantizeStaticParams,
} from '../src/passes/quantizeStatic';
import type { StageContext } from '../src/passes/types';
import { foldBatchNorm } from '../src/passes/foldBatchNorm';
import { buildConvNet, calibrationDataset } from './stages-models';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    channels: { type: 'string', default: '630' },
    samples: { type: 'string', default: '200' },
    size: { type: 'string', default: '16' },
  },
});
const threads = Number(values.threads);
const channels = Number(values.channels);
const samples = Number(values.samples);
const size = Number(values.size);

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const peakRss = () => process.resourceUsage().maxRSS * 1024;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const runtime = createNodeRuntime({ threads });
const quiet: StageContext = { runtime, progress: () => {}, signal: new AbortController().signal };
// As a pipeline runs it: BatchNorm folded into the convolutions first (not timed).
const model = (await foldBatchNorm.run(buildConvNet({ size, channels }), {}, quiet)).model;
const floatBytes = model.encode();
const data = calibrationDataset(model, samples);
console.log(
  `generated CNN: 8 × Conv ${channels}×${channels}×3×3 (BatchNorm folded) + Relu on ${size}×${size} inputs, ${mb(floatBytes.byteLength)}; ${samples} calibration samples; onnxruntime-node ${runtime.version}, ${threads} thread${threads === 1 ? '' : 's'}`,
);
console.log(`peak RSS after building the model and the samples: ${mb(peakRss())}`);

// One float pass over the same samples (session creation timed apart: calibration creates one too).
let t0 = performance.now();
const session = await runtime.createSession(floatBytes);
const floatSessionMs = performance.now() - t0;
t0 = performance.now();
for (let i = 0; i < samples; i++) await session.run(data.sample(data.splits.calibration[i]).feeds);
const floatPassMs = performance.now() - t0;
await session.release();
console.log(
  `float inference: session ${seconds(floatSessionMs)}, ${samples} samples ${seconds(floatPassMs)} (${(floatPassMs / samples).toFixed(1)} ms/sample); peak RSS ${mb(peakRss())}`,
);

const params = quantizeStaticParams.parse({ calibrationSamples: samples });
const ctx: StageContext = { ...quiet, data };
t0 = performance.now();
const prepared = prepareStatic(model, params);
const plan = planStatic(prepared, params);
const prepareMs = performance.now() - t0;
t0 = performance.now();
const ranges = await calibratePlan(prepared, plan, params, ctx);
const calibrationMs = performance.now() - t0;
const afterCalibration = peakRss();
t0 = performance.now();
const { tally } = applyStatic(prepared, plan, ranges, params);
const applyMs = performance.now() - t0;
t0 = performance.now();
const quantizedBytes = prepared.model.encode();
const encodeMs = performance.now() - t0;
console.log(
  `quantize-static: prepare + plan ${seconds(prepareMs)} (${plan.tensors.size} activations to calibrate); calibration ${seconds(calibrationMs)} (peak RSS ${mb(afterCalibration)}); quantization ${seconds(applyMs)} + encode ${seconds(encodeMs)} (peak RSS ${mb(peakRss())})`,
);
console.log(
  `weights ${mb(tally.floatBytes)} → ${mb(tally.quantBytes)}; model ${mb(floatBytes.byteLength)} → ${mb(quantizedBytes.byteLength)}`,
);
console.log(
  `\ncalibration / float pass over the same ${samples} samples: ${(calibrationMs / floatPassMs).toFixed(2)}×`,
);
console.log(
  `calibration + quantization (${seconds(prepareMs + calibrationMs + applyMs + encodeMs)}) / float pass: ${((prepareMs + calibrationMs + applyMs + encodeMs) / floatPassMs).toFixed(2)}×`,
);
console.log(`peak RSS ${mb(peakRss())} = ${(peakRss() / floatBytes.byteLength).toFixed(1)}× the float model`);
