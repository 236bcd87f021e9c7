// The one place that decides whether `out/` (the built bundle every rbee process runs) is current.
// `npm start`, `npm test` (and vitest's global setup, so a single test file never runs a stale bundle)
// and `bin/rbee.mjs` in a source checkout call ensureBuilt(); it rebuilds only when a source is newer
// than the last successful build. Production processes never compile TypeScript at run time.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
/** Written after a successful build; its mtime is the build's "as of" time. */
const STAMP = join(ROOT, 'out', '.build-stamp');
const SOURCE_DIRS = ['src-main', 'src-shared', 'src-renderer', 'resources'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'electron.vite.config.ts', 'vite.renderer.config.ts', 'tsconfig.json', 'tsconfig.base.json'];

/** Newest modification time (ms) under the build's inputs. */
function newestSourceMtime() {
  let newest = 0;
  const visit = (path) => {
    let st;
    try {
      st = statSync(path);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (st.mtimeMs > newest) newest = st.mtimeMs;
  };
  for (const dir of SOURCE_DIRS) visit(join(ROOT, dir));
  for (const file of SOURCE_FILES) visit(join(ROOT, file));
  return newest;
}

/** Why `out/` must be rebuilt, or null when it is current (or there are no sources: a packaged copy). */
export function staleReason() {
  if (!existsSync(join(ROOT, 'src-main'))) return null;
  if (!existsSync(join(ROOT, 'out', 'main', 'cli.js')) || !existsSync(STAMP)) return 'out/ has not been built';
  return newestSourceMtime() > statSync(STAMP).mtimeMs ? 'sources changed since the last build' : null;
}

/**
 * Builds `out/` when it is stale. Progress goes to stderr so that commands whose stdout is machine
 * readable (`rbee audit head --json`) stay clean. Returns false when the build failed.
 */
export function ensureBuilt({ log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const reason = staleReason();
  if (!reason) return true;
  const started = Date.now();
  // The stamp is taken before building so that an edit made during the build counts as newer.
  const asOf = new Date();
  log(`rbee: building out/ (${reason}) …`);
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    log(`rbee: build failed (exit ${result.status ?? result.signal}):\n${result.stdout}${result.stderr}`);
    return false;
  }
  writeFileSync(STAMP, `${asOf.toISOString()}\n`);
  utimesSync(STAMP, asOf, asOf);
  log(`rbee: built out/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

// `node scripts/ensureBuilt.mjs`: build if stale, exit 1 if the build fails.
if (import.meta.url === `file://${process.argv[1]}`) process.exit(ensureBuilt() ? 0 : 1);
