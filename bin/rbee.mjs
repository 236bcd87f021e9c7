#!/usr/bin/env node
// The `rbee` CLI runs the built bundle (out/main/cli.js), never TypeScript at run time. In a source
// checkout it first rebuilds out/ when a source is newer than the last build (a no-op otherwise).
import { existsSync } from 'node:fs';

const root = new URL('..', import.meta.url);
if (existsSync(new URL('src-main', root))) {
  const { ensureBuilt } = await import(new URL('scripts/ensureBuilt.mjs', root).href);
  if (!ensureBuilt()) process.exit(1);
}
await import(new URL('out/main/cli.js', root).href);
