import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyLlamaVocabulary } from '../../src-main/models/gguf/tinyLlamaModel.js';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';

/**
 * What real OpenAI clients send, through the official SDK, against a real queen with a real worker on
 * the tiny model (random weights: the tests check shapes and mechanics, not meaning).
 */
let q: TestQueen;
let client: OpenAI;
beforeAll(async () => {
  // Tools are documented in the prompt the chat wrapper's way: ~1000 byte-level tokens, past 512.
  q = await startTestQueen({ contextLength: 2048 });
  await q.spawn({ ctx: 2048 });
  client = new OpenAI({ baseURL: `${q.url}/v1`, apiKey: q.token, maxRetries: 0 });
});
afterAll(async () => {
  await q?.close();
});

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 12 }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
  },
};
const clock = { type: 'function' as const, function: { name: 'get_time', description: 'The time now', parameters: { type: 'object', properties: {} } } };

describe('queen: OpenAI message shapes', () => {
  it('takes the developer role and content given as text parts', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'developer', content: 'Answer briefly.' },
        { role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: 'there' }], name: 'ann' },
      ],
      max_tokens: 4,
    });
    expect(completion.choices[0]?.message.role).toBe('assistant');
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it('refuses an image part naming the missing modality', async () => {
    const attempt = client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }],
    });
    await expect(attempt).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(attempt).rejects.toThrow(/image input/);
  });

  it('accepts harmless extras (store, metadata, service_tier, user) and refuses n: 2', async () => {
    const ok = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      max_tokens: 2,
      store: false,
      metadata: { team: 'a' },
      service_tier: 'auto',
      user: 'u1',
      parallel_tool_calls: true,
    });
    expect(ok.choices).toHaveLength(1);
    await expect(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], n: 2 })).rejects.toThrow(/n: only n = 1/);
    await expect(
      client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], prediction: { type: 'content', content: 'x' } }),
    ).rejects.toThrow(/prediction/);
  });

  it('retrieves one model', async () => {
    const model = await client.models.retrieve(MODEL);
    expect(model).toMatchObject({ id: MODEL, object: 'model', owned_by: 'rbee:local' });
    expect(model.created).toBeGreaterThan(1_600_000_000);
    await expect(client.models.retrieve('nope.gguf')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('queen: sampling', () => {
  const base = { model: MODEL, messages: [{ role: 'user' as const, content: 'Tell me a story' }], max_tokens: 40, temperature: 0.8, seed: 7 };
  it('is repeatable with a seed, and penalties and logit_bias change the output', async () => {
    const plain = (await client.chat.completions.create(base)).choices[0]?.message.content ?? '';
    const again = (await client.chat.completions.create(base)).choices[0]?.message.content ?? '';
    expect(again).toBe(plain);
    const penalised = (await client.chat.completions.create({ ...base, frequency_penalty: 2, presence_penalty: 2 })).choices[0]?.message.content;
    expect(penalised).not.toBe(plain);
    // The tiny model's vocabulary: 3 specials, then the 256 byte tokens (BUILD-FACTS), so "A" is 3 + 65.
    const forced = await client.completions.create({ model: MODEL, prompt: 'Tell me a story', max_tokens: 8, temperature: 0.8, seed: 7, logit_bias: { '68': 100 } });
    expect(forced.choices[0]?.text).toBe('A'.repeat(8));
    // -100 bans: with every token but "A" and "B" banned, only those two may appear.
    const vocabulary = tinyLlamaVocabulary().tokens.length;
    const bans = Object.fromEntries(Array.from({ length: vocabulary - 3 }, (_, i) => [String(3 + i), -100]).filter(([id]) => id !== '68' && id !== '69'));
    const banned = await client.completions.create({ model: MODEL, prompt: 'Tell me a story', max_tokens: 8, temperature: 0.8, seed: 7, logit_bias: bans });
    expect(banned.choices[0]?.text).toMatch(/^[AB]+$/);
  });
});

describe('queen: structured output', () => {
  it('json_schema strict: the output parses and matches the schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 10 },
        ok: { type: 'boolean' },
        mood: { enum: ['happy', 'sad'] },
        tags: { type: 'array', items: { enum: ['x', 'y'] }, maxItems: 2 },
      },
      required: ['name', 'ok', 'mood', 'tags'],
      additionalProperties: false,
    };
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Describe a person' }],
      max_tokens: 300,
      seed: 1,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
    });
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    const value = JSON.parse(completion.choices[0]?.message.content ?? '') as Record<string, unknown>;
    expect(Object.keys(value).sort()).toEqual(['mood', 'name', 'ok', 'tags']);
    expect(typeof value.name).toBe('string');
    expect((value.name as string).length).toBeLessThanOrEqual(10);
    expect(Array.isArray(value.tags) && value.tags.length <= 2 && value.tags.every((t) => t === 'x' || t === 'y')).toBe(true);
    expect(typeof value.ok).toBe('boolean');
    expect(['happy', 'sad']).toContain(value.mood);
  });

  it('json_schema with a feature the grammar cannot enforce is a 400 naming it', async () => {
    const attempt = client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', properties: { zip: { type: 'string', pattern: '^[0-9]+$' } } } } },
    });
    await expect(attempt).rejects.toThrow(/properties\.zip\.pattern/);
  });

  it('json_object: the output is a JSON object', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Give me JSON' }],
      max_tokens: 200,
      seed: 3,
      response_format: { type: 'json_object' },
    });
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    const value: unknown = JSON.parse(completion.choices[0]?.message.content ?? '');
    expect(typeof value).toBe('object');
    expect(Array.isArray(value)).toBe(false);
  });
});

