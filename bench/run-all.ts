/**
 * `npm run bench`: runs every bench/*.bench.ts, and the benchmarks registered below, each in its own
 * process, one after another (so they do not disturb each other's timings), and exits non-zero when
 * one of them fails.
 * `npm run bench -- --only parse` runs the benchmarks whose file name contains "parse".
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, '..');
const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const only = values.only;

/** Benchmarks registered by name beside the *.bench.ts files (e.g. those that drive Chromium). */
const registered = ['training-throughput.ts'];

const files = [...readdirSync(benchDir).filter((f) => f.endsWith('.bench.ts')), ...registered]
  .filter((f) => !only || f.includes(only))
  .sort();
if (files.length === 0) {
  console.error(`No benchmarks in ${benchDir}${only ? ` matching "${only}"` : ''}.`);
  process.exit(1);
}

const failed: string[] = [];
for (const file of files) {
  console.log(`\n=== ${file} ===`);
  const t0 = performance.now();
  const r = spawnSync(tsx, [path.join(benchDir, file)], { cwd: repoRoot, stdio: 'inherit' });
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    failed.push(file);
    console.log(
      `=== ${file}: FAILED (${r.error?.message ?? `exit ${r.status ?? r.signal}`}) after ${seconds} s ===`,
    );
  } else console.log(`=== ${file}: done in ${seconds} s ===`);
}
console.log(
  `\n${files.length - failed.length} of ${files.length} benchmarks ran${failed.length ? `; failed: ${failed.join(', ')}` : ''}.`,
);
process.exitCode = failed.length ? 1 : 0;
