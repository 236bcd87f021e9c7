import { parseArgs } from 'node:util';
import { API_KEY_SCOPES, parseDuration, type ApiKeyInfo, type CreateApiKeyRequest, type CreatedApiKey } from '../../../src-shared/control/apiKeys.js';
import { intOption } from '../intOption.js';
import { describeFailure, queenConnection } from '../queenClient.js';
import { table } from '../table.js';

const USAGE = `usage: rbee keys create --name N --scope ${API_KEY_SCOPES.join('|')} [--models a,b] [--rpm N] [--max-concurrent N] [--expires 30d]
       rbee keys list|ls [--json]
       rbee keys revoke|rm ID
  common: --url URL (default $RBEE_URL or http://127.0.0.1:7833), --token-file PATH, --data-dir DIR
  The secret of a new key is printed once; the queen keeps only its SHA-256.
`;

const CONNECTION = { url: { type: 'string' }, 'token-file': { type: 'string' }, 'data-dir': { type: 'string' } } as const;

function keyState(key: ApiKeyInfo, now: number): string {
  if (key.revoked_at !== null) return 'revoked';
  if (key.expires_at !== null && key.expires_at <= now) return 'expired';
  return 'active';
}

/** `rbee keys create|list|revoke` (ls/rm aliases): scoped API keys through the queen's control API. */
export async function run(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === 'create') return await create(rest);
    if (verb === 'list' || verb === 'ls' || verb === undefined) return await list(rest);
    if (verb === 'revoke' || verb === 'rm') return await revoke(rest);
    if (verb === '--help' || verb === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    process.stderr.write(`rbee keys: unknown verb '${verb}'\n${USAGE}`);
    return 2;
  } catch (error) {
    process.stderr.write(`rbee keys: ${(error as Error).message}\n`);
    return 1;
  }
}

async function call(values: { url?: string; 'token-file'?: string; 'data-dir'?: string }, method: string, path: string, body?: unknown): Promise<Response> {
  const { url, headers } = await queenConnection(values);
  try {
    return await fetch(`${url}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error(`cannot reach the queen at ${url}: ${(error as Error).message}`);
  }
}

function usageError(message: string): number {
  process.stderr.write(`rbee keys: ${message}\n${USAGE}`);
  return 2;
}

async function create(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        ...CONNECTION,
        name: { type: 'string' },
        scope: { type: 'string' },
        models: { type: 'string' },
        rpm: { type: 'string' },
        'max-concurrent': { type: 'string' },
        expires: { type: 'string' },
        json: { type: 'boolean' },
      },
    }));
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (!values.name) return usageError('--name is required');
  if (!values.scope || !(API_KEY_SCOPES as readonly string[]).includes(values.scope)) return usageError(`--scope must be one of ${API_KEY_SCOPES.join(', ')}`);
  const request: CreateApiKeyRequest = { name: values.name, scope: values.scope as CreateApiKeyRequest['scope'] };
  try {
    if (values.models) request.models = values.models.split(',').map((m) => m.trim()).filter((m) => m.length > 0);
    const rpm = intOption('rpm', values.rpm, 1, 1_000_000);
    if (rpm !== undefined) request.rpm = rpm;
    const concurrent = intOption('max-concurrent', values['max-concurrent'], 1, 10_000);
    if (concurrent !== undefined) request.max_concurrent = concurrent;
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (values.expires !== undefined) {
    const ms = parseDuration(values.expires);
    if (ms === null) return usageError(`--expires takes a duration such as 30d, 12h or 90m, not '${values.expires}'`);
    request.expires_in_ms = ms;
  }
  const res = await call(values, 'POST', '/v1/control/keys', request);
  if (!res.ok) {
    process.stderr.write(`rbee keys: ${await describeFailure(res)}\n`);
    return 1;
  }
  const created = (await res.json()) as CreatedApiKey;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`${created.secret}\n`);
  process.stderr.write(`rbee keys: created ${created.id} '${created.name}' (${created.scope}). The secret above is shown only now; store it.\n`);
  return 0;
}

async function list(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { ...CONNECTION, json: { type: 'boolean' } } }));
  } catch (error) {
    return usageError((error as Error).message);
  }
  const res = await call(values, 'GET', '/v1/control/keys');
  if (!res.ok) {
    process.stderr.write(`rbee keys: ${await describeFailure(res)}\n`);
    return 1;
  }
  const { keys } = (await res.json()) as { keys: ApiKeyInfo[] };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
    return 0;
  }
  const now = Date.now();
  const rows = [['ID', 'NAME', 'SCOPE', 'STATE', 'MODELS', 'RPM', 'CONCURRENT', 'REQUESTS', 'TOKENS IN/OUT', 'LAST USED', 'EXPIRES']];
  for (const k of keys) {
    rows.push([
      k.id,
      k.name,
      k.scope,
      keyState(k, now),
      k.models?.join(',') ?? 'all',
      String(k.rpm ?? '-'),
      String(k.max_concurrent ?? '-'),
      String(k.usage.requests),
      `${k.usage.tokens_in}/${k.usage.tokens_out}`,
      k.usage.last_used_at === null ? 'never' : new Date(k.usage.last_used_at).toISOString(),
      k.expires_at === null ? 'never' : new Date(k.expires_at).toISOString(),
    ]);
  }
  process.stdout.write(`${table(rows)}\n`);
  return 0;
}

async function revoke(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { ...CONNECTION } });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const id = parsed.positionals[0];
  if (!id || parsed.positionals.length > 1) return usageError('revoke takes one key id');
  const res = await call(parsed.values, 'DELETE', `/v1/control/keys/${encodeURIComponent(id)}`);
  if (!res.ok) {
    process.stderr.write(`rbee keys: ${await describeFailure(res)}\n`);
    return 1;
  }
  process.stdout.write(`revoked ${id}\n`);
  return 0;
}
