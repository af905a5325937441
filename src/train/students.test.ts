import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { countParameters } from '../onnx/summary';
import { tensorArray } from '../onnx/tensor';
import { checkModel } from '../onnx/validate';
import { feedsFor, outputs, testContext } from '../passes/testing/harness';
import { randomNormal } from '../passes/testing/quantFixtures';
import { readBytes, repoRoot, sharedModelsDir } from '../test/fixtures';
import {
  NoRemovableBlockError,
  fileStudent,
  narrowStudent,
  reinitializeWeights,
  repeatedBlocks,
  shallowStudent,
} from './students';

const resnet50 = path.join(sharedModelsDir, 'light/light_resnet50.onnx');
const sample = () => Model.decode(readBytes(path.join(repoRoot, 'public/samples/digits-cnn.onnx')));

/** Conv 3×3 (pad 1) + BatchNormalization, named `${name}.conv` / `${name}.bn`; returns the BN output. */
function convBn(b: GraphBuilder, x: string, cin: number, cout: number, name: string, seed: number): string {
  const w = b.initializer(
    `${name}.w`,
    DataType.FLOAT,
    [cout, cin, 3, 3],
    randomNormal(cout * cin * 9, seed, 0.2),
  );
  const c = b.op('Conv', [x, w], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, `${name}.conv`);
  const p = (k: string, v: Float32Array) => b.initializer(`${name}.${k}`, DataType.FLOAT, [cout], v);
  const ones = new Float32Array(cout).fill(1);
  return b.op(
    'BatchNormalization',
    [
      c,
      p('gamma', ones),
      p('beta', randomNormal(cout, seed + 1, 0.1)),
      p('mean', new Float32Array(cout)),
      p('var', ones),
    ],
    {},
    `${name}.bn`,
  );
}

/** Stem conv, `plain` Conv–BN–Relu layers of equal width, `residual` basic blocks, pooling and a classifier. */
function blockModel(plain: number, residual: number): Model {
  const b = new GraphBuilder('blocks');
  let h = b.input('x', DataType.FLOAT, ['N', 3, 12, 12]);
  h = b.op('Relu', [convBn(b, h, 3, 8, 'stem', 1)], {}, 'stem.relu');
  for (let i = 0; i < plain; i++)
    h = b.op('Relu', [convBn(b, h, 8, 8, `plain${i}`, 10 + i)], {}, `plain${i}.relu`);
  for (let i = 0; i < residual; i++) {
    const r = b.op('Relu', [convBn(b, h, 8, 8, `res${i}a`, 40 + i)], {}, `res${i}a.relu`);
    const y = convBn(b, r, 8, 8, `res${i}b`, 60 + i);
    h = b.op('Relu', [b.op('Add', [y, h], {}, `res${i}.add`)], {}, `res${i}.relu`);
  }
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [h], {}, 'gap')], {}, 'flatten');
  const w = b.initializer('fc.w', DataType.FLOAT, [10, 8], randomNormal(80, 99, 0.3));
  const bias = b.initializer('fc.b', DataType.FLOAT, [10], new Float32Array(10));
  b.node('Gemm', [pooled, w, bias], { transB: 1 }, { name: 'fc', outputs: ['logits'] });
  b.output('logits', DataType.FLOAT, ['N', 10]);
  return b.model({ opset: 17 });
}

