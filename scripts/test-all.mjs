#!/usr/bin/env node
// The README's test command (`npm test`, called by .ci/run): installs what the tests need, then runs
// lint, typecheck, every vitest suite with coverage, the browser e2e suite and reports the Electron
// e2e suite honestly. Exits non-zero on the first failing stage.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** System packages the integration and e2e tests use: real sshd, real Chromium, netns tooling. */
const SYSTEM_PACKAGES = [
  { bin: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { bin: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  { bin: '/usr/bin/chromium', pkg: 'chromium' },
  { bin: '/usr/sbin/ip', pkg: 'iproute2' },
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

run('lint', 'npx', ['eslint', '.']);
run('typecheck', 'npm', ['run', 'typecheck']);
run('unit + integration (vitest, coverage of src-main and src-shared)', 'npx', ['vitest', 'run', '--coverage']);
if (existsSync('playwright.config.ts')) run('browser e2e (Playwright + Debian Chromium)', 'npx', ['playwright', 'test']);
if (existsSync('scripts/electron-e2e.mjs')) run('electron e2e', 'node', ['scripts/electron-e2e.mjs']);
console.log('\nAll test stages passed.');
