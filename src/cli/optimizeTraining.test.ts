import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../test/fixtures';
import { runCli } from './cli';
import { epochLine } from './training';

const samples = path.join(repoRoot, 'public/samples');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'whittle-train-'));
  const manifest = JSON.parse(readFileSync(path.join(samples, 'digits-dataset.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  // The sample's data with small splits: this is about the command line, not about accuracy.
  writeFileSync(
    path.join(dir, 'data.json'),
    JSON.stringify({
      ...manifest,
      samples: path.join(samples, 'digits-images.npy'),
      labels: path.join(samples, 'digits-labels.npy'),
      split: { train: 128, calibration: 64, evaluation: 64 },
    }),
  );
  writeFileSync(
    path.join(dir, 'recipe.json'),
    JSON.stringify({
      whittle: 1,
      stages: [{ stage: 'fine-tune', params: { epochs: 2, batchSize: 32, batchNorm: 'frozen' } }],
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('optimize with a training stage', () => {
  it('prints one progress line per epoch to stderr (tfjs CPU backend in Node)', async () => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      [
        'optimize',
        path.join(samples, 'digits-cnn.onnx'),
        '--recipe',
        'recipe.json',
        '-o',
        'out.onnx',
        '--data',
        'data.json',
        '--runs',
        '2',
      ],
      {
        stdout: { write: (s: string) => (stdout += s) },
        stderr: { write: (s: string) => (stderr += s) },
        cwd: dir,
      },
    );
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);
    const epochs = stderr.split('\n').filter((l) => l.includes(' fine-tune: epoch '));
    expect(epochs).toHaveLength(2);
    for (const [k, line] of epochs.entries())
      expect(line).toMatch(
        new RegExp(
          `^ {2}1 fine-tune: epoch ${k + 1}/2 · loss \\d+\\.\\d{4} · validation accuracy \\d+\\.\\d % · \\d+ samples/s$`,
        ),
      );
    // The epoch lines come before the stage's result line.
    expect(stderr.indexOf('epoch 2/2')).toBeLessThan(stderr.indexOf('1 fine-tune: done'));
    // TensorFlow.js's advice to install tfjs-node is not printed.
    expect(stderr).not.toContain('tfjs-node');
    expect(stdout).toMatch(/fine-tune: 2 epochs on cpu; kept epoch [12]/);
    expect(readFileSync(path.join(dir, 'out.onnx')).byteLength).toBeGreaterThan(100_000);
  }, 180_000);

  it('formats an epoch without validation figures', () => {
    expect(epochLine(3, 'step 2', 4, { epoch: 1, loss: 0.5, seconds: 2, samplesPerSecond: 63.4 })).toBe(
      '  3 step 2: epoch 1/4 · loss 0.5000 · 63 samples/s',
    );
  });
});
