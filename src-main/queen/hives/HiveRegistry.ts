import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import type { HiveKind } from '../../../src-shared/cluster/HiveInfo.js';
import type { Logger } from '../../common/log/createLogger.js';
import type { ClusterView } from '../cluster/ClusterView.js';
import type { HiveClient, HiveEndpoint } from './HiveClient.js';
import { HiveLink } from './HiveLink.js';

export interface HiveRegistryOptions {
  view: ClusterView;
  audit: AuditSink;
  logger: Logger;
  /** Called when a hive's event stream (re)connects. */
  onConnected?: (hiveId: string) => void;
  /** Awaited before a hive is unlinked (removed or disconnected by the operator), while it is still reachable. */
  beforeUnlink?: (hiveId: string) => Promise<void>;
}

/**
 * The queen's hive links, one per hive id: the local hive and every remote one. Linking an id that is
 * already linked retargets it (a restarted hive on a new port, a re-opened tunnel) instead of opening
 * a second event stream; unlinking disposes the link and drops the hive from the view.
 */
export class HiveRegistry {
  private readonly links = new Map<string, HiveLink>();

  constructor(private readonly options: HiveRegistryOptions) {}

  link(endpoint: HiveEndpoint, kind: HiveKind, address: string): HiveLink {
    const existing = this.links.get(endpoint.id);
    if (existing) {
      existing.retarget(endpoint);
      return existing;
    }
    const { view, audit, logger, onConnected } = this.options;
    const link = new HiveLink(endpoint, { kind, address, view, audit, logger, onConnected });
    this.links.set(endpoint.id, link);
    link.start();
    return link;
  }

  async unlink(hiveId: string): Promise<void> {
    if (this.links.has(hiveId)) await this.options.beforeUnlink?.(hiveId).catch(() => undefined);
    const link = this.links.get(hiveId);
    this.links.delete(hiveId);
    await link?.dispose();
    this.options.view.removeHive(hiveId);
  }

  /** Closes every link (queen shutdown); the view keeps its last state. */
  async dispose(): Promise<void> {
    const links = [...this.links.values()];
    this.links.clear();
    for (const link of links) await link.dispose();
  }

  /** The ids of every linked hive. */
  ids(): string[] {
    return [...this.links.keys()];
  }

  /** The HTTP client of a linked hive; undefined when the queen has no link to it. */
  client(hiveId: string): HiveClient | undefined {
    return this.links.get(hiveId)?.hiveClient;
  }
}
