/**
 * Audit log benchmark (issue 5, acceptance 3 and 5). Standalone:
 *   node --import tsx scripts/bench/audit.ts [--events 100000] [--critical 300] [--json]
 * Prints: disabled-mode cost per emit (goal ≤ 1 µs), local-mode throughput with group fsync, seq,
 * the HMAC sealing key and a witness record every 10,000 events (goal ≥ 50k events/s, issue 13; the
 * ratio to the goal is printed) and the latency of a critical (fsynced) emit (p50/p99).
 * The folder is a fresh temp dir (override with AUDIT_BENCH_DIR to measure another disk).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '../../src-shared/audit/AuditEvent.js';
import { createDisabledAuditLog } from '../../src-main/audit/DisabledAuditLog.js';
import { LocalAuditLog } from '../../src-main/audit/LocalAuditLog.js';
import { verifyAuditDir } from '../../src-main/audit/verifyAuditDir.js';

export interface AuditBenchResult {
  disabled_ns_per_emit: number;
  local_events_per_s: number;
  local_events: number;
  local_fsyncs: number;
  /** CPU time (user + system, this process) per event in local mode: the load-independent figure. */
  local_cpu_us_per_event: number;
  critical_p50_ms: number;
  critical_p99_ms: number;
  critical_concurrent8_p99_ms: number;
}

const EVENT: AuditEvent = {
  event_type: 'auth_success',
  actor: 'token:9f86d0',
  client_ip: '127.0.0.1',
  request_id: 'req-0001',
  path: '/v1/chat/completions',
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function benchDisabled(): number {
  const log = createDisabledAuditLog('bench');
  const n = 5_000_000;
  for (let i = 0; i < 100_000; i++) void log.emit(EVENT); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) void log.emit(EVENT);
  return Number(process.hrtime.bigint() - t0) / n;
}

/** Local-mode throughput goal (issue 13: with seq, witnessing and the HMAC on). */
export const LOCAL_GOAL_EVENTS_PER_S = 50_000;
const WITNESS_EVERY = 10_000;

async function benchLocal(dir: string, events: number): Promise<{ perSecond: number; fsyncs: number; cpuUsPerEvent: number }> {
  const log = await LocalAuditLog.open({ dir: join(dir, 'throughput'), serviceId: 'bench', sealKey: randomBytes(32) });
  const witnesses: Promise<void>[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < events; i += 1000) {
    for (let j = 0; j < 1000 && i + j < events; j++) void log.emit({ ...EVENT, request_id: `req-${i + j}` });
    // A hive's head, as the queen records it (every 60 s in a real cluster; far more often here).
    if (i % WITNESS_EVERY === 0) witnesses.push(log.witness([{ chain: 'hive:bench', seq: i + 1, hash: createHash('sha256').update(String(i)).digest('hex') }], 'hive:bench'));
    // Let the writer run (a server's emits interleave with I/O the same way); keep below the queue bound.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (log.stats().queueDepth > 5000) await log.flush();
  }
  await Promise.all(witnesses);
  await log.flush(); // everything durable before the clock stops
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const stats = log.stats();
  await log.close();
  const total = events + witnesses.length;
  const check = await verifyAuditDir(join(dir, 'throughput'));
  if (!check.ok || check.entries !== total + 1) throw new Error(`bench log does not verify: ${JSON.stringify(check)}`);
  if (stats.written !== total) throw new Error(`wrote ${stats.written} of ${total}`);
  return { perSecond: (events / ms) * 1000, fsyncs: stats.syncs, cpuUsPerEvent: (cpu.user + cpu.system) / events };
}

async function benchCritical(dir: string, n: number): Promise<{ p50: number; p99: number; concurrentP99: number }> {
  const log = await LocalAuditLog.open({ dir: join(dir, 'critical'), serviceId: 'bench' });
  const critical: AuditEvent = { event_type: 'auth_failure', actor: 'token:000000', client_ip: '10.0.0.9', path: '/v1/models', reason: 'INVALID_API_KEY' };
  for (let i = 0; i < 20; i++) await log.emit(critical); // warm up
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await log.emit(critical);
    lat.push(performance.now() - t);
  }
  const conc: number[] = [];
  for (let i = 0; i < n / 8; i++) {
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const t = performance.now();
        await log.emit(critical);
        conc.push(performance.now() - t);
      }),
    );
  }
  await log.close();
  lat.sort((a, b) => a - b);
  conc.sort((a, b) => a - b);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), concurrentP99: percentile(conc, 99) };
}

export async function runAuditBench(options: { events?: number; critical?: number } = {}): Promise<AuditBenchResult> {
  const dir = await mkdtemp(join(process.env.AUDIT_BENCH_DIR ?? tmpdir(), 'rbee-audit-bench-'));
  try {
    const disabled = benchDisabled();
    const events = options.events ?? 100_000;
    const local = await benchLocal(dir, events);
    const critical = await benchCritical(dir, options.critical ?? 300);
    return {
      disabled_ns_per_emit: Number(disabled.toFixed(1)),
      local_events_per_s: Math.round(local.perSecond),
      local_events: events,
      local_fsyncs: local.fsyncs,
      local_cpu_us_per_event: Number(local.cpuUsPerEvent.toFixed(2)),
      critical_p50_ms: Number(critical.p50.toFixed(3)),
      critical_p99_ms: Number(critical.p99.toFixed(3)),
      critical_concurrent8_p99_ms: Number(critical.concurrentP99.toFixed(3)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : Number(process.argv[i + 1]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await runAuditBench({ events: arg('--events'), critical: arg('--critical') });
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ bench: 'audit', ...r })}\n`);
  } else {
    const ok = (v: boolean) => (v ? 'meets goal' : 'BELOW GOAL');
    process.stdout.write(
      [
        'audit log benchmark',
        `  disabled mode:   ${r.disabled_ns_per_emit} ns/emit (goal ≤ 1000 ns: ${ok(r.disabled_ns_per_emit <= 1000)})`,
        `  local mode:      ${r.local_events_per_s} events/s, group fsync + seq + HMAC + a witness per ${WITNESS_EVERY} (${r.local_events} events, ${r.local_fsyncs} fsyncs, ${r.local_cpu_us_per_event} µs CPU/event; goal ≥ ${LOCAL_GOAL_EVENTS_PER_S}: ${(r.local_events_per_s / LOCAL_GOAL_EVENTS_PER_S).toFixed(2)}× of it, ${ok(r.local_events_per_s >= LOCAL_GOAL_EVENTS_PER_S)})`,
        `  critical emit:   p50 ${r.critical_p50_ms} ms, p99 ${r.critical_p99_ms} ms (fsynced before resolve); 8 concurrent: p99 ${r.critical_concurrent8_p99_ms} ms`,
        '',
      ].join('\n'),
    );
  }
}
