import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import type { HiveInfo, HiveKind } from '../../../src-shared/cluster/HiveInfo.js';
import type { Logger } from '../../common/log/createLogger.js';
import type { ClusterView } from '../cluster/ClusterView.js';
import { HiveClient, type HiveEndpoint } from './HiveClient.js';
import { nominalBackoffMs } from '../../../src-shared/policy/backoffDelay.js';

export interface HiveLinkOptions {
  kind: HiveKind;
  /** Shown in the UI: `127.0.0.1:7835` or `user@host:22`. */
  address: string;
  view: ClusterView;
  audit: AuditSink;
  logger: Logger;
  /** Called each time the hive's event stream (re)connects (its snapshot arrived). */
  onConnected?: (hiveId: string) => void;
  /** Reconnect backoff bounds. Defaults to 200 ms … 5 s. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
}

/**
 * The queen's live link to one hive: follows its event stream into the cluster view and reconnects
 * with backoff when it breaks, marking the hive `unreachable` meanwhile (no polling).
 */
export class HiveLink {
  private client: HiveClient;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private connectedOnce = false;
  private wakeUp: (() => void) | undefined;

  constructor(
    endpoint: HiveEndpoint,
    private readonly options: HiveLinkOptions,
  ) {
    this.client = new HiveClient(endpoint);
    const info: HiveInfo = {
      id: endpoint.id,
      kind: options.kind,
      state: 'starting',
      address: options.address,
      version: null,
      os: null,
      arch: null,
      node_version: null,
      devices: [],
      last_seen: null,
      restart_count: options.view.hive(endpoint.id)?.restart_count ?? 0,
      message: null,
    };
    options.view.upsertHive({ ...info, ...(options.view.hive(endpoint.id) ?? {}), kind: options.kind, address: options.address });
  }

  get id(): string {
    return this.client.endpoint.id;
  }

  get hiveClient(): HiveClient {
    return this.client;
  }

  /** Points the link at a new endpoint (the local hive restarted on another port) and reconnects now. */
  retarget(endpoint: HiveEndpoint): void {
    this.client = new HiveClient(endpoint);
    this.wakeUp?.();
  }

  start(): void {
    this.running ??= this.loop();
  }

  async dispose(): Promise<void> {
    this.abort.abort();
    this.wakeUp?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { view, logger } = this.options;
    const base = this.options.reconnectBaseMs ?? 200;
    const max = this.options.reconnectMaxMs ?? 5000;
    let failures = 0;
    while (!this.abort.signal.aborted) {
      let gotSnapshot = false;
      try {
        await this.client.followEvents((event) => {
          if (event.type === 'snapshot' && !gotSnapshot) {
            gotSnapshot = true;
            failures = 0;
            view.patchHive(this.id, { state: 'online', message: null, last_seen: Date.now() });
            void this.options.audit
              .emit({ event_type: 'hive_connected', hive_id: this.id, actor: 'system', details: { reconnect: this.connectedOnce } })
              .catch(() => undefined);
            this.connectedOnce = true;
            this.options.onConnected?.(this.id);
          }
          view.applyHiveEvent(this.id, event);
        }, this.abort.signal, () => view.patchHive(this.id, { last_seen: Date.now() }));
        if (this.abort.signal.aborted) return;
        this.markLost('event stream ended');
      } catch (error) {
        if (this.abort.signal.aborted) return;
        this.markLost(error instanceof Error ? error.message : String(error));
      }
      failures++;
      const delay = nominalBackoffMs(failures, { backoff_base_ms: base, backoff_max_ms: max });
      logger.debug({ hive: this.id, delay }, 'hive link reconnecting');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  private markLost(reason: string): void {
    const current = this.options.view.hive(this.id);
    if (current?.state === 'online') {
      this.options.logger.warn({ hive: this.id, reason }, 'hive lost');
      void this.options.audit.emit({ event_type: 'hive_lost', hive_id: this.id, actor: 'system', reason }).catch(() => undefined);
    }
    if (current && current.state !== 'unreachable' && current.state !== 'stopped') {
      this.options.view.patchHive(this.id, { state: 'unreachable', message: reason });
    }
  }
}
