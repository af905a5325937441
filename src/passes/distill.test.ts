import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataset, makeSplits } from '../data/dataset';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { countParameters } from '../onnx/summary';
import { checkModel } from '../onnx/validate';
import { parseRecipe } from '../pipeline/recipe';
import { PipelineCache, runPipeline } from '../pipeline/runner';
import { readBytes, repoRoot } from '../test/fixtures';
import { distill, distillParams } from './distill';
import { argmax } from '../metrics/fidelity';
import {
  randomNormal,
  runtime,
  sampleDataset,
  stageContext,
  syntheticDataset,
} from './testing/quantFixtures';

const samples = path.join(repoRoot, 'public/samples');
const modelBytes = readBytes(path.join(samples, 'digits-cnn.onnx'));

/** Top-1 predictions of a model in onnxruntime-node on some dataset rows. */
async function predictions(model: Model, data: Dataset, rows: readonly number[]): Promise<number[]> {
  const session = await runtime.createSession(model.encode(), { externalData: model.external });
  const out: number[] = [];
  for (const i of rows) {
    const r = await session.run(data.sample(i).feeds);
    out.push(argmax(r[session.outputNames[0]].data as Float32Array));
  }
  await session.release();
  return out;
}

const share = (a: number[], b: readonly (number | undefined)[]) =>
  a.filter((p, k) => p === b[k]).length / a.length;

/** A percentage the stage wrote in its notes, as a fraction. */
function noted(notes: string[], pattern: RegExp): number {
  const line = notes.find((n) => pattern.test(n));
  expect(line, `a note matching ${pattern}`).toBeDefined();
  return Number(pattern.exec(line!)![1]) / 100;
}

/** A student the user brings: Flatten → Gemm(784→32) → Relu → Gemm(32→10), random weights. */
function mlpStudent(seed: number): Uint8Array {
  const b = new GraphBuilder('mlp-student');
  const x = b.input('pixels', DataType.FLOAT, ['batch', 1, 28, 28]);
  const f = b.op('Flatten', [x], {}, 'flatten');
  const w1 = b.initializer(
    'fc1.w',
    DataType.FLOAT,
    [32, 784],
    randomNormal(32 * 784, seed, Math.sqrt(2 / 784)),
  );
  const b1 = b.initializer('fc1.b', DataType.FLOAT, [32], new Float32Array(32));
  const h = b.op('Relu', [b.op('Gemm', [f, w1, b1], { transB: 1 }, 'fc1')], {}, 'relu');
  const w2 = b.initializer('fc2.w', DataType.FLOAT, [10, 32], randomNormal(320, seed + 1, Math.sqrt(1 / 32)));
  const b2 = b.initializer('fc2.b', DataType.FLOAT, [10], new Float32Array(10));
  b.node('Gemm', [h, w2, b2], { transB: 1 }, { name: 'fc2', outputs: ['scores'] });
  b.output('scores', DataType.FLOAT, ['batch', 10]);
  return b.bytes({ opset: 17 });
}

