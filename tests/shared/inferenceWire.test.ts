import { describe, expect, it } from 'vitest';
import { encodeSseEvent, InferenceRequestSchema, InferenceSseParser, SSE_DONE } from '../../src-shared/worker/inferenceWire.js';

describe('inference wire format', () => {
  it('round-trips events through the SSE encoder and an incremental parser, across arbitrary chunking', () => {
    const wire =
      encodeSseEvent({ type: 'started', job_id: 'j1', model: 'm' }) +
      encodeSseEvent({ type: 'token', t: 'he\nllo', i: 0 }) +
      encodeSseEvent({ type: 'end', tokens_out: 1, decode_ms: 2, stop_reason: 'eos' }) +
      SSE_DONE;
    for (const size of [1, 3, 7, wire.length]) {
      const parser = new InferenceSseParser();
      const out = [];
      for (let k = 0; k < wire.length; k += size) out.push(...parser.push(wire.slice(k, k + size)));
      expect(out).toEqual([
        { type: 'started', job_id: 'j1', model: 'm' },
        { type: 'token', t: 'he\nllo', i: 0 },
        { type: 'end', tokens_out: 1, decode_ms: 2, stop_reason: 'eos' },
        'done',
      ]);
    }
  });
  it('applies defaults and rejects unknown fields', () => {
    expect(InferenceRequestSchema.parse({ prompt: 'x' })).toMatchObject({ max_tokens: 128, temperature: 0.7 });
    expect(InferenceRequestSchema.safeParse({ prompt: 'x', extra: 1 }).success).toBe(false);
  });
});
