import type { ClientRequestArgs, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent, request as httpRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import type { SshConnection } from './SshConnection.js';

export interface SshTunnelAgentOptions {
  /** Remote address the tunnels lead to. Defaults to 127.0.0.1 (the remote's loopback). */
  remoteHost?: string;
  /** Keep idle channels for reuse. Defaults to true. */
  keepAlive?: boolean;
  /** Concurrent channels per remote port. Defaults to 64 (sshd's MaxSessions does not limit direct-tcpip channels). */
  maxSockets?: number;
  /** Checked before every new channel; throwing refuses it (RemoteHive: no channel to an unproven hive). */
  gate?: () => void;
}

/**
 * An `http.Agent` whose sockets are SSH channels on one `SshConnection`. A request with a
 * `socketPath` reaches that Unix socket on the REMOTE machine (a streamlocal channel: how remote
 * hives and workers are reached, they open no TCP port); any other request to
 * `http://127.0.0.1:<port>/…` reaches `<port>` on the remote's loopback (`direct-tcpip`). The URL's
 * host is ignored for routing (it only becomes the Host header).
 * Channels outlive a request when `keepAlive` (reused like TCP sockets). After a reconnect new
 * requests use the new connection; requests in flight on the lost one fail (ECONNRESET-like).
 *
 * Node's global `fetch` does not take an `http.Agent`; use `tunnelRequest()` (or `http.request`
 * with `agent`).
 */
export class SshTunnelAgent extends Agent {
  private readonly connection: SshConnection;
  private readonly remoteHost: string;
  private readonly gate: (() => void) | undefined;

  private readonly channels = new Set<ClientChannel>();
  private readonly onLost = (): void => {
    // Channels of a dead connection never see a close from the server: drop them (pooled ones too),
    // so in-flight requests fail now and new ones open channels on the next connection.
    for (const channel of this.channels) channel.destroy();
    this.channels.clear();
  };

  constructor(connection: SshConnection, options: SshTunnelAgentOptions = {}) {
    super({ keepAlive: options.keepAlive ?? true, maxSockets: options.maxSockets ?? 64 });
    this.connection = connection;
    this.remoteHost = options.remoteHost ?? '127.0.0.1';
    this.gate = options.gate;
    connection.on('unreachable', this.onLost);
  }

  override destroy(): void {
    this.connection.off('unreachable', this.onLost);
    this.onLost();
    super.destroy();
  }

  // Node calls createConnection(options, callback); returning undefined and calling back later is
  // supported (Agent.prototype.createSocket's `oncreate`).
  override createConnection(
    options: ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex {
    const port = Number(options.port ?? 80);
    const socketPath = options.socketPath;
    // A request with `socketPath` goes to that Unix socket on the remote (streamlocal), else to the port.
    const opened = (async () => {
      this.gate?.();
      return socketPath ? this.connection.forwardOutStreamLocal(socketPath) : this.connection.forwardOut(port, this.remoteHost);
    })();
    opened.then(
      (channel) => {
        this.channels.add(channel);
        channel.once('close', () => this.channels.delete(channel));
        callback?.(null, asSocket(channel));
      },
      (error: unknown) =>
        callback?.(error instanceof Error ? error : new Error(String(error)), undefined as unknown as Duplex),
    );
    return undefined as unknown as Duplex;
  }

  /** ssh2 channels have no TCP keepalive; keep the socket pooled without calling setKeepAlive. */
  override keepSocketAlive(socket: Duplex): boolean {
    (socket as Duplex & { unref?: () => void }).unref?.();
    return true;
  }
}

/**
 * Gives a channel the net.Socket methods Node's HTTP client and agent call (setKeepAlive,
 * setNoDelay, setTimeout, ref/unref, destroySoon). See BUILD-FACTS: without them a pooled socket
 * throws a TypeError when freed.
 */
function asSocket(channel: ClientChannel): Duplex {
  const socket = channel as ClientChannel & Record<string, unknown>;
  let idleTimer: NodeJS.Timeout | null = null;
  let idleMs = 0;
  let onIdle: (() => void) | null = null;
  const arm = (): void => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = idleMs > 0 ? setTimeout(() => (onIdle ? onIdle() : socket.emit('timeout')), idleMs) : null;
    idleTimer?.unref();
  };
  channel.on('data', () => idleMs > 0 && arm());
  channel.on('close', () => idleTimer && clearTimeout(idleTimer));
  // Like net.Socket with allowHalfOpen=false: once the remote end is done, so are we (a pooled
  // channel the server closed must not be reused).
  channel.on('end', () => {
    if (!channel.destroyed) channel.destroy();
  });
  socket.setKeepAlive = () => socket;
  socket.setNoDelay = () => socket;
  socket.ref = () => socket;
  socket.unref = () => socket;
  socket.setTimeout = (ms: number, cb?: () => void) => {
    idleMs = ms;
    if (cb) {
      socket.removeAllListeners('timeout');
      socket.once('timeout', cb);
    }
    onIdle = null;
    arm();
    return socket;
  };
  socket.destroySoon = () => {
    channel.end();
    channel.once('finish', () => channel.destroy());
  };
  socket.remoteAddress ??= '127.0.0.1';
  socket.localAddress ??= '127.0.0.1';
  return channel;
}

export interface TunnelRequestOptions {
  method?: string;
  /** A Unix socket on the remote to send the request to (instead of the URL's port). */
  socketPath?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  signal?: AbortSignal;
  /** Whole-response limit for `text()`/`json()` buffering. Defaults to 30000 ms. */
  timeoutMs?: number;
}

export interface TunnelResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The raw streaming body (for SSE). Consume it or call `text()`/`json()`, not both. */
  body: IncomingMessage;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
}

/** A small `fetch`-like helper over `http.request` + an agent (works with SshTunnelAgent). */
export function tunnelRequest(
  agent: Agent,
  url: string,
  options: TunnelRequestOptions = {},
): Promise<TunnelResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    const req = httpRequest(
      url,
      { agent, method: options.method ?? 'GET', headers, signal: options.signal, ...(options.socketPath ? { socketPath: options.socketPath } : {}) },
      (res) => {
        const collect = (): Promise<string> =>
          new Promise((ok, fail) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
            res.on('error', fail);
            res.on('aborted', () => fail(new Error('response aborted')));
          });
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: res,
          text: collect,
          json: async <T>() => JSON.parse(await collect()) as T,
        });
      },
    );
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
