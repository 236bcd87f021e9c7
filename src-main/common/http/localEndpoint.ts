import http from 'node:http';

/**
 * Where a daemon of this machine listens: a loopback TCP port, or a Unix socket (remote hives and
 * their workers: no TCP port is opened there, docs/ssh-hives.md "Sockets").
 */
export type LocalEndpoint = { port: number } | { socketPath: string };

/**
 * The `http.request` options that reach `endpoint`. A socket request keeps a loopback name as its
 * Host (`localhost`), which every tier's Host check accepts.
 */
export function endpointRequestOptions(endpoint: LocalEndpoint): { hostname: string; port?: number; socketPath?: string } {
  return 'socketPath' in endpoint ? { hostname: 'localhost', socketPath: endpoint.socketPath } : { hostname: '127.0.0.1', port: endpoint.port };
}

export interface LocalResponse {
  status: number;
  json(): Promise<unknown>;
}

/**
 * A small request over loopback TCP or a Unix socket (global fetch cannot reach a socket). The
 * whole exchange, body included, must finish within `timeoutMs`.
 */
export function localRequest(
  endpoint: LocalEndpoint,
  path: string,
  options: { method?: string; headers?: Record<string, string>; timeoutMs: number },
): Promise<LocalResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...endpointRequestOptions(endpoint), path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: async () => JSON.parse(text) as unknown });
      });
    });
    // One timer for the whole exchange: a stopped (SIGSTOP) process accepts connections but never answers.
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}
