import { InferenceSseParser, type InferenceEvent } from '../../src-shared/worker/inferenceWire.js';

export interface TimedEvent {
  event: InferenceEvent | 'done';
  /** performance.now() when the chunk carrying it arrived. */
  at: number;
}

export interface StreamResult {
  status: number;
  headers: Headers;
  events: TimedEvent[];
  /** Parsed JSON for non-SSE answers. */
  json?: unknown;
}

/** POSTs an inference and reads the SSE stream to the end, timestamping every event. */
export async function streamInference(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  options: { signal?: AbortSignal; onEvent?: (e: TimedEvent) => void } = {},
): Promise<StreamResult> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: options.signal,
  });
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, events: [], json };
  }
  const parser = new InferenceSseParser();
  const events: TimedEvent[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const at = performance.now();
    for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
      const timed = { event, at };
      events.push(timed);
      options.onEvent?.(timed);
    }
  }
  return { status: res.status, headers: res.headers, events };
}

export function tokensOf(result: StreamResult): Array<Extract<InferenceEvent, { type: 'token' }>> {
  return result.events.flatMap((e) => (e.event !== 'done' && e.event.type === 'token' ? [e.event] : []));
}

export function endOf(result: StreamResult): Extract<InferenceEvent, { type: 'end' }> | undefined {
  for (const e of result.events) if (e.event !== 'done' && e.event.type === 'end') return e.event;
  return undefined;
}
