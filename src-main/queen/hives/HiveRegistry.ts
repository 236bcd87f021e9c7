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
    const link = new HiveLink(endpoint, { kind, address, ...this.options });
    this.links.set(endpoint.id, link);
    link.start();
    return link;
  }

  async unlink(hiveId: string): Promise<void> {
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

  /** The HTTP client of a linked hive; undefined when the queen has no link to it. */
  client(hiveId: string): HiveClient | undefined {
    return this.links.get(hiveId)?.hiveClient;
  }
}
