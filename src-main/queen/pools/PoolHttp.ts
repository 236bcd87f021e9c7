import { readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { failedOnStaleSocket } from '../../common/http/staleSocket.js';

/** Why a call to an engine failed before its response headers. */
export type PoolCallFailure = 'connect_timeout' | 'first_byte_timeout' | 'network' | 'aborted';

export class PoolCallError extends Error {
  override readonly name = 'PoolCallError';
  constructor(
    readonly kind: PoolCallFailure,
    message: string,
  ) {
    super(message);
  }
}

/** A kept-alive socket closed under a request before any answer: safe to send again once. */
class StaleSocketError extends PoolCallError {
  constructor(message: string) {
    super('network', message);
  }
}

export interface PoolEndpoint {
  baseUrl: URL;
  apiKey: string | undefined;
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
}

export interface PoolCallOptions {
  method: 'GET' | 'POST';
  /** Appended to the base URL's path (`/models`, `/chat/completions`). */
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Aborting destroys the socket: engines cancel generation when their client disconnects. */
  signal?: AbortSignal;
}

/**
 * The HTTP client of one pool: node:http/https with its own keep-alive agent (sockets bounded by the
 * pool's concurrency, TLS verification always on, an optional CA bundle). node:http rather than
 * undici because the queen's worker relay is node:http already, and because the socket is ours:
 * destroying it on a deadline is exactly the disconnect an engine sees and aborts on.
 */
export class PoolHttp {
  private readonly agent: http.Agent;

  constructor(
    private readonly endpoint: PoolEndpoint,
    options: { maxSockets: number; caFile?: string },
  ) {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: Math.min(options.maxSockets, 64) };
    this.agent =
      endpoint.baseUrl.protocol === 'https:'
        ? new https.Agent({ ...agentOptions, rejectUnauthorized: true, ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}) })
        : new http.Agent(agentOptions);
  }

  /**
   * Resolves at the response headers; rejects with a `PoolCallError` before them. A request that
   * fails on a kept-alive socket the engine had just closed (its idle timeout raced our reuse: the
   * reset comes before any answer, so the engine never saw the request) is sent once more on a fresh
   * socket: that race is not the engine's failure and must not count toward its breaker.
   */
  async call(options: PoolCallOptions): Promise<IncomingMessage> {
    try {
      return await this.attempt(options);
    } catch (error) {
      if (!(error instanceof StaleSocketError) || options.signal?.aborted) throw error;
      return this.attempt(options);
    }
  }

  private attempt(options: PoolCallOptions): Promise<IncomingMessage> {
    const base = this.endpoint.baseUrl;
    const path = `${base.pathname.replace(/\/+$/, '')}${options.path}`;
    const headers: Record<string, string | number> = { accept: 'application/json, text/event-stream', ...options.headers };
    if (this.endpoint.apiKey) headers.authorization = `Bearer ${this.endpoint.apiKey}`;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(options.body);
    }
    const transport = base.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      let connectTimer: NodeJS.Timeout | undefined;
      let firstByteTimer: NodeJS.Timeout | undefined;
      const clear = (): void => {
        clearTimeout(connectTimer);
        clearTimeout(firstByteTimer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const fail = (error: PoolCallError): void => {
        if (settled) return;
        settled = true;
        clear();
        req.destroy();
        reject(error);
      };
      const onAbort = (): void => fail(new PoolCallError('aborted', 'the call was cancelled'));
      const req = transport.request(
        { protocol: base.protocol, hostname: base.hostname.replace(/^\[|\]$/g, ''), port: base.port || undefined, path, method: options.method, agent: this.agent, headers },
        (res) => {
          if (settled) {
            res.destroy();
            return;
          }
          settled = true;
          clear();
          res.socket?.setNoDelay(true);
          resolve(res);
        },
      );
      const startFirstByteTimer = (): void => {
        firstByteTimer = setTimeout(
          () => fail(new PoolCallError('first_byte_timeout', `no answer within ${this.endpoint.firstByteTimeoutMs} ms`)),
          this.endpoint.firstByteTimeoutMs,
        );
      };
      req.on('socket', (socket: Socket) => {
        if (!socket.connecting) return startFirstByteTimer();
        connectTimer = setTimeout(() => fail(new PoolCallError('connect_timeout', `no connection within ${this.endpoint.connectTimeoutMs} ms`)), this.endpoint.connectTimeoutMs);
        socket.once(base.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
          clearTimeout(connectTimer);
          startFirstByteTimer();
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        const message = error.code ? `${error.code}: ${error.message}` : error.message;
        fail(failedOnStaleSocket(req, error) ? new StaleSocketError(message) : new PoolCallError('network', message));
      });
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      req.end(options.body);
    });
  }

  dispose(): void {
    this.agent.destroy();
  }
}

/** Reads a response body up to `maxBytes`; beyond it the response is destroyed and this rejects. */
export function readBody(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        res.destroy();
        reject(new Error(`the answer is larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('the answer was cut off')));
  });
}