describe('queen: tools', () => {
  const ask = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];

  it('required: a well-formed call, finish_reason tool_calls', async () => {
    const completion = await client.chat.completions.create({ model: MODEL, messages: ask, tools: [weather, clock], tool_choice: 'required', max_tokens: 300, seed: 2 });
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    const call = choice.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    expect(call?.id).toMatch(/^call_/);
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(['get_weather', 'get_time']).toContain(call.function.name);
    expect(typeof JSON.parse(call.function.arguments)).toBe('object');
  });

  it('named choice, streamed as tool-call deltas, then a tool-result round trip', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: ask,
      tools: [weather, clock],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      max_tokens: 300,
      seed: 2,
      stream: true,
    });
    let finish: string | null = null;
    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      for (const delta of choice?.delta.tool_calls ?? []) {
        const current = (calls[delta.index] ??= { id: '', name: '', arguments: '' });
        current.id += delta.id ?? '';
        current.name += delta.function?.name ?? '';
        current.arguments += delta.function?.arguments ?? '';
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    expect(finish).toBe('tool_calls');
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.name).toBe('get_weather');
    const args = JSON.parse(call.arguments) as { city: string; unit: string };
    expect(typeof args.city).toBe('string');
    expect(['celsius', 'fahrenheit']).toContain(args.unit);

    const answer = await client.chat.completions.create({
      model: MODEL,
      tools: [weather, clock],
      max_tokens: 6,
      messages: [
        ...ask,
        { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] },
        { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' },
      ],
    });
    expect(answer.choices[0]?.message.role).toBe('assistant');
    expect(answer.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it('non-streamed auto with tools answers (text or a call)', async () => {
    const completion = await client.chat.completions.create({ model: MODEL, messages: ask, tools: [weather], max_tokens: 6 });
    expect(['stop', 'length', 'tool_calls']).toContain(completion.choices[0]?.finish_reason);
  });

  it('a tool message that answers no call is a 400', async () => {
    await expect(
      client.chat.completions.create({ model: MODEL, messages: [...ask, { role: 'tool', tool_call_id: 'call_missing', content: 'x' }] }),
    ).rejects.toThrow(/answers no earlier assistant tool call/);
  });
});

describe('queen: embeddings', () => {
  it('embeds one text, a batch and token arrays, as floats or base64', async () => {
    const single = await client.embeddings.create({ model: MODEL, input: 'hello world', encoding_format: 'float' });
    expect(single.data).toHaveLength(1);
    const vector = single.data[0]!.embedding;
    expect(vector.length).toBe(64);
    expect(vector.every((x) => Number.isFinite(x))).toBe(true);
    expect(single.usage.prompt_tokens).toBeGreaterThan(0);

    const batch = await client.embeddings.create({ model: MODEL, input: ['hello world', 'goodbye'], encoding_format: 'float' });
    expect(batch.data.map((d) => d.index)).toEqual([0, 1]);
    expect(batch.data[0]!.embedding).toEqual(vector);
    expect(batch.data[1]!.embedding).not.toEqual(vector);
    expect(batch.usage.prompt_tokens).toBeGreaterThan(single.usage.prompt_tokens);

    // The SDK asks for base64 by default and decodes it to floats: the same vector must come back.
    const decoded = await client.embeddings.create({ model: MODEL, input: 'hello world' });
    expect(decoded.data[0]!.embedding.map((x) => Math.fround(x))).toEqual(vector.map((x) => Math.fround(x)));
    const raw = (await client.embeddings.create({ model: MODEL, input: 'hello world', encoding_format: 'base64' })).data[0]!.embedding as unknown as string;
    expect(typeof raw).toBe('string');
    expect(Buffer.from(raw, 'base64').length).toBe(64 * 4);

    const tokens = await client.embeddings.create({ model: MODEL, input: [[10, 20, 30]], encoding_format: 'float' });
    expect(tokens.usage.prompt_tokens).toBe(3);
    await expect(client.embeddings.create({ model: MODEL, input: 'x', dimensions: 32 })).rejects.toThrow(/dimensions/);
  });
});

