import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder, externalTensor } from '../onnx/builder';
import { DataType } from '../onnx/dtype';
import { makeTensor } from '../onnx/tensor';
import { repoRoot, sharedModelsDir } from '../test/fixtures';
import { runCli } from './cli';
import { toJson } from './format';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function whittle(args: string[], cwd = dir): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd,
  });
  return { code, stdout, stderr };
}

/** A failure must be exactly one line on stderr, starting with `whittle: `. */
function expectOneLineError(r: Result, code: number, pattern: RegExp): void {
  expect(r.code).toBe(code);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^whittle: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

let dir: string;

/**
 * Conv(W 4×1×3×3, B 4) → Relu → GlobalAveragePool → Flatten → Gemm(G 4×3, C 3) → Add(Constant 3):
 * 7 nodes, 4 initializers, 36 + 4 + 12 + 3 + 3 = 58 parameters.
 */
function convModel(): Uint8Array {
  const b = new GraphBuilder('conv');
  b.input('x', DataType.FLOAT, ['batch', 1, 8, 8]);
  b.initializer('W', DataType.FLOAT, [4, 1, 3, 3], new Float32Array(36).fill(0.1));
  b.initializer('B', DataType.FLOAT, [4], [0, 1, 2, 3]);
  b.initializer('G', DataType.FLOAT, [4, 3], new Float32Array(12).fill(0.5));
  b.initializer('C', DataType.FLOAT, [3], [1, 2, 3]);
  const c = b.op('Conv', ['x', 'W', 'B'], { pads: [1, 1, 1, 1] });
  const r = b.op('Relu', [c]);
  const p = b.op('GlobalAveragePool', [r]);
  const f = b.op('Flatten', [p]);
  const g = b.op('Gemm', [f, 'G', 'C']);
  const k = b.op('Constant', [], { value: makeTensor('k', DataType.FLOAT, [3], [1, 1, 1]) });
  b.node('Add', [g, k], {}, { outputs: ['y'] });
  b.output('y', DataType.FLOAT, ['batch', 3]);
  return b.bytes({ producer: 'whittle-test', producerVersion: '9.9' });
}

/** MatMul with a 4×2 weight stored at offset 64 of `weights.bin`. */
function externalModel(): { model: Uint8Array; weights: Uint8Array } {
  const b = new GraphBuilder('external');
  b.input('x', DataType.FLOAT, [1, 4]);
  b.tensor(externalTensor('W', DataType.FLOAT, [4, 2], 'weights.bin', 64, 32));
  b.node('MatMul', ['x', 'W'], {}, { outputs: ['y'] });
  b.output('y', DataType.FLOAT, [1, 2]);
  const weights = new Uint8Array(96);
  weights.set(new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer), 64);
  return { model: b.bytes(), weights };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'whittle-cli-'));
  const conv = convModel();
  writeFileSync(path.join(dir, 'conv.onnx'), conv);
  writeFileSync(path.join(dir, 'truncated.onnx'), conv.subarray(0, Math.floor(conv.byteLength * 0.6)));
  writeFileSync(path.join(dir, 'empty.onnx'), new Uint8Array(0));
  writeFileSync(
    path.join(dir, 'picture.onnx'),
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]),
  );
  mkdirSync(path.join(dir, 'folder.onnx'));
  const ext = externalModel();
  mkdirSync(path.join(dir, 'ext'));
  writeFileSync(path.join(dir, 'ext/model.onnx'), ext.model);
  writeFileSync(path.join(dir, 'ext/weights.bin'), ext.weights);
  mkdirSync(path.join(dir, 'ext-missing'));
  writeFileSync(path.join(dir, 'ext-missing/model.onnx'), ext.model);

  const broken = new GraphBuilder('broken');
  broken.input('x', DataType.FLOAT, [2]);
  broken.node('Add', ['x', 'ghost'], {}, { outputs: ['y'], name: 'adder' });
  broken.output('y', DataType.FLOAT, [2]);
  writeFileSync(path.join(dir, 'broken.onnx'), broken.bytes());
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('help and usage', () => {
  it('prints the command list with no arguments, help, --help and -h', async () => {
    for (const args of [[], ['help'], ['--help'], ['-h']]) {
      const r = await whittle(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: npm run whittle -- <command>/);
      expect(r.stdout).toMatch(/^ {2}inspect /m);
      expect(r.stdout).toMatch(/^ {2}bench /m);
      expect(r.stderr).toBe('');
    }
  });

  it("prints a command's usage with help <command> and <command> --help", async () => {
    expect((await whittle(['help', 'bench'])).stdout).toMatch(/--runs N/);
    const r = await whittle(['inspect', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--json/);
  });

  it('rejects unknown commands, unknown options and bad values with exit status 2', async () => {
    expectOneLineError(await whittle(['frobnicate']), 2, /unknown command "frobnicate"/);
    expectOneLineError(await whittle(['help', 'frobnicate']), 2, /unknown command "frobnicate"/);
    expectOneLineError(await whittle(['inspect']), 2, /expected one model file, got 0/);
    expectOneLineError(await whittle(['inspect', 'a.onnx', 'b.onnx']), 2, /expected one model file, got 2/);
    expectOneLineError(await whittle(['inspect', 'conv.onnx', '--frob']), 2, /inspect: .*--frob/);
    expectOneLineError(await whittle(['bench', 'conv.onnx', '--runs', '0']), 2, /--runs must be a positive/);
    expectOneLineError(await whittle(['bench', 'conv.onnx', '--runs', '2x']), 2, /--runs .* "2x"/);
    expectOneLineError(await whittle(['bench', 'conv.onnx', '--warmup', '-1']), 2, /--warmup/);
    expectOneLineError(await whittle(['bench', 'conv.onnx', '--dim', 'batch']), 2, /name=value/);
    expectOneLineError(
      await whittle(['bench', 'conv.onnx', '--dim', 'height=4']),
      2,
      /no symbolic dimension "height" \(they have: batch\)/,
    );
  });
});

describe('inspect', () => {
  it('prints the exact counts of a generated model as JSON', async () => {
    const r = await whittle(['inspect', 'conv.onnx', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(j).toMatchObject({
      nodes: 7,
      nodesTotal: 7,
      initializers: 4,
      parameters: 58,
      bytes: convModel().byteLength,
      opsets: { 'ai.onnx': 17 },
      producer: 'whittle-test',
      producerVersion: '9.9',
      irVersion: 8,
      ops: { Conv: 1, Relu: 1, GlobalAveragePool: 1, Flatten: 1, Gemm: 1, Constant: 1, Add: 1 },
      issues: [],
    });
    expect(j.inputs).toEqual([{ name: 'x', type: 'float', elemType: 1, shape: ['batch', 1, 8, 8] }]);
    expect(j.outputs).toEqual([{ name: 'y', type: 'float', elemType: 1, shape: ['batch', 3] }]);
  });

  it('prints a readable summary with symbolic dims by name', async () => {
    const r = await whittle(['inspect', path.join(dir, 'conv.onnx')], '/');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^producer +whittle-test 9\.9$/m);
    expect(r.stdout).toMatch(/^IR version +8$/m);
    expect(r.stdout).toMatch(/^opsets +ai\.onnx 17$/m);
    expect(r.stdout).toMatch(/^inputs +x {2}float\[batch,1,8,8\]$/m);
    expect(r.stdout).toMatch(/^outputs +y {2}float\[batch,3\]$/m);
    expect(r.stdout).toMatch(/^nodes +7$/m);
    expect(r.stdout).toMatch(/^initializers +4$/m);
    expect(r.stdout).toMatch(/^parameters +58$/m);
    expect(r.stdout).toMatch(new RegExp(`^file size +${convModel().byteLength} bytes$`, 'm'));
    expect(r.stdout).toMatch(/^ {2}GlobalAveragePool {2}1$/m);
    expect(r.stdout).toMatch(/^validation +no problems found$/m);
  });

  it('reads external data from beside the model, and warns when it is missing', async () => {
    const ok = await whittle(['inspect', 'ext/model.onnx', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      externalFiles: ['weights.bin'],
      parameters: 8,
      issues: [],
    });
    expect((await whittle(['inspect', 'ext/model.onnx'])).stdout).toMatch(
      /^external data +weights\.bin {2}96 bytes$/m,
    );

    const missing = await whittle(['inspect', 'ext-missing/model.onnx']);
    expect(missing.code).toBe(0);
    expect(missing.stdout).toMatch(/weights\.bin {2}\(not found\)/);
    expect(missing.stdout).toMatch(/warning: external data file "weights\.bin" .*no such file/);
  });

  it('lists validation errors and exits 1 with one line for an invalid model', async () => {
    const r = await whittle(['inspect', 'broken.onnx']);
    expectOneLineError(r, 1, /invalid model "broken\.onnx": .*"ghost"/);
    expect(r.stdout).toMatch(/^validation +1 error, 0 warnings$/m);
    expect(r.stdout).toMatch(/error: Node "adder" \(Add\) reads tensor "ghost"/);
    const j = await whittle(['inspect', 'broken.onnx', '--json']);
    expect(j.code).toBe(1);
    const parsed = JSON.parse(j.stdout) as { issues: { severity: string; tensor?: string }[] };
    expect(parsed.issues).toEqual([expect.objectContaining({ severity: 'error', tensor: 'ghost' })]);
  });

  it('names the problem with bad files in one line and exits 1', async () => {
    expectOneLineError(
      await whittle(['inspect', 'picture.onnx']),
      1,
      /^whittle: cannot read model "picture\.onnx": This is a PNG image, not an ONNX model\.$/,
    );
    expectOneLineError(await whittle(['inspect', 'empty.onnx']), 1, /"empty\.onnx": The file is empty/);
    expectOneLineError(await whittle(['inspect', 'truncated.onnx']), 1, /"truncated\.onnx": .*truncated/);
    expectOneLineError(await whittle(['inspect', 'missing.onnx']), 1, /"missing\.onnx": no such file$/);
    expectOneLineError(await whittle(['inspect', 'folder.onnx']), 1, /"folder\.onnx": it is a directory/);
    expectOneLineError(await whittle(['bench', 'picture.onnx']), 1, /PNG image/);
  });

  const mnist = path.join(sharedModelsDir, 'mnist-8.onnx');
  it.skipIf(!existsSync(mnist))(
    'gives the exact facts of mnist-8 (IR 3: weights listed as inputs too)',
    async () => {
      const r = await whittle(['inspect', mnist, '--json']);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(j).toMatchObject({
        nodes: 12,
        initializers: 8,
        parameters: 5998,
        bytes: 26454,
        irVersion: 3,
        producer: 'CNTK',
        opsets: { 'ai.onnx': 8 },
        ops: { Conv: 2, MaxPool: 2, Relu: 2, Reshape: 2, Add: 3, MatMul: 1 },
      });
      expect(Object.keys(j.ops as object)).toHaveLength(6);
      expect(j.inputs).toEqual([{ name: 'Input3', type: 'float', elemType: 1, shape: [1, 1, 28, 28] }]);
      expect(j.outputs).toEqual([{ name: 'Plus214_Output_0', type: 'float', elemType: 1, shape: [1, 10] }]);
    },
  );

  const silero = path.join(sharedModelsDir, 'silero_vad_v5.onnx');
  it.skipIf(!existsSync(silero))('counts Constant weights inside If subgraphs of silero_vad_v5', async () => {
    const r = await whittle(['inspect', silero, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as {
      initializers: number;
      parameters: number;
      nodes: number;
      nodesTotal: number;
    };
    expect(j.initializers).toBe(0);
    expect(j.parameters).toBeGreaterThan(100_000);
    expect(j.nodes).toBe(5);
    expect(j.nodesTotal).toBe(689);
    const text = await whittle(['inspect', silero]);
    expect(text.stdout).toMatch(/^inputs +input {2}float\[\?,\?\]$/m);
    expect(text.stdout).toMatch(/^nodes +5 in the main graph, 689 with subgraphs$/m);
  });
});

describe('bench', () => {
  it('measures a generated model with a symbolic batch set by --dim', async () => {
    const r = await whittle([
      'bench',
      'conv.onnx',
      '--runs',
      '4',
      '--warmup',
      '1',
      '--threads',
      '1',
      '--dim',
      'batch=2',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(j).toMatchObject({ runtime: 'onnxruntime-node', backend: 'cpu', threads: 1, runs: 4, warmup: 1 });
    expect(j.inputs).toEqual([{ name: 'x', type: 'float', shape: [2, 1, 8, 8] }]);
    expect(j.medianMs).toBeGreaterThan(0);
    expect(j.p95Ms as number).toBeGreaterThanOrEqual(j.medianMs as number);

    const text = await whittle(['bench', 'conv.onnx', '--runs', '3', '--warmup', '0', '--threads', '1']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^runtime +onnxruntime-node \d+\.\d+\.\d+, cpu, 1 thread$/m);
    expect(text.stdout).toMatch(/^inputs +x {2}float\[1,1,8,8\]$/m);
    expect(text.stdout).toMatch(/^runs +3 timed after 0 warm-up$/m);
    expect(text.stdout).toMatch(/^median +\d+\.\d+ ms$/m);
    expect(text.stdout).toMatch(/^p95 +\d+\.\d+ ms$/m);
  });

  it('runs models with external data and refuses when the data is missing', async () => {
    const r = await whittle(['bench', 'ext/model.onnx', '--runs', '2', '--warmup', '0', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ runs: 2 });
    expectOneLineError(await whittle(['bench', 'ext-missing/model.onnx']), 1, /cannot run .*"weights\.bin"/);
  });

  it('refuses invalid models before running them', async () => {
    expectOneLineError(await whittle(['bench', 'broken.onnx']), 1, /invalid model "broken\.onnx": .*"ghost"/);
  });
});

describe('toJson', () => {
  it('keeps arrays of plain values on one line and stays parseable', () => {
    const v = { shape: [1, 'batch', null], names: ['a [x]', 'b,\nc'], nested: [{ a: [1] }], empty: [] };
    const text = toJson(v);
    expect(JSON.parse(text)).toEqual(v);
    expect(text).toMatch(/"shape": \[1, "batch", null\]/);
  });
});

describe('the real process', () => {
  const run = (cmd: string, args: string[]) =>
    spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, INIT_CWD: dir } });

  it('npx tsx src/cli/main.ts inspect --json exits 0 and prints one JSON object', () => {
    // npx sets INIT_CWD to its own working folder (the repository), so the path is absolute here.
    const r = run('npx', ['tsx', 'src/cli/main.ts', 'inspect', path.join(dir, 'conv.onnx'), '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ nodes: 7, initializers: 4, parameters: 58 });
  });

  it('exits non-zero with one line on stderr for a bad file and for an unknown command', () => {
    const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
    const bad = run(tsx, ['src/cli/main.ts', 'inspect', 'picture.onnx']);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe(
      'whittle: cannot read model "picture.onnx": This is a PNG image, not an ONNX model.\n',
    );
    const unknown = run(tsx, ['src/cli/main.ts', 'optimise']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  });
});
