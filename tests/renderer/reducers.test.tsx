import { afterEach, describe, expect, it } from 'vitest';
import { initialAuditData, matchesAuditFilters, mergeAuditRecords, reduceAuditRecord, emptyAuditFilters } from '../../src-renderer/stores/auditSlice.js';
import { initialClusterData, reduceCluster, workerKey } from '../../src-renderer/stores/clusterSlice.js';
import { initialConnectionData, reduceConnection } from '../../src-renderer/stores/connectionSlice.js';
import { idleRun, reduceInference, runRate, type InferenceRun } from '../../src-renderer/stores/playgroundSlice.js';
import { dispatchClusterEvent, useRbee } from '../../src-renderer/stores/store.js';
import { auditRecord, ev, hive, worker } from './fixtures.js';

const snapshot = (workers = [worker()], seq = 0) => ev({ type: 'snapshot', snapshot: { hives: [hive()], workers, models: [] } }, seq);

describe('reduceCluster', () => {
  it('a snapshot replaces everything and records the clock offset', () => {
    const s = reduceCluster(initialClusterData, snapshot(), 9_000);
    expect(s.loaded).toBe(true);
    expect(Object.keys(s.workers)).toEqual([workerKey('local', 'w1')]);
    expect(s.hives.local?.state).toBe('online');
    expect(s.clockOffsetMs).toBe(1_000);
  });

  it('applies a crash → backoff → ready sequence by whole-object replacement', () => {
    let s = reduceCluster(initialClusterData, snapshot(), 10_000);
    s = reduceCluster(s, ev({ type: 'worker_updated', worker: worker({ state: 'crashed', pid: null }) }, 1), 10_000);
    expect(s.workers['local/w1']?.state).toBe('crashed');
    s = reduceCluster(s, ev({ type: 'worker_updated', worker: worker({ state: 'backoff', next_restart_at: 11_000, pid: null }) }, 2), 10_000);
    expect(s.workers['local/w1']?.next_restart_at).toBe(11_000);
    s = reduceCluster(s, ev({ type: 'worker_updated', worker: worker({ state: 'idle', restart_count: 1, pid: 5000 }) }, 3), 10_000);
    expect(s.workers['local/w1']).toMatchObject({ state: 'idle', restart_count: 1, pid: 5000 });
    expect(s.lastSeq).toBe(3);
  });

  it('ignores events older than the last applied seq of the stream', () => {
    let s = reduceCluster(initialClusterData, snapshot(), 10_000);
    s = reduceCluster(s, ev({ type: 'worker_updated', worker: worker({ state: 'busy' }) }, 5), 10_000);
    const stale = reduceCluster(s, ev({ type: 'worker_updated', worker: worker({ state: 'crashed' }) }, 4), 10_000);
    expect(stale).toBe(s);
  });

  it('a resync snapshot after a reconnect drops what vanished meanwhile (seq restarts)', () => {
    let s = reduceCluster(initialClusterData, snapshot([worker(), worker({ id: 'w2' })]), 10_000);
    s = reduceCluster(s, ev({ type: 'worker_updated', worker: worker({ state: 'busy' }) }, 40), 10_000);
    s = reduceCluster(s, snapshot([worker({ restart_count: 2 })], 0), 10_000);
    expect(Object.keys(s.workers)).toEqual(['local/w1']);
    expect(s.workers['local/w1']?.restart_count).toBe(2);
    // The new stream's seq 1 is applied although the old stream had reached 40.
    s = reduceCluster(s, ev({ type: 'worker_updated', worker: worker({ state: 'busy' }) }, 1), 10_000);
    expect(s.workers['local/w1']?.state).toBe('busy');
  });

  it('hive removal takes its workers and models along; models_updated replaces one hive', () => {
    let s = reduceCluster(initialClusterData, snapshot(), 10_000);
    const model = { name: 'm.gguf', hive: 'local', size_bytes: 1, architecture: 'llama', quantization: 'F32', context_length: 512, is_demo: true };
    s = reduceCluster(s, ev({ type: 'models_updated', hive_id: 'local', models: [model] }, 1), 10_000);
    s = reduceCluster(s, ev({ type: 'models_updated', hive_id: 'local', models: [model, { ...model, name: 'n.gguf' }] }, 2), 10_000);
    expect(s.models.map((m) => m.name)).toEqual(['m.gguf', 'n.gguf']);
    s = reduceCluster(s, ev({ type: 'hive_removed', hive_id: 'local' }, 3), 10_000);
    expect(s.hives).toEqual({});
    expect(s.workers).toEqual({});
    expect(s.models).toEqual([]);
  });

  it('worker_removed, download and shutdown progress', () => {
    let s = reduceCluster(initialClusterData, snapshot(), 10_000);
    s = reduceCluster(s, ev({ type: 'worker_removed', hive_id: 'local', worker_id: 'w1' }, 1), 10_000);
    expect(s.workers).toEqual({});
    s = reduceCluster(
      s,
      ev({ type: 'download_progress', progress: { hive_id: 'local', download_id: 'd1', source: 'hf:a/b/c', received_bytes: 0, total_bytes: null, state: 'failed', message: 'offline' } }, 2),
      10_000,
    );
    expect(s.downloads.d1?.state).toBe('failed');
    s = reduceCluster(s, ev({ type: 'shutdown_progress', progress: { hive_id: 'local', phase: 'sigterm', remaining_workers: 1 } }, 3), 10_000);
    expect(s.shutdown.local?.phase).toBe('sigterm');
  });
});

