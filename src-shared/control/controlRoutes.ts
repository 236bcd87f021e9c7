/** HTTP paths of the queen's control API (the HTTP side of `ControlApi`). */
export const ControlRoutes = {
  snapshot: '/v1/control/snapshot',
  events: '/v1/control/events',
  workers: '/v1/control/workers',
  /** A declared worker: GET, PUT (replace its spec), DELETE (stop it, remove entry and spec). */
  worker: (hiveId: string, workerId: string) => `/v1/control/hives/${encodeURIComponent(hiveId)}/workers/${encodeURIComponent(workerId)}`,
  workerAction: (hiveId: string, workerId: string, action: 'stop' | 'start' | 'restart' | 'reset-breaker') =>
    `/v1/control/hives/${encodeURIComponent(hiveId)}/workers/${encodeURIComponent(workerId)}/${action}`,
  workerLogs: (hiveId: string, workerId: string) => `/v1/control/hives/${encodeURIComponent(hiveId)}/workers/${encodeURIComponent(workerId)}/logs`,
  models: '/v1/control/models',
  modelDownload: '/v1/control/models/download',
  /** `POST`: copy a local model to a remote hive by SFTP; progress arrives as `download_progress` events. */
  modelUpload: '/v1/control/models/upload',
  /** `DELETE`: a model file on one hive (refused while a worker or a declared spec uses it). */
  hiveModel: (hive: string, name: string) => `/v1/control/hives/${encodeURIComponent(hive)}/models/${encodeURIComponent(name)}`,
  hives: '/v1/control/hives',
  hive: (hiveId: string) => `/v1/control/hives/${encodeURIComponent(hiveId)}`,
  audit: '/v1/control/audit',
  auditVerify: '/v1/control/audit/verify',
  settings: '/v1/control/settings',
  keys: '/v1/control/keys',
  key: (id: string) => `/v1/control/keys/${encodeURIComponent(id)}`,
  pools: '/v1/control/pools',
  pool: (name: string) => `/v1/control/pools/${encodeURIComponent(name)}`,
  poolAction: (name: string, action: 'test' | 'reset-breaker') => `/v1/control/pools/${encodeURIComponent(name)}/${action}`,
  inference: '/v1/inference',
  chatCompletions: '/v1/chat/completions',
} as const;
