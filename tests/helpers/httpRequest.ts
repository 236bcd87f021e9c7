import { request as httpRequest } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = { error?: { code?: string; message?: string } }>(): T;
}

/**
 * One HTTP request with full control of its headers (fetch() will not send a foreign `Host`), to a
 * server on 127.0.0.1. The body, when given, is sent as JSON.
 */
export function sendRequest(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: unknown; timeoutMs?: number },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
        agent: false,
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        const contentType = String(res.headers['content-type'] ?? '');
        if (contentType.startsWith('text/event-stream')) {
          // An event stream that was let through: report it and hang up.
          res.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', json: () => ({}) as never });
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as never }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${options.path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
