import type { AddHiveRequest, AddHiveResult } from '../../src-shared/control/ControlApi.js';
import type { RemoteHiveHost, RemoteHiveManager, RemoteHiveManagerFactory } from '../queen/hives/RemoteHiveManager.js';
import { readRemoteHiveRecords, remoteHiveRecordsFile } from './remoteHiveRecords.js';
import type { SshHiveManager, SshHiveManagerOptions } from './SshHiveManager.js';

/**
 * The SSH implementation of the queen's remote-hive port, for the assembly points (`rbee queen`, the
 * desktop app): `createQueen({ remoteHives: sshRemoteHives(opts) })`.
 *
 * The SSH room (SshHiveManager, ssh2, deploy) is imported on first use: when the queen has remote
 * hives to re-adopt at start, or an operator adds, removes or uploads to one. A queen without remote
 * hives never loads it: ssh2 alone costs an idle queen ~14 MB of RSS (it instantiates a WebAssembly
 * Poly1305 with a 16 MiB memory when required), docs/benchmarks.md "Memory".
 * `tests/runtime/queenIdleModules.test.ts` holds the idle queen to that.
 */
export function sshRemoteHives(options: SshHiveManagerOptions = {}): RemoteHiveManagerFactory {
  return (host) => new LazySshHiveManager(host, options);
}

class LazySshHiveManager implements RemoteHiveManager {
  private loading: Promise<SshHiveManager> | undefined;

  constructor(
    private readonly host: RemoteHiveHost,
    private readonly options: SshHiveManagerOptions,
  ) {}

  async add(request: AddHiveRequest): Promise<AddHiveResult> {
    return (await this.manager()).add(request);
  }

  async remove(hiveId: string, options: { stop: boolean }): Promise<void> {
    return (await this.manager()).remove(hiveId, options);
  }

  async restore(): Promise<void> {
    // Nothing remembered and nothing loaded yet: nothing to re-adopt, so ssh2 stays unloaded.
    if (!this.loading && readRemoteHiveRecords(remoteHiveRecordsFile(this.options.dataDir ?? this.host.dataDir)).length === 0) return;
    return (await this.manager()).restore();
  }

  async uploadModel(
    hiveId: string,
    localPath: string,
    options: { name?: string; onProgress?: (sent: number, total: number) => void },
  ): Promise<{ path: string; skipped: boolean }> {
    return (await this.manager()).uploadModel(hiveId, localPath, options);
  }

  async close(options: { stopRemote?: boolean }): Promise<void> {
    // Never loaded: there is no SSH link to close.
    if (!this.loading) return;
    return (await this.loading).close(options);
  }

  private manager(): Promise<SshHiveManager> {
    this.loading ??= import('./SshHiveManager.js').then(({ SshHiveManager }) => new SshHiveManager(this.host, this.options));
    return this.loading;
  }
}