describe('distill on the bundled sample (teacher in onnxruntime-node, student in TensorFlow.js)', () => {
  let teacher: Model;
  let data: Dataset;
  beforeAll(async () => {
    teacher = Model.decode(modelBytes);
    data = await sampleDataset(teacher);
  });

  it('a narrow student with at most 1/4 of the parameters: distilled beats the same student from scratch, and its export runs in onnxruntime with the accuracy training reported', async () => {
    const started = performance.now();
    const epochs = 4;
    const r = await distill.run(
      teacher.clone(),
      distillParams.parse({ width: 0.25, epochs, learningRate: 3e-3, baseline: true }),
      stageContext(data),
    );
    const seconds = (performance.now() - started) / 1000;
    checkModel(r.model);
    const teacherParameters = countParameters(teacher.graph);
    const studentParameters = countParameters(r.model.graph);
    expect(teacherParameters).toBe(156_538);
    expect(studentParameters).toBeLessThanOrEqual(teacherParameters / 4);
    const distilled = noted(r.notes, /^distilled student: ([\d.]+) % on the calibration split/);
    const scratch = noted(r.notes, /^same student from scratch .*: ([\d.]+) % on the calibration split/);
    expect(r.notes.join('\n')).toMatch(/distillation gains [\d.]+ points/);
    expect(distilled).toBeGreaterThan(scratch);

    // The exported student (bytes, as the pipeline stores them) in onnxruntime-node.
    const exported = Model.decode(r.model.encode());
    const calibration = data.splits.calibration;
    const labels = (rows: readonly number[]) => rows.map((i) => data.label(i));
    const onCalibration = share(await predictions(exported, data, calibration), labels(calibration));
    expect(Math.abs(onCalibration - distilled)).toBeLessThanOrEqual(0.005);
    const evaluation = data.splits.evaluation;
    const studentEval = share(await predictions(exported, data, evaluation), labels(evaluation));
    const teacherEval = share(await predictions(teacher, data, evaluation), labels(evaluation));
    console.log(
      `distill digits-cnn → narrow width 0.25: parameters ${teacherParameters} → ${studentParameters} (${((studentParameters / teacherParameters) * 100).toFixed(1)} %); ` +
        `${epochs} epochs each; calibration split: distilled ${(distilled * 100).toFixed(1)} % vs from scratch ${(scratch * 100).toFixed(1)} % (gap ${((distilled - scratch) * 100).toFixed(1)} points), ` +
        `onnxruntime-node ${(onCalibration * 100).toFixed(1)} %; evaluation split: teacher ${(teacherEval * 100).toFixed(1)} %, student ${(studentEval * 100).toFixed(1)} %; ${seconds.toFixed(0)} s`,
    );
    console.log(r.notes.join('\n'));
  }, 600_000);

  it('works without labels: soft targets only, validated by agreement with the teacher', async () => {
    const unlabelled = new Dataset(
      { ...data.raw, labels: undefined },
      data.input,
      data.preprocess,
      data.splits,
      'digits without labels',
    );
    const r = await distill.run(
      teacher.clone(),
      distillParams.parse({ width: 0.25, epochs: 2, learningRate: 3e-3, baseline: true }),
      stageContext(unlabelled),
    );
    const agreement = noted(r.notes, /agrees with the teacher on ([\d.]+) % of the calibration split/);
    expect(r.notes.join('\n')).toMatch(/baseline not trained: .* needs labels/);
    const calibration = data.splits.calibration;
    const student = await predictions(r.model, data, calibration);
    const teacherTop = await predictions(teacher, data, calibration);
    expect(Math.abs(share(student, teacherTop) - agreement)).toBeLessThanOrEqual(0.005);
    // The labels the stage never saw: the student learned the task from the teacher alone.
    const accuracy = share(
      student,
      calibration.map((i) => data.label(i)),
    );
    expect(accuracy).toBeGreaterThan(0.8);
    console.log(
      `distill without labels (2 epochs): agreement with the teacher ${(agreement * 100).toFixed(1)} %, accuracy ${(accuracy * 100).toFixed(1)} % on the calibration split`,
    );
  }, 600_000);

  it('a student .onnx the user adds reaches the stage through the pipeline runner, keyed by its content', async () => {
    const recipe = parseRecipe({
      whittle: 1,
      stages: [
        {
          stage: 'distill',
          params: { student: 'file', studentFile: 'mlp.onnx', epochs: 3, learningRate: 3e-3 },
        },
      ],
    });
    const cache = new PipelineCache();
    const run = (files: ReadonlyMap<string, Uint8Array>) =>
      runPipeline({
        modelBytes,
        recipe,
        runtime,
        dataset: data,
        cache,
        files,
        maxEvalSamples: 200,
        latencyRuns: 2,
      });
    const first = await run(new Map([['mlp.onnx', mlpStudent(5)]]));
    expect(first[1].error).toBeUndefined();
    expect(first[1].status).toBe('done');
    expect(first[1].notes[0]).toMatch(/^student from "mlp\.onnx": 4 nodes, 25,450 parameters/);
    const out = Model.decode(first[1].modelBytes!);
    expect(first[1].notes[0]).toMatch(
      /"pixels" renamed "image", "scores" renamed "logits" as in the teacher/,
    );
    expect(out.graph.feedInputs().map((v) => v.name)).toEqual(['image']);
    expect(out.graph.outputs.map((v) => v.name)).toEqual(['logits']);
    expect(countParameters(out.graph)).toBe(25_450);
    expect(first[1].metrics!.accuracy!).toBeGreaterThan(0.5);
    expect((await run(new Map([['mlp.onnx', mlpStudent(5)]])))[1].cached).toBe(true);
    // Another file under the same name is another student: not taken from the cache.
    expect((await run(new Map([['mlp.onnx', mlpStudent(6)]])))[1].cached).toBe(false);

    const missing = await run(new Map([['other.onnx', mlpStudent(5)]]));
    expect(missing[1].status).toBe('error');
    expect(missing[1].error).toMatch(/"mlp\.onnx" was not added to the pipeline \(it holds "other\.onnx"\)/);
  }, 600_000);

  it('a shallow student: repeated Conv–Relu layers removed, trained, and consistent with onnxruntime', async () => {
    const b = new GraphBuilder('plain');
    let h = b.input('x', DataType.FLOAT, ['N', 3, 12, 12]);
    const conv = (cin: number, cout: number, k: number) => {
      const w = b.initializer(
        `conv${k}.w`,
        DataType.FLOAT,
        [cout, cin, 3, 3],
        randomNormal(cout * cin * 9, k, Math.sqrt(2 / (cin * 9))),
      );
      h = b.op('Relu', [b.op('Conv', [h, w], { pads: [1, 1, 1, 1] }, `conv${k}`)], {}, `relu${k}`);
    };
    conv(3, 8, 0);
    for (let k = 1; k <= 4; k++) conv(8, 8, k);
    const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [h], {}, 'gap')], {}, 'flatten');
    const w = b.initializer('fc.w', DataType.FLOAT, [8, 4], randomNormal(32, 9, 0.5));
    b.node('MatMul', [pooled, w], {}, { name: 'fc', outputs: ['y'] });
    b.output('y', DataType.FLOAT, ['N', 4]);
    const plain = b.model({ opset: 17 });
    // Labels are the teacher's own predictions on synthetic images.
    const synthetic = await syntheticDataset(plain, { calibration: 300, evaluation: 0 });
    const split = makeSplits(synthetic.count, { train: 200, calibration: 100, evaluation: 0 });
    const set = new Dataset(synthetic.raw, synthetic.input, synthetic.preprocess, split, 'synthetic');
    const r = await distill.run(
      plain.clone(),
      distillParams.parse({ student: 'shallow', epochs: 2, learningRate: 3e-3, batchSize: 16 }),
      stageContext(set),
    );
    checkModel(r.model);
    expect(r.notes[0]).toMatch(/^shallow student: removed 2 repeated blocks \(4 nodes: 2 of 4 × Conv·Relu\)/);
    expect(r.model.graph.nodes.filter((n) => n.opType === 'Conv')).toHaveLength(3);
    const reported = noted(r.notes, /^distilled student: ([\d.]+) % on the calibration split/);
    const onnx = share(
      await predictions(r.model, set, split.calibration),
      split.calibration.map((i) => set.label(i)),
    );
    expect(Math.abs(onnx - reported)).toBeLessThanOrEqual(0.005);
  }, 600_000);

  it('refuses a shallow student when no block of the sample can go, before running the teacher', async () => {
    await expect(
      distill.run(teacher.clone(), distillParams.parse({ student: 'shallow' }), stageContext(data)),
    ).rejects.toThrow(/repeated blocks whose input and output have the same shape/);
    await expect(distill.run(teacher.clone(), distillParams.parse({}), stageContext())).rejects.toThrow(
      /needs a dataset with a training split/,
    );
  });
});
