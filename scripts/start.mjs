#!/usr/bin/env node
// The README's run command (`npm start`): the desktop app where Electron can run; otherwise (no
// Electron binary, no display — servers, CI machines) the headless queen with its dashboard and the
// generated demo model, said in one line.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from './ensureBuilt.mjs';

const root = new URL('..', import.meta.url).pathname;
const electronBinary = (() => {
  try {
    const pathFile = join(root, 'node_modules', 'electron', 'path.txt');
    return existsSync(pathFile) ? join(root, 'node_modules', 'electron', 'dist', readFileSync(pathFile, 'utf8').trim()) : null;
  } catch {
    return null;
  }
})();
const hasDisplay = process.platform !== 'linux' || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);

function run(command, args) {
  const child = spawn(command, args, { stdio: 'inherit', cwd: root });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

if (electronBinary && existsSync(electronBinary) && hasDisplay) {
  if (!ensureBuilt()) process.exit(1);
  run(electronBinary, [root]);
} else {
  const why = !electronBinary || !existsSync(electronBinary) ? 'no Electron binary installed' : 'no display';
  console.log(`rbee: the desktop app cannot start here (${why}); starting the headless queen with its dashboard and the demo model instead.`);
  // Every rbee process runs the built bundle: build out/ when a source is newer than the last build.
  if (!ensureBuilt()) process.exit(1);
  const dataDir = process.env.RBEE_DATA_DIR || join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'rbee');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tokenFile = join(dataDir, 'api-token');
  if (!process.env.LLORCH_API_TOKEN && !existsSync(tokenFile)) writeFileSync(tokenFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  if (!process.env.LLORCH_API_TOKEN) console.log(`rbee: API token in ${tokenFile} (show it with: cat ${tokenFile})`);
  const args = ['bin/rbee.mjs', 'queen', '--demo', '--data-dir', dataDir, '--audit', process.env.LLORCH_AUDIT_MODE || 'local'];
  if (!process.env.LLORCH_API_TOKEN) args.push('--token-file', tokenFile);
  if (process.env.RBEE_PORT) args.push('--port', process.env.RBEE_PORT);
  run(process.execPath, args);
}
