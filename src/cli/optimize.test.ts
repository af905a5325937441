import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { Model } from '../onnx/ir';
import { hasSharedModels, sharedModelsDir } from '../test/fixtures';
import { readProvenance } from '../pipeline/provenance';
import { pdfPlainText } from '../report/testing/pdfText';
import { runCli } from './cli';

let dir: string;

async function whittle(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd: dir,
  });
  return { code, stdout, stderr };
}

function write(name: string, content: string | Uint8Array) {
  writeFileSync(path.join(dir, name), content);
  return name;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'whittle-optimize-'));
  const b = new GraphBuilder('m');
  b.input('x', DataType.FLOAT, [1, 4]);
  b.initializer('w', DataType.FLOAT, [4, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const mm = b.op('MatMul', ['x', 'w'], {}, 'mm');
  b.node('Identity', [mm], {}, { name: 'id', outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 2]);
  write('m.onnx', b.bytes());
  write('empty.json', '{"whittle":1,"stages":[]}');
  write('simplify.json', '{"whittle":1,"stages":[{"stage":"simplify"}]}');
  write('bad.json', '{"whittle":1,"stages":[{"stage":"simplify","params":{"sparsity":0.5}}]}');
  write('unknown.json', '{"whittle":1,"stages":[{"stage":"make-it-small"}]}');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('optimize', () => {
  it('writes the input back byte for byte for an empty recipe', async () => {
    const r = await whittle([
      'optimize',
      'm.onnx',
      '--recipe',
      'empty.json',
      '-o',
      'out.onnx',
      '--runs',
      '2',
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, 'out.onnx')).equals(readFileSync(path.join(dir, 'm.onnx')))).toBe(
      true,
    );
    expect(r.stdout).toMatch(/original/);
  });

  it('runs a recipe, prints the table and writes model and JSON report', async () => {
    const r = await whittle([
      'optimize',
      'm.onnx',
      '--recipe',
      'simplify.json',
      '-o',
      's.onnx',
      '--report',
      'r.json',
      '--runs',
      '2',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/simplify\s+done/);
    const out = Model.decode(readFileSync(path.join(dir, 's.onnx')));
    expect(out.graph.nodes.map((n) => n.opType)).toEqual(['MatMul']);
    const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
    expect(report.stages).toHaveLength(2);
    expect(report.stages[1].metrics.bytes).toBeLessThan(report.stages[0].metrics.bytes);
  });

  it('writes a PDF report and records provenance in the model it writes', async () => {
    const r = await whittle([
      'optimize',
      'm.onnx',
      '--recipe',
      'simplify.json',
      '-o',
      'p.onnx',
      '--report',
      'r.pdf',
      '--runs',
      '2',
    ]);
    expect(r.code).toBe(0);
    const pdf = new Uint8Array(readFileSync(path.join(dir, 'r.pdf')));
    expect(new TextDecoder().decode(pdf.subarray(0, 5))).toBe('%PDF-');
    const text = await pdfPlainText(pdf);
    expect(text).toContain('m.onnx');
    expect(text).toContain('Simplify');
    expect(text).toContain('m.whittle-simplified.onnx');
    const written = new Uint8Array(readFileSync(path.join(dir, 'p.onnx')));
    expect(text).toContain(createHash('sha256').update(written).digest('hex'));
    const provenance = readProvenance(written);
    expect(provenance?.recipe.stages.map((s) => s.stage)).toEqual(['simplify']);
    expect(provenance?.stages).toHaveLength(2);
  });

  it('rejects a report file that is neither .pdf nor .json', async () => {
    const r = await whittle([
      'optimize',
      'm.onnx',
      '--recipe',
      'empty.json',
      '-o',
      'x.onnx',
      '--report',
      'r.html',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--report writes a PDF \(\.pdf\) or JSON \(\.json\) report/);
  });

  it.each([
    ['invalid params', 'bad.json', /invalid recipe "bad.json": stage 1 \("simplify"\): field "sparsity"/],
    ['an unknown stage', 'unknown.json', /unknown stage id "make-it-small"/],
    ['a missing recipe', 'nope.json', /cannot read recipe "nope.json"/],
  ])('rejects %s with one line', async (_, recipe, message) => {
    const r = await whittle(['optimize', 'm.onnx', '--recipe', recipe, '-o', 'x.onnx']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('requires its options', async () => {
    expect((await whittle(['optimize', 'm.onnx', '-o', 'x.onnx'])).code).toBe(2);
    expect((await whittle(['optimize', 'm.onnx', '--recipe', 'empty.json'])).code).toBe(2);
  });

  it.skipIf(!hasSharedModels)('measures accuracy of mnist-8 on the real MNIST test images', async () => {
    write(
      'mnist.json',
      JSON.stringify({
        'whittle-dataset': 1,
        samples: path.join(sharedModelsDir, 'datasets/mnist_test_images_uint8.npy'),
        labels: path.join(sharedModelsDir, 'datasets/mnist_test_labels_uint8.npy'),
        split: { train: 0, calibration: 0, evaluation: 1000 },
      }),
    );
    const r = await whittle([
      'optimize',
      path.join(sharedModelsDir, 'mnist-8.onnx'),
      '--recipe',
      'simplify.json',
      '-o',
      'mn.onnx',
      '--data',
      'mnist.json',
      '--report',
      'mn.json',
      '--runs',
      '3',
    ]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(path.join(dir, 'mn.json'), 'utf8'));
    // The models README: 98.70 % on the first 1000 test images.
    expect(report.stages[0].metrics.accuracy).toBeCloseTo(0.987, 5);
    expect(report.stages[1].metrics.agreement).toBe(1);

    const pdf = await whittle([
      'optimize',
      path.join(sharedModelsDir, 'mnist-8.onnx'),
      '--recipe',
      'simplify.json',
      '-o',
      'mn2.onnx',
      '--data',
      'mnist.json',
      '--report',
      'mn.pdf',
      '--runs',
      '3',
    ]);
    expect(pdf.code).toBe(0);
    const text = await pdfPlainText(new Uint8Array(readFileSync(path.join(dir, 'mn.pdf'))));
    expect(text).toContain('mnist-8.onnx');
    expect(text).toContain('1,000 samples of mnist.json (evaluation split)');
    expect(text).toContain('Accuracy (top-1) 98.70% 98.70% 0.00 pp');
  });
});
