/**
 * Which JSON-schema features the worker's grammar (node-llama-cpp's GBNF JSON schema) can enforce.
 * A schema is translated before it reaches the grammar: annotations are dropped, `anyOf` becomes
 * `oneOf` (a grammar accepts any branch either way), `type: [T, "null"]` stays a type list. Anything
 * that constrains values in a way a grammar cannot (patterns, numeric ranges, `allOf`, `not`…) is
 * named back so the client gets a 400 instead of output that silently ignores it.
 */

export type GrammarSchemaResult = { ok: true; schema: Record<string, unknown> } | { ok: false; unsupported: string[] };

/** Keywords that only describe; they are dropped. */
const ANNOTATIONS = new Set(['title', 'description', '$schema', '$id', '$comment', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly', 'strict']);

/** Keywords the grammar honours, per position (values that are schemas are walked). */
const SUPPORTED = new Set([
  'type',
  'const',
  'enum',
  'oneOf',
  'anyOf',
  'properties',
  'required',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'format',
  '$defs',
  'definitions',
  '$ref',
]);

const STRING_FORMATS = new Set(['date-time', 'time', 'date']);
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function translate(node: unknown, path: string, unsupported: string[]): unknown {
  if (node === true || (isRecord(node) && Object.keys(node).every((k) => ANNOTATIONS.has(k)))) {
    unsupported.push(`${path || '(root)'}: a schema without a type (any value)`);
    return {};
  }
  if (!isRecord(node)) {
    unsupported.push(`${path || '(root)'}: not a schema object`);
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    const here = path ? `${path}.${key}` : key;
    if (ANNOTATIONS.has(key)) {
      if (key === 'description' && typeof value === 'string') out[key] = value;
      continue;
    }
    if (!SUPPORTED.has(key)) {
      unsupported.push(here);
      continue;
    }
    switch (key) {
      case 'type': {
        const list = Array.isArray(value) ? value : [value];
        // A list of types works for plain values only (the grammar's type lists have no object/array).
        const bad = list.some((t) => typeof t !== 'string' || !TYPES.has(t)) || (list.length > 1 && list.some((t) => t === 'object' || t === 'array'));
        if (bad) unsupported.push(`${here}: ${JSON.stringify(value)}`);
        out.type = value;
        break;
      }
      case 'format':
        if (typeof value !== 'string' || !STRING_FORMATS.has(value)) unsupported.push(`${here}: ${JSON.stringify(value)}`);
        else out.format = value;
        break;
      case 'oneOf':
      case 'anyOf':
        if (!Array.isArray(value)) unsupported.push(`${here}: not a list`);
        else out.oneOf = value.map((branch, i) => translate(branch, `${here}[${i}]`, unsupported));
        break;
      case 'properties':
      case '$defs':
      case 'definitions': {
        if (!isRecord(value)) {
          unsupported.push(`${here}: not an object`);
          break;
        }
        const target = key === 'properties' ? 'properties' : '$defs';
        out[target] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, translate(sub, `${here}.${name}`, unsupported)]));
        break;
      }
      case '$ref':
        // Only local definitions; `definitions` is rewritten to `$defs` above.
        if (typeof value !== 'string' || !/^#\/(\$defs|definitions)\/[^/]+$/.test(value)) unsupported.push(`${here}: ${JSON.stringify(value)}`);
        else out.$ref = value.replace('#/definitions/', '#/$defs/');
        break;
      case 'items':
      case 'additionalProperties':
        out[key] = typeof value === 'boolean' ? value : translate(value, here, unsupported);
        break;
      case 'prefixItems':
        if (!Array.isArray(value)) unsupported.push(`${here}: not a list`);
        else out.prefixItems = value.map((item, i) => translate(item, `${here}[${i}]`, unsupported));
        break;
      default:
        out[key] = value;
    }
  }
  return out;
}

/** Translates a client's JSON schema for the grammar, or names every feature it cannot enforce. */
export function toGrammarSchema(schema: unknown): GrammarSchemaResult {
  const unsupported: string[] = [];
  const translated = translate(schema, '', unsupported);
  if (unsupported.length > 0) return { ok: false, unsupported };
  return { ok: true, schema: translated as Record<string, unknown> };
}
