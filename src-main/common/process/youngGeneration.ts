import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation at its initial size (1 MiB per semi-space) for the rest of this process.
 *
 * Why: Node lets the young generation grow to 16 MiB per semi-space. Loading the queen's modules
 * survives enough scavenges to grow it to the maximum, and an idle process then keeps ~10–14 MB of
 * those pages resident until V8's memory reducer happens to shrink them, which it may do after 20 s or
 * not within minutes (the idle queen measured 77–93 MB for that reason alone, docs/benchmarks.md
 * "Memory"). The relay's allocations die young, so a small young generation costs it no measurable
 * throughput (same doc, `queen` bench before and after).
 *
 * Why at run time rather than `--max-semi-space-size=1` on the command line (as rbeeCommand gives the
 * hive): the queen is started as `rbee queen` / `node bin/rbee.mjs queen`, a command line we do not
 * own. V8 reads the growth factor each time it would grow the young generation (the maximum size is
 * fixed at start), so setting it before the command's modules load has the same effect. A V8 without
 * the flag prints "unrecognized flag" once and keeps its default.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