describe('queen: logprobs', () => {
  it('chat logprobs and top_logprobs in OpenAI shape', async () => {
    const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, logprobs: true, top_logprobs: 3 });
    const content = completion.choices[0]?.logprobs?.content ?? [];
    expect(content.length).toBe(completion.usage?.completion_tokens);
    for (const item of content) {
      expect(item.logprob).toBeLessThanOrEqual(0);
      expect(item.bytes).toEqual(expect.any(Array));
      expect(item.top_logprobs).toHaveLength(3);
      expect(item.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(item.top_logprobs[2]!.logprob);
    }
    // The bytes of all tokens are the answer's text (a token's own text may be half a character).
    const bytes = Buffer.from(content.flatMap((item) => item.bytes ?? []));
    expect(bytes.toString('utf8')).toBe(completion.choices[0]?.message.content);
    const plain = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    expect(plain.choices[0]?.logprobs).toBeNull();
  });

  it('completions logprobs in the legacy shape, streamed too', async () => {
    // Greedy, so the answer does not end early by chance (a sampled EOS would leave nothing to check).
    const completion = await client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 5, logprobs: 2, temperature: 0 });
    const lp = completion.choices[0]?.logprobs;
    expect(lp?.tokens?.length).toBe(completion.usage?.completion_tokens);
    expect(lp?.token_logprobs?.length).toBe(lp?.tokens?.length);
    expect(Object.keys(lp?.top_logprobs?.[0] ?? {}).length).toBeGreaterThan(0);
    expect(lp?.text_offset?.[0]).toBe(0);
    const stream = await client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 5, logprobs: 1, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let tokens = 0;
    let usageTokens: number | undefined;
    for await (const chunk of stream) {
      tokens += chunk.choices[0]?.logprobs?.tokens?.length ?? 0;
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
    }
    // One logprobs entry per generated token, as many as the same greedy request gave unstreamed.
    expect(tokens).toBe(usageTokens);
    expect(tokens).toBe(completion.usage?.completion_tokens);
    expect(tokens).toBeGreaterThan(0);
  });
});

describe('queen: the official @anthropic-ai/sdk', () => {
  const anthropic = (): Anthropic => new Anthropic({ baseURL: q.url, apiKey: q.token, maxRetries: 0 });
  const tool = {
    name: 'get_weather',
    description: 'Current weather for a city',
    input_schema: { type: 'object' as const, properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] },
  };

  it('messages.create with a system prompt, stop sequences and usage', async () => {
    const message = await anthropic().messages.create({
      model: MODEL,
      max_tokens: 8,
      system: 'Answer briefly.',
      stop_sequences: ['\n\n'],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
    });
    expect(message.type).toBe('message');
    expect(message.role).toBe('assistant');
    expect(['end_turn', 'max_tokens', 'stop_sequence']).toContain(message.stop_reason);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThan(0);
  });

  it('messages.create with a forced tool call, then the tool result round trip', async () => {
    const message = await anthropic().messages.create({
      model: MODEL,
      max_tokens: 300,
      tools: [tool],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
    });
    expect(message.stop_reason).toBe('tool_use');
    const use = message.content.find((b) => b.type === 'tool_use');
    if (use?.type !== 'tool_use') throw new Error('expected a tool_use block');
    expect(use.id).toMatch(/^toolu_/);
    expect(use.name).toBe('get_weather');
    expect(typeof (use.input as { city: unknown }).city).toBe('string');
    const answer = await anthropic().messages.create({
      model: MODEL,
      max_tokens: 4,
      tools: [tool],
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: message.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12 degrees' }] },
      ],
    });
    expect(answer.usage.input_tokens).toBeGreaterThan(message.usage.input_tokens);
  });

  it('messages.stream with a tool call assembles the final message', async () => {
    const stream = anthropic().messages.stream({
      model: MODEL,
      max_tokens: 300,
      tools: [tool],
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
    });
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    const use = final.content.find((b) => b.type === 'tool_use');
    if (use?.type !== 'tool_use') throw new Error('expected a tool_use block');
    expect(typeof (use.input as { city: unknown }).city).toBe('string');
    expect(types[0]).toBe('message_start');
    expect(types).toContain('content_block_start');
    expect(types.at(-1)).toBe('message_stop');

    const text = anthropic().messages.stream({ model: MODEL, max_tokens: 6, messages: [{ role: 'user', content: 'Hi' }] });
    const chunks: string[] = [];
    text.on('text', (t) => chunks.push(t));
    const done = await text.finalMessage();
    expect(done.content[0]?.type === 'text' ? done.content[0].text : '').toBe(chunks.join(''));
    expect(done.usage.output_tokens).toBeGreaterThan(0);
  });

  it('models.list in its own shape, count_tokens, errors in its envelope', async () => {
    const models = await anthropic().models.list();
    expect(models.data.map((m) => m.id)).toContain(MODEL);
    expect(models.data[0]?.type).toBe('model');
    const counted = await anthropic().messages.countTokens({ model: MODEL, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there' }] });
    const shorter = await anthropic().messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'Hello there' }] });
    expect(counted.input_tokens).toBeGreaterThan(shorter.input_tokens);
    await expect(new Anthropic({ baseURL: q.url, apiKey: 'wrong', maxRetries: 0 }).models.list()).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    await expect(
      anthropic().messages.create({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }] }),
    ).rejects.toThrow(/image input/);
  });
});
