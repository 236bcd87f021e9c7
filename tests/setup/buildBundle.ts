// Vitest global setup: every rbee child a test starts runs the built bundle (out/main/cli.js), so
// out/ is rebuilt here when any source is newer than the last build. A single `npx vitest run
// tests/x.test.ts` therefore never exercises a stale bundle.
import { ensureBuilt } from '../../scripts/ensureBuilt.mjs';

export default function setup(): void {
  if (!ensureBuilt()) throw new Error('building out/ failed (see the output above)');
}
