import { describe, expect, it } from 'vitest';
import { toGrammarSchema } from '../../src-shared/openai/grammarSchema.js';

describe('toGrammarSchema: what the JSON-schema grammar can enforce', () => {
  it('keeps what it honours, drops annotations and turns anyOf into oneOf', () => {
    const result = toGrammarSchema({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      title: 'Person',
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 10, description: 'the name', examples: ['Ann'] },
        nick: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null },
        tags: { type: 'array', items: { $ref: '#/definitions/tag' }, maxItems: 3 },
      },
      required: ['name'],
      additionalProperties: false,
      definitions: { tag: { enum: ['a', 'b'] } },
    });
    expect(result).toEqual({
      ok: true,
      schema: {
        type: 'object',
        properties: {
          name: { type: 'string', maxLength: 10, description: 'the name' },
          nick: { oneOf: [{ type: 'string' }, { type: 'null' }] },
          tags: { type: 'array', items: { $ref: '#/$defs/tag' }, maxItems: 3 },
        },
        required: ['name'],
        additionalProperties: false,
        $defs: { tag: { enum: ['a', 'b'] } },
      },
    });
  });

  it('names every feature it cannot enforce, by path', () => {
    const result = toGrammarSchema({
      type: 'object',
      properties: {
        zip: { type: 'string', pattern: '^[0-9]+$' },
        age: { type: 'integer', minimum: 0 },
        when: { type: 'string', format: 'email' },
        any: {},
        mixed: { type: ['object', 'null'] },
      },
      allOf: [],
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.unsupported).toEqual(
      expect.arrayContaining(['properties.zip.pattern', 'properties.age.minimum', 'properties.when.format: "email"', 'allOf']),
    );
    expect(result.unsupported.some((u) => u.startsWith('properties.any'))).toBe(true);
    expect(result.unsupported.some((u) => u.startsWith('properties.mixed.type'))).toBe(true);
  });
});
