#!/usr/bin/env node
// Makes sure Debian's chromium is at /usr/bin/chromium before the end-to-end tests run: installs it
// with apt-get when we are root (or have password-less sudo), otherwise says exactly what to install.
// Playwright's own browser download (`npx playwright install`) is never used.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const CHROMIUM = '/usr/bin/chromium';

if (existsSync(CHROMIUM)) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasSudo = !isRoot && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;

if (hasApt && (isRoot || hasSudo)) {
  const prefix = isRoot ? [] : ['sudo', '-n'];
  const run = (args) => {
    console.log(`ensure-chromium: ${[...prefix, ...args].join(' ')}`);
    const [cmd, ...rest] = [...prefix, ...args];
    const result = spawnSync(cmd, rest, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return result.status === 0;
  };
  if (
    run(['apt-get', 'update']) &&
    run(['apt-get', 'install', '-y', '--no-install-recommends', 'chromium'])
  ) {
    if (existsSync(CHROMIUM)) {
      console.log(`ensure-chromium: installed ${CHROMIUM}`);
      process.exit(0);
    }
  }
  console.error(`ensure-chromium: apt-get did not produce ${CHROMIUM}.`);
}

console.error(
  [
    `The end-to-end tests need Debian's chromium at ${CHROMIUM}, which is missing.`,
    'Install it as root, then run the tests again:',
    '  apt-get update && apt-get install -y chromium',
  ].join('\n'),
);
process.exit(1);
