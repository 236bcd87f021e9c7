// Preloaded into rbee processes by tests (NODE_OPTIONS=--import=<this file's URL>, inherited by their
// children): every process appends `<pid> <url>` to the file RBEE_TEST_IMPORT_LOG for each module
// whose URL contains one of RBEE_TEST_IMPORT_MATCH's comma-separated strings:
// - as it resolves: static imports and dynamic import() pass through the resolve hook (node-llama-cpp
//   can only be loaded through import());
// - when it exits: CommonJS files loaded by require() (a package's own files, e.g. Fastify requiring
//   ajv) do not pass through the resolve hook on Node 20, so the require cache is read then.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const file = process.env.RBEE_TEST_IMPORT_LOG;
const match = process.env.RBEE_TEST_IMPORT_MATCH;
if (file && match) {
  const matches = match.split(',').filter(Boolean);
  const hooks = `
    import { appendFileSync } from 'node:fs';
    let file, matches, pid;
    export async function initialize(data) { ({ file, matches, pid } = data); }
    export async function resolve(specifier, context, next) {
      const result = await next(specifier, context);
      if (matches.some((m) => result.url.includes(m))) appendFileSync(file, pid + ' ' + result.url + '\\n');
      return result;
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url, { data: { file, matches, pid: process.pid } });
  const requireCache = createRequire(import.meta.url).cache;
  process.once('exit', () => {
    const loaded = Object.keys(requireCache).filter((path) => matches.some((m) => pathToFileURL(path).href.includes(m)));
    if (loaded.length > 0) appendFileSync(file, loaded.map((path) => `${process.pid} ${pathToFileURL(path).href}\n`).join(''));
  });
}
