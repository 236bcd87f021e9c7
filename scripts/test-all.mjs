#!/usr/bin/env node
// The README's test command (`npm test`, called by .ci/run): installs what the tests need, then runs
// lint, typecheck, every vitest suite with coverage, the browser e2e suite and reports the Electron
// e2e suite honestly. Exits non-zero on the first failing stage.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** System packages the integration and e2e tests use: real sshd, real Chromium, netns tooling. */
const SYSTEM_PACKAGES = [
  { bin: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { bin: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  { bin: '/usr/bin/chromium', pkg: 'chromium' },
  { bin: '/usr/sbin/ip', pkg: 'iproute2' },
  { bin: '/usr/bin/openssl', pkg: 'openssl' },
];

function run(label, command, args, options = {}) {
  const started = Date.now();
  console.log(`\n=== ${label}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    console.error(`\n=== ${label} FAILED (exit ${result.status ?? result.signal}) after ${secs} s`);
    process.exit(result.status || 1);
  }
  console.log(`=== ${label} ok (${secs} s)`);
}

const missing = SYSTEM_PACKAGES.filter((p) => !existsSync(p.bin)).map((p) => p.pkg);
if (missing.length > 0) {
  if (isRoot) {
    run('apt-get update', 'apt-get', ['update', '-qq']);
    run('apt-get install', 'apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } else {
    console.error(`Missing system packages: ${missing.join(' ')}.\nInstall them (as root: apt-get install -y ${missing.join(' ')}) and run again.`);
    process.exit(1);
  }
}

if (!existsSync('node_modules/.package-lock.json')) run('npm ci', 'npm', ['ci', '--no-audit', '--no-fund']);

run('build (out/, the bundle every rbee process runs)', 'node', ['scripts/ensureBuilt.mjs']);
run('lint', 'npx', ['eslint', '.']);
run('typecheck', 'npm', ['run', 'typecheck']);
run('unit + integration (vitest, coverage of src-main and src-shared)', 'npx', ['vitest', 'run', '--coverage']);
// On a machine without a GPU this prints one line and passes; with one it checks the GPU path.
run('GPU check (npm run check:gpu)', 'npm', ['run', 'check:gpu']);
if (existsSync('playwright.config.ts')) run('browser e2e (Playwright + Debian Chromium)', 'npx', ['playwright', 'test']);
if (existsSync('scripts/electron-e2e.mjs')) run('electron e2e', 'node', ['scripts/electron-e2e.mjs']);
printCoverageSummary();
console.log('\nAll test stages passed.');

/** The run ends with what the real tests exercise: coverage of src-main and src-shared, by folder. */
function printCoverageSummary() {
  const file = 'coverage/coverage-summary.json';
  if (!existsSync(file)) return;
  const summary = JSON.parse(readFileSync(file, 'utf8'));
  const byFolder = new Map();
  for (const [path, data] of Object.entries(summary)) {
    if (path === 'total') continue;
    const parts = relative(process.cwd(), path).split('/');
    const folder = parts[0] === 'src-main' ? `src-main/${parts[1]}` : parts[0];
    const acc = byFolder.get(folder) ?? { covered: 0, total: 0 };
    acc.covered += data.lines.covered;
    acc.total += data.lines.total;
    byFolder.set(folder, acc);
  }
  const t = summary.total;
  console.log('\n=== Coverage of src-main and src-shared (vitest v8; code run in child processes is not counted)');
  for (const [folder, { covered, total }] of [...byFolder].sort()) {
    console.log(`  ${folder.padEnd(22)} ${((100 * covered) / Math.max(1, total)).toFixed(1).padStart(5)} % lines (${covered}/${total})`);
  }
  console.log(`  ${'total'.padEnd(22)} lines ${t.lines.pct} % · statements ${t.statements.pct} % · functions ${t.functions.pct} % · branches ${t.branches.pct} %`);
}
