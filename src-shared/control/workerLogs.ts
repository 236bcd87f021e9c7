import { z } from 'zod';

/** One captured line of a worker's output, as hives serve it (already redacted there). */
export const WorkerLogLineSchema = z.object({
  /** Increasing per worker (across restarts), so a follower resumes without duplicates. */
  seq: z.number().int().nonnegative(),
  at: z.number(),
  stream: z.enum(['stdout', 'stderr']),
  text: z.string(),
});
export type WorkerLogLine = z.infer<typeof WorkerLogLineSchema>;

/** `GET /v1/control/hives/{hive}/workers/{id}/logs?tail=N` (no `follow`). */
export const WorkerLogsPageSchema = z.object({
  worker_id: z.string(),
  lines: z.array(WorkerLogLineSchema),
});
export type WorkerLogsPage = z.infer<typeof WorkerLogsPageSchema>;

/** The most lines a tail may ask for (the hive's ring holds 5 000). */
export const MAX_LOG_TAIL = 5_000;

/** What a follow stream reports besides lines. `reset`: a (re)connection whose tail replaces what was shown. */
export type WorkerLogsStreamEvent = { type: 'reset' } | { type: 'line'; line: WorkerLogLine } | { type: 'state'; state: 'open' | 'reconnecting' | 'closed'; message?: string };
