/**
 * Secrets that live in rbee processes' environments. A child gets only the one it uses: the queen's
 * API token never reaches a hive or a worker, a hive's token never reaches its workers.
 */
export const SECRET_ENV_NAMES = ['LLORCH_API_TOKEN', 'RBEE_HIVE_TOKEN', 'RBEE_WORKER_TOKEN', 'HF_TOKEN'] as const;

/** `base` without the secret variables, except those named in `keep`. */
export function childEnv(base: NodeJS.ProcessEnv, keep: ReadonlyArray<(typeof SECRET_ENV_NAMES)[number]> = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of SECRET_ENV_NAMES) if (!keep.includes(name)) delete env[name];
  return env;
}
