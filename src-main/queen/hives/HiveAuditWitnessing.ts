import type { AuditLog } from '../../audit/AuditLog.js';
import type { Logger } from '../../common/log/createLogger.js';
import type { HiveClient } from './HiveClient.js';

/** Default period of the queen's witnessing round. */
export const DEFAULT_AUDIT_WITNESS_INTERVAL_MS = 60_000;

export interface HiveAuditWitnessingOptions {
  /** The queen's own log: it records the hives' heads and its head is pushed to them. */
  audit: AuditLog;
  /** Linked hives' ids and clients (the registry's). */
  hiveIds: () => readonly string[];
  client: (hiveId: string) => HiveClient | undefined;
  logger: Logger;
  /** Defaults to 60 s; 0 turns the periodic round off (connect, disconnect and shutdown still witness). */
  intervalMs?: number;
}

/**
 * Cross-witnessing between the queen and its hives (docs/audit.md "Witnesses"): one exchange pulls a
 * hive's heads (`GET /v1/audit/heads`: its chain and its workers'), records them as `witness` records
 * in the queen's chain, then pushes the queen's own head (`POST /v1/audit/witness`), which the hive
 * records in its chain. So cutting either side's tail is seen from the other. It runs every
 * `intervalMs`, when a hive connects, before one is unlinked, and at shutdown. Failures are logged and
 * never stop the queen: a missing witness weakens detection, it does not break the service.
 */
export class HiveAuditWitnessing {
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Map<string, Promise<void>>();
  private disposed = false;

  constructor(private readonly options: HiveAuditWitnessingOptions) {}

  private get enabled(): boolean {
    return this.options.audit.mode === 'local';
  }

  start(): void {
    const interval = this.options.intervalMs ?? DEFAULT_AUDIT_WITNESS_INTERVAL_MS;
    if (!this.enabled || interval <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.exchangeAll(), interval);
    this.timer.unref();
  }

  /** One exchange with every linked hive (in parallel); resolves when all have ended, failed or not. */
  async exchangeAll(): Promise<void> {
    await Promise.all(this.options.hiveIds().map((id) => this.exchange(id)));
  }

  /** One exchange with `hiveId`; an exchange already running for it is joined, not doubled. */
  exchange(hiveId: string): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const running = this.inFlight.get(hiveId);
    if (running) return running;
    const done = this.run(hiveId).finally(() => this.inFlight.delete(hiveId));
    this.inFlight.set(hiveId, done);
    return done;
  }

  /** Stops the periodic round (an exchange already running finishes). */
  dispose(): void {
    this.disposed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async run(hiveId: string): Promise<void> {
    const client = this.options.client(hiveId);
    if (!client) return;
    const { audit, logger } = this.options;
    try {
      // A hive vouches only for its own chain and its workers': it cannot make the queen's chain look cut.
      const heads = (await client.auditHeads()).filter((h) => h.chain === `hive:${hiveId}` || h.chain.startsWith('worker:'));
      if (heads.length > 0) await audit.witness(heads, `hive:${hiveId}`);
      const own = await audit.durableHead();
      if (own) await client.auditWitness([own], 'queen');
    } catch (error) {
      if (!this.disposed) logger.warn({ err: error, hive: hiveId }, 'audit witnessing with the hive failed');
    }
  }
}
