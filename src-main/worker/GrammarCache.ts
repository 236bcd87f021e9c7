import type { GbnfJsonSchema, Llama, LlamaGrammar } from 'node-llama-cpp';
import { toGrammarSchema } from '../../src-shared/openai/grammarSchema.js';
import { UnsupportedRequestError } from './chatHistory.js';

/** Grammars compiled per schema are kept: clients send the same schema on every request. */
const MAX_ENTRIES = 32;

/** The grammars of JSON modes and forced tool calls, compiled once per distinct schema. */
export class GrammarCache {
  private readonly entries = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly llama: Llama) {}

  /** `response_format: json_object`: any JSON object (node-llama-cpp's built-in JSON grammar). */
  forJsonObject(): Promise<LlamaGrammar> {
    return this.cached('json_object', () => this.llama.getGrammarFor('json'));
  }

  /** A client's schema, after checking that the grammar can enforce every feature it uses. */
  forClientSchema(schema: Record<string, unknown>): Promise<LlamaGrammar> {
    const translated = toGrammarSchema(schema);
    if (!translated.ok) throw new UnsupportedRequestError(`response_format: the JSON schema uses features the grammar cannot enforce: ${translated.unsupported.join(', ')}`);
    return this.forSchema(translated.schema as GbnfJsonSchema);
  }

  forSchema(schema: GbnfJsonSchema): Promise<LlamaGrammar> {
    return this.cached(`schema:${JSON.stringify(schema)}`, () => this.llama.createGrammarForJsonSchema<GbnfJsonSchema>(schema));
  }

  private cached(key: string, build: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    const hit = this.entries.get(key);
    if (hit) {
      // Most recently used last: the oldest entry is the first one evicted.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const grammar = build();
    grammar.catch(() => this.entries.delete(key));
    this.entries.set(key, grammar);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    return grammar;
  }
}
