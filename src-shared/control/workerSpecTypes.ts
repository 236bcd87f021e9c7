import type { z } from 'zod';
import type { WorkerInfo } from '../cluster/WorkerInfo.js';
import type { CreateWorkerSpecRequestSchema, ReplaceWorkerSpecRequestSchema, WorkerSpec } from './controlSchemas.js';

export type { WorkerSpec } from './controlSchemas.js';
export type CreateWorkerSpecRequest = z.input<typeof CreateWorkerSpecRequestSchema>;
export type ReplaceWorkerSpecRequest = z.input<typeof ReplaceWorkerSpecRequestSchema>;

/**
 * One row of the Workers view and `rbee workers`: a declared spec joined with its running instance.
 * A spec whose worker is not there (disabled, its hive offline) has `worker: null`; a worker entry no
 * spec declares (left from an earlier run, made on a hive directly) has `spec: null`.
 */
export interface WorkerEntry {
  hive: string;
  id: string;
  spec: WorkerSpec | null;
  worker: WorkerInfo | null;
}
