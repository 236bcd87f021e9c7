/**
 * What a worker tells its parent, as one JSON object per stdout line and, when forked, over IPC.
 * Order: `listening` (HTTP port bound; /v1/ready answers `loading`), `load_progress`*, then `ready`
 * or `load_failed`.
 */
export type WorkerMessage =
  /** `socket`: the Unix socket path when the worker listens on one (then `port` is 0). */
  | { event: 'listening'; port: number; socket?: string; pid: number; worker_id: string }
  | { event: 'load_progress'; progress: number; worker_id: string }
  | {
      event: 'ready';
      port: number;
      socket?: string;
      pid: number;
      worker_id: string;
      model: string;
      slots: number;
      device: 'cpu' | 'gpu';
      /** Layers node-llama-cpp put on the GPU, of the model's total (absent from older workers). */
      offload?: { layers: number; total: number };
      /** Used VRAM after load minus before, as the backend reports it; null on the CPU. */
      vram_measured_bytes?: number | null;
    }
  | { event: 'load_failed'; message: string; worker_id: string };

/** Environment variable through which a parent hands a worker its bearer token (never argv). */
export const WORKER_TOKEN_ENV = 'RBEE_WORKER_TOKEN';

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && typeof (value as { event?: unknown }).event === 'string';
}
