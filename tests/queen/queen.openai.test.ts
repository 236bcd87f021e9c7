import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';

let q: TestQueen;

/** The fields of an OpenAI chunk or answer the text is read from. */
interface ChunkShape {
  choices?: Array<{ delta?: { content?: string }; message?: { content?: string }; text?: string }>;
}
beforeAll(async () => {
  q = await startTestQueen();
  await q.spawn();
});
afterAll(async () => {
  await q?.close();
});

describe('queen: the official openai SDK against the queen', () => {
  it('streams a chat completion', async () => {
    const client = new OpenAI({ baseURL: `${q.url}/v1`, apiKey: q.token });
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 12, stream: true });
    const chunks: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta.content) chunks.push(choice.delta.content);
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    expect(chunks.length).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(finish);
  });

  it('streamed chunks carry exactly the text of the same greedy answer unstreamed, each chunk canonical JSON (tokens are framed unparsed)', async () => {
    const headers = { authorization: `Bearer ${q.token}`, 'content-type': 'application/json' };
    for (const [path, request, textOf] of [
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'Tell me a story' }] }, (c: ChunkShape) => c.choices?.[0]?.delta?.content ?? c.choices?.[0]?.message?.content],
      ['/v1/completions', { prompt: 'Once upon a time' }, (c: ChunkShape) => c.choices?.[0]?.text],
    ] as const) {
      const body = { model: MODEL, ...request, max_tokens: 48, temperature: 0, ignore_eos: true };
      const whole = (await (await fetch(`${q.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) })).json()) as ChunkShape;
      const streamed = await (await fetch(`${q.url}${path}`, { method: 'POST', headers, body: JSON.stringify({ ...body, stream: true }) })).text();
      const events = streamed.split('\n\n').filter((e) => e.length > 0 && e !== 'data: [DONE]');
      let text = '';
      for (const event of events) {
        const data = event.slice('data: '.length);
        // Canonical: what JSON.stringify writes for the parsed chunk, byte for byte.
        expect(JSON.stringify(JSON.parse(data)), path).toBe(data);
        text += textOf(JSON.parse(data) as ChunkShape) ?? '';
      }
      expect(text.length, path).toBeGreaterThan(0);
      expect(text, path).toBe(textOf(whole));
    }
  });

  it('answers a non-streamed completion with usage', async () => {
    const client = new OpenAI({ baseURL: `${q.url}/v1`, apiKey: q.token });
    // Greedy (temperature 0): deterministic, and this prompt's first token is not an end (the tiny model's
    // sampled answers may end at once, which would make "some tokens" flaky).
    const completion = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]?.text).toEqual(expect.any(String));
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBeLessThanOrEqual(8);
  });

  it('answers a non-streamed chat completion', async () => {
    const client = new OpenAI({ baseURL: `${q.url}/v1`, apiKey: q.token });
    const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6 });
    expect(completion.choices[0]?.message.role).toBe('assistant');
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it('lists models', async () => {
    const client = new OpenAI({ baseURL: `${q.url}/v1`, apiKey: q.token });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain(MODEL);
  });

  it('raises AuthenticationError with a wrong key', async () => {
    const client = new OpenAI({ baseURL: `${q.url}/v1`, apiKey: 'wrong-key', maxRetries: 0 });
    await expect(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('raises NotFoundError for an unknown model', async () => {
    const client = new OpenAI({ baseURL: `${q.url}/v1`, apiKey: q.token, maxRetries: 0 });
    await expect(client.chat.completions.create({ model: 'nope.gguf', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
