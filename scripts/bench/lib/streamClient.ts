import http from 'node:http';
import { InferenceSseParser } from '../../../src-shared/worker/inferenceWire.js';
import { SseParser } from '../../../src-shared/util/SseParser.js';

export interface StreamTiming {
  ttftMs: number;
  totalMs: number;
  /** From the first token's arrival to the last one's: the streaming rate a reader sees. */
  streamMs: number;
  tokensOut: number;
  stopReason: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One streamed POST with node:http (lighter than fetch): every text chunk goes to `read` with the ms
 * since the request started; `read` returns the result once the stream told it everything.
 */
function postStream<T>(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
  read: (chunk: string, elapsedMs: number) => T | undefined,
  agentOverride?: http.Agent,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const target = new URL(path, url);
    const req = http.request(
      { hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent: agentOverride ?? agent, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => reject(new Error(`HTTP ${res.statusCode}: ${text}`)));
          return;
        }
        res.setEncoding('utf8');
        let done = false;
        res.on('data', (chunk: string) => {
          if (done) return;
          try {
            const result = read(chunk, performance.now() - started);
            if (result !== undefined) {
              done = true;
              resolve(result);
            }
          } catch (error) {
            done = true;
            reject(error);
          }
        });
        res.on('end', () => {
          if (!done) reject(new Error('stream ended before its end'));
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** One streamed inference on the native route (`/v1/inference`, the worker's own events), timed from request start. */
export function timedStream(url: string, path: string, body: unknown, headers: Record<string, string>, agentOverride?: http.Agent): Promise<StreamTiming> {
  const parser = new InferenceSseParser();
  let ttft = Number.NaN;
  let lastTokenAt = Number.NaN;
  return postStream(
    url,
    path,
    body,
    headers,
    (chunk, elapsed) => {
      for (const event of parser.push(chunk)) {
        if (event === 'done') continue;
        if (event.type === 'token') {
          lastTokenAt = elapsed;
          if (Number.isNaN(ttft)) ttft = elapsed;
        }
        if (event.type === 'end') return { ttftMs: ttft, totalMs: elapsed, streamMs: lastTokenAt - ttft, tokensOut: event.tokens_out, stopReason: event.stop_reason };
        if (event.type === 'error') throw new Error(`${event.code}: ${event.message}`);
      }
      return undefined;
    },
    agentOverride,
  );
}

interface ChatChunk {
  choices?: Array<{ delta?: { content?: string }; finish_reason?: string | null }>;
  usage?: { completion_tokens?: number };
  error?: { code?: string; message?: string };
}

/**
 * One streamed OpenAI chat completion (`stream_options.include_usage` is set, so the token count is
 * the server's), timed from request start: TTFT is the first chunk with content.
 */
export function timedChatStream(url: string, body: Record<string, unknown>, headers: Record<string, string>): Promise<StreamTiming> {
  const parser = new SseParser();
  let ttft = Number.NaN;
  let lastTokenAt = Number.NaN;
  let tokens = 0;
  let stopReason = 'none';
  return postStream(url, '/v1/chat/completions', { ...body, stream: true, stream_options: { include_usage: true } }, headers, (chunk, elapsed) => {
    for (const message of parser.push(chunk)) {
      if (message.data === '[DONE]') return { ttftMs: ttft, totalMs: elapsed, streamMs: lastTokenAt - ttft, tokensOut: tokens, stopReason };
      const parsed = JSON.parse(message.data) as ChatChunk;
      if (parsed.error) throw new Error(`${parsed.error.code ?? 'error'}: ${parsed.error.message ?? ''}`);
      const choice = parsed.choices?.[0];
      if (choice?.delta?.content) {
        lastTokenAt = elapsed;
        if (Number.isNaN(ttft)) ttft = elapsed;
      }
      if (choice?.finish_reason) stopReason = choice.finish_reason;
      if (parsed.usage?.completion_tokens !== undefined) tokens = parsed.usage.completion_tokens;
    }
    return undefined;
  });
}
