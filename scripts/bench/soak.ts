/**
 * Soak (runtime issue, goal 7): `npm run bench -- soak` runs a real headless queen with its demo
 * worker under mixed load for 30 minutes (BENCH_SOAK_MINUTES or `--minutes N` shortens it):
 * streaming chats, requests cancelled mid-stream, requests with deadlines too short to finish, and a
 * SIGKILL of the serving worker every few minutes (the hive restarts it). Every 10 s it samples the
 * queen's process tree (queen, hive, workers, standby): RSS, open file descriptors, process count.
 *
 * Verdict, after a warm-up of a tenth of the run: RSS growth ≤ 5 % and no fd growth (medians of the last
 * quarter of the samples against the first quarter), no extra process, every killed worker serving
 * again (another pid) within 60 s, and a last request completing. Exits 1 when a budget is missed.
 * (A run where the worker stopped being served would otherwise pass on memory: fewer processes.)
 */
import { readdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { ensureBuilt } from '../ensureBuilt.mjs';
import { processTree, rssBytes as rssOf } from './lib/processTree.js';
import { BENCH_TOKEN, startQueenProcess } from './lib/queenProcess.js';
import { fmt, median } from './lib/stats.js';

const SAMPLE_EVERY_MS = 10_000;
const { values } = parseArgs({ options: { minutes: { type: 'string' } }, allowPositionals: true });
const MINUTES = Number(values.minutes ?? process.env.BENCH_SOAK_MINUTES ?? 30);
/**
 * A worker that has run this long counts as stable again (its restart attempts reset). The soak sets
 * it on the queen, and kills less often than that, so each kill is a crash to heal, not a crash loop:
 * with the default 5-min window a kill every 3 min is a loop, and the policy rightly gives up.
 */
const STABILITY_WINDOW_MS = 60_000;
const KILL_EVERY_MS = Math.max(STABILITY_WINDOW_MS + 30_000, (MINUTES * 60_000) / 10);
/** A killed worker must serve again within this, or the soak fails. */
const RECOVERY_LIMIT_MS = 60_000;

interface Sample {
  atMs: number;
  rssBytes: number;
  fds: number;
  processes: number;
}

async function sample(root: number, startedAt: number): Promise<Sample> {
  let rssBytes = 0;
  let fds = 0;
  const tree = await processTree(root);
  for (const pid of tree) {
    rssBytes += await rssOf(pid);
    try {
      fds += (await readdir(`/proc/${pid}/fd`)).length;
    } catch {
      // exited meanwhile
    }
  }
  return { atMs: performance.now() - startedAt, rssBytes, fds, processes: tree.length };
}

type Outcome = 'complete' | 'cancelled' | 'deadline' | 'error';
/** HTTP status → count, for the requests that failed before streaming (printed with the verdict). */
const errorStatuses = new Map<number, number>();

/** One streamed chat; `cancelAfterTokens` aborts it mid-stream, `deadlineMs` sets X-Deadline. */
async function chat(url: string, options: { cancelAfterTokens?: number; deadlineMs?: number } = {}): Promise<Outcome> {
  const controller = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' };
  if (options.deadlineMs) headers['x-deadline'] = String(Date.now() + options.deadlineMs);
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      signal: controller.signal,
      body: JSON.stringify({ model: 'rbee-demo-tiny.gguf', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 64, stream: true }),
    });
    if (res.status === 504) return 'deadline';
    if (!res.ok || !res.body) {
      errorStatuses.set(res.status, (errorStatuses.get(res.status) ?? 0) + 1);
      return 'error';
    }
    const decoder = new TextDecoder();
    let text = '';
    let tokens = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      tokens = text.split('"content"').length - 1;
      if (options.cancelAfterTokens !== undefined && tokens >= options.cancelAfterTokens) {
        controller.abort();
        return 'cancelled';
      }
    }
    if (/deadline/i.test(text) && text.includes('"error"')) return 'deadline';
    return text.includes('"error"') ? 'error' : 'complete';
  } catch {
    return controller.signal.aborted ? 'cancelled' : 'error';
  }
}

