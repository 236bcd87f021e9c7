import { useCallback, useEffect, useState } from 'react';
import type { PoolHealth, PoolInfo, PoolKeyStorage, PoolTestResult } from '../../src-shared/control/poolSchemas.js';
import { getApi } from '../bridge/apiRegistry.js';
import { BreakerBadge } from '../components/badges.js';
import { EmptyState, ErrorState, LoadingState } from '../components/states.js';
import { useNow } from '../components/useNow.js';
import { errorMessage } from '../stores/errors.js';

/** Pools are not in the cluster event stream (they are the queen's own state): the view re-reads them. */
const REFRESH_MS = 5_000;

const HEALTH: Record<PoolHealth, { glyph: string; tone: string }> = {
  unknown: { glyph: '◌', tone: 'info' },
  online: { glyph: '●', tone: 'ok' },
  unreachable: { glyph: '!', tone: 'warn' },
};

function PoolHealthBadge({ health }: { health: PoolHealth }) {
  const h = HEALTH[health];
  return (
    <span className={`badge tone-${h.tone}`} data-health={health}>
      <span aria-hidden="true">{h.glyph}</span> {health}
    </span>
  );
}

/** Where the key is kept, in words; `warn` where the operator must act (see PoolKeyStorage). */
const KEY_STORAGE: Record<PoolKeyStorage, { text: string; warn: boolean }> = {
  file: { text: '0600 file', warn: false },
  sealed: { text: 'sealed (OS keychain)', warn: false },
  session: { text: 'this session only: the OS cannot seal secrets', warn: true },
  lost: { text: 'key lost (a session-only key after a restart, a keychain that changed, or a deleted key file): add the pool again with its key', warn: true },
};

type Notice = { kind: 'ok' | 'error'; text: string };

function testNotice(name: string, result: PoolTestResult): Notice {
  return result.ok
    ? { kind: 'ok', text: `${name} answered in ${result.latency_ms} ms, listing ${result.models.length} model(s).` }
    : { kind: 'error', text: `${name} failed its check: ${result.error ?? 'no answer'}` };
}

