// Usage: npm run gen:model -- <out.gguf> [seed]
import { ensureTinyModel } from '../src-main/models/ensureTinyModel.js';

const [out, seed] = process.argv.slice(2);
if (!out) {
  console.error('usage: gen-model <out.gguf> [seed]');
  process.exit(2);
}
await ensureTinyModel(out, { seed: seed ? Number(seed) : 1 });
console.log(out);
