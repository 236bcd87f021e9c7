/**
 * `npm run bench`: every benchmark, one after another (they share 2 cores; running them together
 * would measure contention). Each prints its figures as ratios against a baseline measured in the
 * same run. Pick some with `npm run bench -- worker queen`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../ensureBuilt.mjs';

const ALL = ['worker', 'queen', 'pools', 'recovery', 'detect', 'unavailable', 'coldstart', 'memory', 'audit', 'ssh'];
// `npm run bench -- soak --minutes 30`: the names come first; from the first option on, the arguments
// go to every chosen benchmark (each parses its own and refuses one it does not know).
const args = process.argv.slice(2);
const firstOption = args.findIndex((a) => a.startsWith('-'));
const names = firstOption === -1 ? args : args.slice(0, firstOption);
const passed = firstOption === -1 ? [] : args.slice(firstOption);
const chosen = names.length > 0 ? names : ALL;
const loader = createRequire(import.meta.url).resolve('tsx/esm');
// Every rbee child a benchmark starts runs the built bundle: build out/ first when it is stale.
if (!ensureBuilt()) process.exit(1);
let failed = 0;
for (const name of chosen) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!existsSync(file)) {
    console.log(`\n# ${name}: no benchmark file (${file})`);
    continue;
  }
  console.log(`\n# ${name}`);
  const result = spawnSync(process.execPath, ['--import', loader, file, ...passed], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.log(`# ${name} FAILED (exit ${result.status ?? result.signal})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