function PoolRow({ pool, now, onChanged, onNotice }: { pool: PoolInfo; now: number; onChanged: (pool?: PoolInfo) => void; onNotice: (notice: Notice) => void }) {
  const [busy, setBusy] = useState(false);
  const act = async (what: 'test' | 'reset'): Promise<void> => {
    setBusy(true);
    try {
      if (what === 'test') onNotice(testNotice(pool.name, await getApi().testPool(pool.name)));
      else {
        onChanged(await getApi().resetPoolBreaker(pool.name));
        onNotice({ kind: 'ok', text: `The breaker of ${pool.name} is closed.` });
      }
      onChanged();
    } catch (error) {
      onNotice({ kind: 'error', text: `${what === 'test' ? 'Check' : 'Reset'} of ${pool.name} failed: ${errorMessage(error)}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-pool={pool.name}>
      <th scope="row" data-label="Pool">
        {pool.name}
        {pool.fallback ? <span className="badge tone-info" title="Serves names the hives serve, after them"> fallback</span> : null}
        <div className="sub">
          <code>{pool.base_url}</code>
        </div>
      </th>
      <td data-label="Health">
        <PoolHealthBadge health={pool.health} />
        {pool.last_error ? <div className="sub error-text">{pool.last_error}</div> : null}
      </td>
      <td data-label="Breaker">
        <BreakerBadge breaker={pool.breaker} now={now} />
      </td>
      <td data-label="Latency">{pool.latency_ms === null ? '—' : `${pool.latency_ms} ms`}</td>
      <td data-label="In flight">
        {pool.in_flight}/{pool.tuning.max_concurrent}
        {pool.queued > 0 ? <span className="sub"> · {pool.queued} queued</span> : null}
      </td>
      <td data-label="Models">
        {pool.models.length === 0 ? (
          '—'
        ) : (
          <ul className="pool-models">
            {pool.models.map((m) => (
              <li key={m.id}>
                <code>
                  {pool.name}/{m.id}
                </code>
                {m.upstream !== m.id ? <span className="sub"> → {m.upstream}</span> : null}
              </li>
            ))}
          </ul>
        )}
      </td>
      <td data-label="Key">
        {pool.key_fingerprint ?? '—'}
        {pool.key_storage ? (
          <div className={`sub${KEY_STORAGE[pool.key_storage].warn ? ' error-text' : ''}`} data-key-storage={pool.key_storage}>
            {KEY_STORAGE[pool.key_storage].text}
          </div>
        ) : null}
      </td>
      <td data-label="Actions">
        <div className="actions">
          <button type="button" disabled={busy} onClick={() => void act('test')} aria-label={`Check now: ${pool.name}`}>
            Check now
          </button>
          {pool.breaker.state !== 'closed' ? (
            <button type="button" disabled={busy} onClick={() => void act('reset')} aria-label={`Reset breaker of ${pool.name}`}>
              Reset breaker
            </button>
          ) : null}
        </div>
      </td>
    </tr>
  );
}

/**
 * Pools: the external OpenAI-compatible engines behind the queen (docs/pools.md), with their health,
 * breaker, latency and models. They are added and removed with `rbee pools` (the key is a file the
 * CLI reads); here an operator watches them, checks one now and closes a breaker.
 */
export function PoolsView() {
  const [pools, setPools] = useState<PoolInfo[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const now = useNow(1_000, pools?.some((p) => p.breaker.state === 'open') ?? false);
  const load = useCallback(async (): Promise<void> => {
    try {
      setPools(await getApi().listPools());
      setLoadError(null);
    } catch (error) {
      setLoadError(errorMessage(error));
    }
  }, []);
  useEffect(() => {
    void load();
    const id = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(id);
  }, [load]);
  const replace = (pool?: PoolInfo): void => {
    if (!pool) return void load();
    setPools((list) => list?.map((p) => (p.name === pool.name ? pool : p)) ?? null);
  };

  return (
    <section aria-labelledby="pools-h">
      <h1 id="pools-h" tabIndex={-1}>
        Pools
      </h1>
      <p className="sub">External OpenAI-compatible engines (vLLM, llama-server, Ollama, another rbee queen) behind this queen: clients name their models <code>pool/model</code>.</p>
      {pools === null && loadError === null ? (
        <LoadingState label="Loading pools…" />
      ) : pools === null ? (
        <ErrorState title="Pools could not be read" message={loadError ?? ''} onRetry={() => void load()} />
      ) : pools.length === 0 ? (
        <EmptyState title="No pools">
          <p>
            Add one with <code>rbee pools add NAME --base-url http://host:8000/v1 [--api-key-file F]</code>.
          </p>
        </EmptyState>
      ) : (
        <div className="card">
          <div className="table-wrap">
            <table className="responsive">
              <caption className="visually-hidden">Pools, their health, breaker, latency and models</caption>
              <thead>
                <tr>
                  <th scope="col">Pool</th>
                  <th scope="col">Health</th>
                  <th scope="col">Breaker</th>
                  <th scope="col">Latency</th>
                  <th scope="col">In flight</th>
                  <th scope="col">Models</th>
                  <th scope="col">Key</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {pools.map((p) => (
                  <PoolRow key={p.name} pool={p} now={now} onChanged={replace} onNotice={setNotice} />
                ))}
              </tbody>
            </table>
          </div>
          {loadError ? (
            <p className="error-text" role="alert">
              Refresh failed: {loadError}
            </p>
          ) : null}
        </div>
      )}
      {notice ? (
        <p className={notice.kind === 'ok' ? 'ok-text' : 'error-text'} role={notice.kind === 'ok' ? 'status' : 'alert'} data-testid="pool-notice">
          {notice.text}
        </p>
      ) : null}
    </section>
  );
}