async function main(): Promise<number> {
  if (!ensureBuilt()) return 1;
  const queen = await startQueenProcess('local');
  const url = queen.url;
  const outcomes: Record<Outcome, number> = { complete: 0, cancelled: 0, deadline: 0, error: 0 };
  const samples: Sample[] = [];
  let kills = 0;
  const recoveries: number[] = [];
  let servingAtEnd = false;
  try {
    const snapshot = async (): Promise<ClusterSnapshot> =>
      (await (await fetch(`${url}/v1/control/snapshot`, { headers: queen.headers })).json()) as ClusterSnapshot;
    await queen.waitForModel('rbee-demo-tiny.gguf');
    const policy = await fetch(`${url}/v1/control/settings`, {
      method: 'PATCH',
      headers: { ...queen.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ restart_policy: { stability_window_ms: STABILITY_WINDOW_MS } }),
    });
    if (!policy.ok) throw new Error(`setting the stability window failed: ${policy.status} ${await policy.text()}`);
    const startedAt = performance.now();
    const endAt = startedAt + MINUTES * 60_000;
    let nextKill = startedAt + KILL_EVERY_MS;
    let nextSample = startedAt;
    console.log(`soak: ${MINUTES} min, a worker SIGKILL every ${Math.round(KILL_EVERY_MS / 1000)} s, samples every ${SAMPLE_EVERY_MS / 1000} s`);
    // Two clients: one streams to the end or cancels; the other sends requests with tight deadlines.
    const client = async (kind: 'stream' | 'deadline'): Promise<void> => {
      for (let i = 0; performance.now() < endAt; i++) {
        const outcome = kind === 'stream' ? await chat(url, i % 3 === 2 ? { cancelAfterTokens: 3 } : {}) : await chat(url, { deadlineMs: 20 + (i % 5) * 20 });
        outcomes[outcome]++;
      }
    };
    const supervisor = async (): Promise<void> => {
      while (performance.now() < endAt) {
        const now = performance.now();
        if (now >= nextSample) {
          samples.push(await sample(queen.pid, startedAt));
          nextSample += SAMPLE_EVERY_MS;
        }
        if (now >= nextKill) {
          const serving = (await snapshot()).workers.find((w) => w.pid && (w.state === 'idle' || w.state === 'busy'));
          if (serving?.pid) {
            const killedPid = serving.pid;
            process.kill(killedPid, 'SIGKILL');
            kills++;
            // Healed = a worker of the model serves again from another process, within the limit.
            const killedAt = performance.now();
            for (;;) {
              const back = (await snapshot()).workers.find((w) => w.pid && w.pid !== killedPid && (w.state === 'idle' || w.state === 'busy'));
              if (back) {
                recoveries.push(performance.now() - killedAt);
                break;
              }
              if (performance.now() - killedAt > RECOVERY_LIMIT_MS) break;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
          nextKill += KILL_EVERY_MS;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await Promise.all([client('stream'), client('deadline'), supervisor()]);
    servingAtEnd = (await chat(url)) === 'complete';
  } finally {
    await queen.stop();
  }

  const warm = samples.filter((s) => s.atMs >= (MINUTES * 60_000) / 10);
  if (warm.length < 2) {
    console.log('soak: too short for a verdict (fewer than two samples after warm-up)');
    return 1;
  }
  // Medians of the first and last quarters: a sample taken mid-request holds a few more sockets.
  const quarter = Math.max(1, Math.floor(warm.length / 4));
  const head = warm.slice(0, quarter);
  const tail = warm.slice(warm.length - quarter);
  const base = { rssBytes: median(head.map((s) => s.rssBytes)), fds: median(head.map((s) => s.fds)), processes: head[head.length - 1]!.processes };
  const rssGrowth = median(tail.map((s) => s.rssBytes)) / base.rssBytes - 1;
  const fdGrowth = median(tail.map((s) => s.fds)) - base.fds;
  const processGrowth = tail[tail.length - 1]!.processes - base.processes;
  const mb = (b: number): string => fmt(b / 1024 / 1024, 1);
  console.log(`  requests: ${outcomes.complete} complete, ${outcomes.cancelled} cancelled, ${outcomes.deadline} cut by deadline, ${outcomes.error} errors; ${kills} worker kills`);
  if (errorStatuses.size > 0) console.log(`  errors by status: ${[...errorStatuses].map(([status, n]) => `${status}×${n}`).join(', ')}`);
  console.log(`  RSS of the tree: ${mb(base.rssBytes)} MB after warm-up → ${mb(median(tail.map((s) => s.rssBytes)))} MB (last quarter) = ${fmt(rssGrowth * 100, 1)} % (budget ≤ 5 %)`);
  console.log(`  open fds: ${base.fds} → ${median(tail.map((s) => s.fds))} (budget: no growth); processes: ${base.processes} → ${tail[tail.length - 1]!.processes} (budget: none extra)`);
  console.log(
    `  healing: ${recoveries.length} of ${kills} kills served again within ${RECOVERY_LIMIT_MS / 1000} s` +
      (recoveries.length > 0 ? ` (median ${fmt(median(recoveries), 0)} ms, max ${fmt(Math.max(...recoveries), 0)} ms)` : '') +
      `; a final request ${servingAtEnd ? 'completed' : 'FAILED'} (budget: every kill healed, serving at the end)`,
  );
  const ok = rssGrowth <= 0.05 && fdGrowth <= 0 && processGrowth <= 0 && recoveries.length === kills && servingAtEnd;
  console.log(`  soak ${ok ? 'within budget' : 'OVER BUDGET'}`);
  return ok ? 0 : 1;
}

process.exitCode = await main();