describe('audit reducers', () => {
  it('filters by type, service, text and time', () => {
    const r = auditRecord({ event_type: 'auth_failure', actor: 'token:9f86d0' }, '2026-11-27T08:00:00.000Z', 'queen');
    expect(matchesAuditFilters(r, emptyAuditFilters)).toBe(true);
    expect(matchesAuditFilters(r, { ...emptyAuditFilters, eventTypes: ['auth_failure'] })).toBe(true);
    expect(matchesAuditFilters(r, { ...emptyAuditFilters, eventTypes: ['worker_crashed'] })).toBe(false);
    expect(matchesAuditFilters(r, { ...emptyAuditFilters, service: 'QUE' })).toBe(true);
    expect(matchesAuditFilters(r, { ...emptyAuditFilters, service: 'hive' })).toBe(false);
    expect(matchesAuditFilters(r, { ...emptyAuditFilters, text: '9f86d0' })).toBe(true);
    expect(matchesAuditFilters(r, { ...emptyAuditFilters, text: 'nothing-like-it' })).toBe(false);
    expect(matchesAuditFilters(r, { ...emptyAuditFilters, from: '2026-11-27T09:00:00Z' })).toBe(false);
    expect(matchesAuditFilters(r, { ...emptyAuditFilters, to: '2026-11-27T09:00:00Z' })).toBe(true);
  });

  it('merges newest first without duplicates', () => {
    const a = auditRecord({}, '2026-11-27T08:00:00.000Z');
    const b = auditRecord({}, '2026-11-27T08:00:01.000Z');
    const c = auditRecord({}, '2026-11-27T08:00:02.000Z');
    expect(mergeAuditRecords([a, b], [c, a]).map((r) => r.audit_id)).toEqual([c.audit_id, b.audit_id, a.audit_id]);
  });

  it('a live record joins when it matches; while paused it waits as pending', () => {
    const crash = auditRecord({ event_type: 'worker_crashed' });
    const filtered = { ...initialAuditData, filters: { ...emptyAuditFilters, eventTypes: ['auth_failure' as const] } };
    expect(reduceAuditRecord(filtered, crash)).toBe(filtered);
    const fail = auditRecord({ event_type: 'auth_failure' });
    expect(reduceAuditRecord(filtered, fail).records).toEqual([fail]);
    const paused = reduceAuditRecord({ ...filtered, following: false }, fail);
    expect(paused.records).toEqual([]);
    expect(paused.pending).toEqual([fail]);
    expect(reduceAuditRecord(reduceAuditRecord(filtered, fail), fail).records).toHaveLength(1);
  });
});

describe('connection reducer', () => {
  it('counts a recovery only after a drop', () => {
    let c = reduceConnection(initialConnectionData, 'open', 1);
    expect(c.reconnects).toBe(0);
    c = reduceConnection(c, 'reconnecting', 5);
    expect(c.downSince).toBe(5);
    c = reduceConnection(c, 'reconnecting', 9);
    expect(c.downSince).toBe(5);
    c = reduceConnection(c, 'open', 12);
    expect(c).toMatchObject({ state: 'open', downSince: null, reconnects: 1 });
  });
});

describe('inference reducer', () => {
  it('appends batched tokens, then takes the end event as the truth', () => {
    let run: InferenceRun = { ...idleRun, status: 'running', startedAt: 0 };
    run = reduceInference(run, [{ type: 'started', job_id: 'j1', model: 'm' }], 5);
    run = reduceInference(run, [{ type: 'token', t: 'he', i: 0 }, { type: 'token', t: 'llo', i: 1 }], 10);
    expect(run).toMatchObject({ jobId: 'j1', output: 'hello', tokens: 2, firstTokenAt: 10 });
    run = reduceInference(run, [{ type: 'token', t: '!', i: 2 }, { type: 'end', tokens_out: 3, decode_ms: 30, stop_reason: 'max_tokens' }], 40);
    expect(run).toMatchObject({ status: 'done', output: 'hello!', tokens: 3, stopReason: 'max_tokens', decodeMs: 30 });
    expect(runRate(run, 100)).toBe(100);
  });
  it('records an error event', () => {
    const run = reduceInference({ ...idleRun, status: 'running' }, [{ type: 'error', code: 'MODEL_NOT_FOUND', message: 'no such model' }], 1);
    expect(run).toMatchObject({ status: 'error', error: 'no such model (MODEL_NOT_FOUND)' });
  });
  it('estimates the live rate client-side before the end', () => {
    const run = { ...idleRun, status: 'running' as const, tokens: 11, firstTokenAt: 1000 };
    expect(runRate(run, 2000)).toBe(10);
    expect(runRate({ ...run, tokens: 1 }, 2000)).toBeNull();
  });
});

describe('the store', () => {
  afterEach(() => useRbee.setState(useRbee.getInitialState(), true));

  it('routes stream events to the cluster reducer and audit records to the audit tail', () => {
    dispatchClusterEvent(snapshot());
    const r = auditRecord({ event_type: 'breaker_opened', worker_id: 'w1' });
    dispatchClusterEvent(ev({ type: 'audit', record: r }, 1));
    expect(useRbee.getState().cluster.loaded).toBe(true);
    expect(useRbee.getState().audit.records).toEqual([r]);
  });

  it('starts clean after getInitialState', () => {
    expect(useRbee.getState().cluster.loaded).toBe(false);
    expect(useRbee.getState().audit.records).toEqual([]);
  });
});
