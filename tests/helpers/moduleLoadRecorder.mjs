// Preloaded into rbee processes by tests (NODE_OPTIONS=--import=<this file's URL>, inherited by their
// children): every process appends `<pid> <url>` for each module it resolves whose URL contains
// RBEE_TEST_IMPORT_MATCH to the file RBEE_TEST_IMPORT_LOG. Static imports and dynamic import() both
// pass through the resolve hook (node-llama-cpp can only be loaded through import()).
import { register } from 'node:module';

const file = process.env.RBEE_TEST_IMPORT_LOG;
const match = process.env.RBEE_TEST_IMPORT_MATCH;
if (file && match) {
  const hooks = `
    import { appendFileSync } from 'node:fs';
    let file, match, pid;
    export async function initialize(data) { ({ file, match, pid } = data); }
    export async function resolve(specifier, context, next) {
      const result = await next(specifier, context);
      if (result.url.includes(match)) appendFileSync(file, pid + ' ' + result.url + '\\n');
      return result;
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url, { data: { file, match, pid: process.pid } });
}