describe('shallow students: repeated blocks whose shapes allow removal', () => {
  it('finds a run of Conv–BN–Relu layers and a run of residual blocks', () => {
    const runs = repeatedBlocks(blockModel(4, 3));
    expect(runs.map((r) => r.length)).toEqual([4, 3]);
    expect(runs[0][0].nodes.map((n) => n.opType)).toEqual(['Conv', 'BatchNormalization', 'Relu']);
    expect(runs[1][0].nodes.map((n) => n.opType)).toEqual([
      'Conv',
      'BatchNormalization',
      'Relu',
      'Conv',
      'BatchNormalization',
      'Add',
      'Relu',
    ]);
    // Each block ends where the next begins.
    for (const run of runs) for (let i = 1; i < run.length; i++) expect(run[i].from).toBe(run[i - 1].to);
  });

  it('removes the later repetitions, and the student runs in onnxruntime with the same output shape', async () => {
    const teacher = blockModel(4, 3);
    const student = shallowStudent(teacher, 0.5);
    checkModel(student.model);
    const convs = (m: Model) => m.graph.nodes.filter((n) => n.opType === 'Conv').length;
    // 4 plain → 2, 3 residual → 2 (round(1.5)); the stem stays.
    expect(convs(teacher)).toBe(1 + 4 + 6);
    expect(convs(student.model)).toBe(1 + 2 + 4);
    const perPlain = 8 * 8 * 9 + 4 * 8;
    expect(countParameters(teacher.graph) - student.parameters).toBe(2 * perPlain + 2 * perPlain);
    expect(student.model.graph.nodes.map((n) => n.name)).toContain('plain1.relu');
    expect(student.model.graph.nodes.map((n) => n.name)).not.toContain('plain2.conv');
    expect(student.description).toMatch(/removed 3 repeated blocks/);
    expect(student.changes.filter((c) => c.kind === 'removed').map((c) => c.node)).toEqual([
      'plain2.conv',
      'plain2.bn',
      'plain2.relu',
      'plain3.conv',
      'plain3.bn',
      'plain3.relu',
      'res2a.conv',
      'res2a.bn',
      'res2a.relu',
      'res2b.conv',
      'res2b.bn',
      'res2.add',
      'res2.relu',
    ]);
    const ctx = testContext();
    const feeds = feedsFor(teacher, { N: 2 });
    const [a] = await outputs(ctx, teacher, feeds);
    const [b] = await outputs(ctx, student.model, feeds);
    expect(b.dims).toEqual(a.dims);
    // The teacher itself is unchanged.
    expect(convs(teacher)).toBe(11);
  });

  it.skipIf(!existsSync(resnet50))(
    'finds the bottleneck runs of a real ResNet-50 (Sum joins) and its shallow student runs in onnxruntime',
    async () => {
      const teacher = Model.decode(readBytes(resnet50));
      expect(repeatedBlocks(teacher).map((r) => r.length)).toEqual([2, 3, 5, 2]);
      const student = shallowStudent(teacher, 0.5);
      checkModel(student.model);
      // One of 2, one of 3, two of 5 (round(2.5) = 3 kept), one of 2: the first block of each stage changes shape and stays.
      expect(student.description).toMatch(/removed 5 repeated blocks \(50 nodes/);
      const [out] = await outputs(testContext(), student.model, feedsFor(student.model));
      expect(out.dims).toEqual([1, 1000]);
    },
    60_000,
  );

  it('keeps at least one block of every run', () => {
    const student = shallowStudent(blockModel(2, 0), 0.1);
    expect(student.model.graph.nodes.filter((n) => n.opType === 'Conv')).toHaveLength(2);
  });

  it('refuses with a clear message when no block can go (the bundled sample: every layer changes shape)', () => {
    expect(repeatedBlocks(sample())).toEqual([]);
    expect(() => shallowStudent(sample(), 0.5)).toThrow(NoRemovableBlockError);
    expect(() => shallowStudent(blockModel(1, 1), 0.5)).toThrow(/has none/);
  });
});

describe('narrow students', () => {
  it('prune channels of the convolutions and of the hidden Gemm: width 0.25 keeps 1/16 of the sample', async () => {
    const teacher = sample();
    const student = await narrowStudent(teacher, 0.25, testContext());
    checkModel(student.model);
    expect(countParameters(teacher.graph)).toBe(156_538);
    expect(student.parameters).toBe(countParameters(student.model.graph));
    expect(student.parameters).toBeLessThanOrEqual(156_538 / 4);
    const fc1 = student.model.graph.nodes.find((n) => n.name === '/classifier/fc1/Gemm')!;
    expect(student.model.graph.initializers.get(fc1.inputs[1])!.dims.map(Number)).toEqual([24, 392]);
    expect(student.description).toMatch(/width 0\.25/);
    expect(student.changes.filter((c) => c.kind === 'pruned').map((c) => c.node)).toContain(
      '/classifier/fc1/Gemm',
    );
  });

  it('rejects widths channel pruning cannot reach', async () => {
    await expect(narrowStudent(sample(), 0.05, testContext())).rejects.toThrow(/at least 0\.10/);
  });
});

describe('file students', () => {
  const mlp = (inputShape: (string | number)[], classes: number, flattened = 'flat') => {
    const b = new GraphBuilder('mlp');
    const x = b.input('pixels', DataType.FLOAT, inputShape);
    const [f] = b.node('Flatten', [x], {}, { name: 'flatten', outputs: [flattened] });
    const w = b.initializer('w', DataType.FLOAT, [784, classes], randomNormal(784 * classes, 3, 0.05));
    b.node('MatMul', [f, w], {}, { name: 'mm', outputs: ['scores'] });
    b.output('scores', DataType.FLOAT, ['N', classes]);
    return b.bytes();
  };

  it('accepts a model with one float input of the data’s shape, whatever its input is called', () => {
    const s = fileStudent('mlp.onnx', mlp(['N', 1, 28, 28], 10), {
      sampleShape: [1, 1, 28, 28],
      classes: 10,
    });
    expect(s.parameters).toBe(7840);
    expect(s.description).toMatch(/"mlp\.onnx"/);
  });

  it('takes the teacher’s input and output names, moving a student value that had one aside', async () => {
    const s = fileStudent('mlp.onnx', mlp(['N', 1, 28, 28], 10, 'logits'), {
      sampleShape: [1, 1, 28, 28],
      input: 'image',
      outputs: ['logits'],
    });
    checkModel(s.model);
    expect(s.model.graph.feedInputs().map((v) => v.name)).toEqual(['image']);
    expect(s.model.graph.outputs.map((v) => v.name)).toEqual(['logits']);
    expect(s.model.graph.nodes.map((n) => [...n.inputs, '→', ...n.outputs].join(' '))).toEqual([
      'image → logits_student',
      'logits_student w → logits',
    ]);
    expect(s.description).toMatch(/"pixels" renamed "image", "scores" renamed "logits" as in the teacher/);
    const [out] = await outputs(testContext(), s.model, { image: feedsFor(s.model, { N: 2 }).image });
    expect(out.dims).toEqual([2, 10]);
  });

  it('names what does not fit', () => {
    expect(() =>
      fileStudent('bad.onnx', new TextEncoder().encode('not a model'), { sampleShape: [1, 1, 28, 28] }),
    ).toThrow(/"bad\.onnx" is not a usable ONNX model/);
    expect(() => fileStudent('m.onnx', mlp(['N', 1, 32, 32], 10), { sampleShape: [1, 1, 28, 28] })).toThrow(
      /takes \[N, 1, 32, 32\] but the data are \[1, 1, 28, 28\]/,
    );
    expect(() =>
      fileStudent('m.onnx', mlp(['N', 1, 28, 28], 7), { sampleShape: [1, 1, 28, 28], classes: 10 }),
    ).toThrow(/7 outputs per sample but the teacher has 10 classes/);
  });
});

describe('fresh initialisation for the from-scratch baseline', () => {
  it('keeps the architecture, draws He / Glorot weights and resets biases and BatchNormalization', async () => {
    const teacher = (await narrowStudent(sample(), 0.5, testContext())).model;
    const fresh = reinitializeWeights(teacher, 7);
    checkModel(fresh);
    expect(countParameters(fresh.graph)).toBe(countParameters(teacher.graph));
    expect(fresh.graph.nodes.map((n) => n.opType)).toEqual(teacher.graph.nodes.map((n) => n.opType));
    const values = (m: Model, name: string) =>
      Float32Array.from(tensorArray(m.graph.initializers.get(name)!) as Float32Array);
    const std = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    const conv2 = fresh.graph.nodes.find((n) => n.name === '/features/conv2/Conv')!;
    const w2 = values(fresh, conv2.inputs[1]);
    // He normal: std √(2 / fan_in), fan_in = 8 channels × 3 × 3 (the conv feeds BN then Relu).
    expect(std(w2)).toBeCloseTo(Math.sqrt(2 / 72), 1);
    expect(w2).not.toEqual(values(teacher, conv2.inputs[1]));
    const fc2 = fresh.graph.nodes.find((n) => n.name === '/classifier/fc2/Gemm')!;
    const w = values(fresh, fc2.inputs[1]);
    // Glorot uniform for the classifier: |w| ≤ √(6 / (fan_in + fan_out)).
    const limit = Math.sqrt(6 / (48 + 10));
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(limit * 0.8);
    expect([...values(fresh, fc2.inputs[2])].every((v) => v === 0)).toBe(true);
    const bn = fresh.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    expect([...values(fresh, bn.inputs[1])].every((v) => v === 1)).toBe(true);
    expect([...values(fresh, bn.inputs[3])].every((v) => v === 0)).toBe(true);
    expect([...values(fresh, bn.inputs[4])].every((v) => v === 1)).toBe(true);
    // Same seed, same weights.
    expect(values(reinitializeWeights(teacher, 7), conv2.inputs[1])).toEqual(w2);
  });
});
