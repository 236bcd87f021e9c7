import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { PoolInfo } from '../../src-shared/control/poolSchemas.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { capturedLogger } from '../helpers/capturedLogger.js';
import { startRbee, type RbeeProcess } from '../helpers/childProcess.js';
import type { Netns } from '../helpers/netns.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { waitFor } from '../helpers/waitFor.js';

export const UPSTREAM_MODEL = 'tiny.gguf';

/** A second rbee queen as a real process: the engine behind a pool. Its token is the pool's API key. */
export class UpstreamQueen {
  proc: RbeeProcess | undefined;
  url = '';
  port = 0;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'rbee-upstream-'));
  readonly token = `upstream-secret-key-${Math.random().toString(36).slice(2)}-0123456789`;

  /**
   * `netns`: run the engine inside that namespace, bound to its end of the link (a partition can cut
   * it). `contextLength`: the tiny model's trained context and the worker's (tools need 2048).
   */
  constructor(private readonly options: { netns?: Netns; contextLength?: number } = {}) {}

  get auth(): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' };
  }

  /** Starts (or restarts, on the same port) the upstream queen and one ready worker on the tiny model. */
  async start(): Promise<void> {
    mkdirSync(join(this.dataDir, 'models'), { recursive: true });
    copyFileSync(await tinyModelPath(1, this.options.contextLength), join(this.dataDir, 'models', UPSTREAM_MODEL));
    const netns = this.options.netns;
    this.proc = startRbee(
      'queen',
      ['--port', String(this.port), '--data-dir', this.dataDir, '--audit', 'local', ...(netns ? ['--host', netns.nsAddress] : [])],
      { LLORCH_API_TOKEN: this.token, RBEE_LOG_LEVEL: 'warn' },
      netns ? { prefix: ['ip', 'netns', 'exec', netns.name] } : {},
    );
    const { url, port } = await this.proc.waitForLine<{ url: string; port: number }>((l) => l.event === 'listening');
    this.url = url;
    this.port = port;
    await waitFor(() => this.snapshot(), (s) => s.models.some((m) => m.name === UPSTREAM_MODEL), { timeoutMs: 120_000, what: 'upstream models', retryErrors: true });
    // The first spawn can wait on the hive's device probe on a busy machine: ask again while it is unreachable.
    await waitFor(
      async () =>
        (
          await fetch(`${this.url}/v1/control/workers`, {
            method: 'POST',
            headers: this.auth,
            body: JSON.stringify({ hive_id: 'local', model: UPSTREAM_MODEL, slots: 2, threads: 1, ctx: this.options.contextLength ?? 512, device: 'cpu' }),
          })
        ).status,
      (status) => status === 201 || status === 409,
      { timeoutMs: 90_000, what: 'upstream worker spawn', retryErrors: true },
    );
    await waitFor(() => this.snapshot(), (s) => s.workers.some((w) => w.state === 'idle'), { timeoutMs: 120_000, what: 'upstream worker ready', retryErrors: true });
  }

  async snapshot(): Promise<ClusterSnapshot> {
    return (await (await fetch(`${this.url}/v1/control/snapshot`, { headers: this.auth })).json()) as ClusterSnapshot;
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`, { headers: this.auth })).text();
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
    this.proc = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** The queen under test: in-process, no local hive (pools only), logs captured for the secrecy check. */
export class FrontQueen {
  queen!: Queen;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'rbee-front-'));
  readonly token = 'front-queen-token-0123456789';
  logs = '';

  get url(): string {
    return this.queen.url;
  }

  get auth(): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' };
  }

  async start(): Promise<void> {
    this.queen = await createQueen({
      dataDir: this.dataDir,
      port: 0,
      apiToken: this.token,
      localHive: false,
      remoteHives: false,
      auditMode: 'local',
      logger: capturedLogger('queen', (text) => (this.logs += text)),
    });
  }

  async addPool(body: Record<string, unknown>): Promise<Response> {
    return fetch(`${this.url}/v1/control/pools`, { method: 'POST', headers: this.auth, body: JSON.stringify(body) });
  }

  async pools(): Promise<PoolInfo[]> {
    return ((await (await fetch(`${this.url}/v1/control/pools`, { headers: this.auth })).json()) as { pools: PoolInfo[] }).pools;
  }

  async pool(name: string): Promise<PoolInfo | undefined> {
    return (await this.pools()).find((p) => p.name === name);
  }

  /** One sample of the queen's /metrics (0 when the series does not exist yet). */
  async metric(name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`, { headers: this.auth })).text();
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      const labelText = line.slice(name.length + 1, line.indexOf('}'));
      if (wanted.every((pair) => labelText.split(',').includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return 0;
  }

  chat(model: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...this.auth, ...headers },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, ...extra }),
    });
  }

  async dispose(): Promise<void> {
    await this.queen?.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
