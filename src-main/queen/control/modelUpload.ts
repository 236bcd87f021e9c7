import { randomBytes } from 'node:crypto';
import { lstat, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import type { ClusterEventBody, DownloadProgress } from '../../../src-shared/cluster/ClusterEvent.js';
import type { UploadModelRequest, UploadModelStarted } from '../../../src-shared/control/ControlApi.js';
import { UploadModelRequestSchema } from '../../../src-shared/control/controlSchemas.js';
import { parseBody } from '../../common/http/parseBody.js';
import { checkGgufHeader, InvalidGgufError } from '../../models/gguf/checkGgufHeader.js';
import type { ClusterView } from '../cluster/ClusterView.js';
import type { RemoteHiveManager } from '../hives/RemoteHiveManager.js';

/** At most this often a `download_progress` event per transfer (the last one is always sent). */
const PROGRESS_EVERY_MS = 250;
/** How long after the copy the hive's catalog event may take before `done` says it is not listed yet. */
const LISTED_WITHIN_MS = 30_000;

/** Resolves true once the view lists `name` on `hiveId` (the hive's rescan event arrived), false after `timeoutMs`. */
function listedInView(
  view: ModelUploadDeps['view'],
  hiveId: string,
  name: string,
  timeoutMs: number,
): Promise<boolean> {
  const listed = (): boolean => view.allModels().some((m) => m.hive === hiveId && m.name === name);
  if (listed()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), timeoutMs);
    const off = view.onChange(() => {
      if (listed()) finish(true);
    });
    const finish = (value: boolean): void => {
      clearTimeout(timer);
      off();
      resolve(value);
    };
  });
}

export interface ModelUploadDeps {
  view: Pick<ClusterView, 'hive' | 'publish' | 'allModels' | 'onChange'>;
  remoteHives?: RemoteHiveManager;
  /** This machine's models folder: the only place an upload reads from. */
  modelsDir: string;
  audit: AuditSink;
  actor: string;
  now?: () => number;
}

/**
 * A model of this machine's models folder, by name: the file must sit directly in the folder (no
 * symlink out of it, no sub-path), be a regular file and start with a GGUF header we can load. The
 * request names a file, never a path, so a caller cannot make the queen read anything else.
 */
export async function localModelFile(
  modelsDir: string,
  model: string,
): Promise<{ path: string; size: number }> {
  const root = await realpath(modelsDir).catch(() => {
    throw new ApiError(404, 'MODEL_NOT_FOUND', 'This machine has no models folder yet');
  });
  const candidate = join(root, model);
  const resolved = await realpath(candidate).catch(() => {
    throw new ApiError(404, 'MODEL_NOT_FOUND', `No model '${model}' in this machine's models folder`);
  });
  if (!resolved.startsWith(`${root}${sep}`) || resolved.slice(root.length + 1).includes(sep)) {
    throw new ApiError(400, 'INVALID_REQUEST', `model: '${model}' is not a file of the models folder`);
  }
  const stat = await lstat(resolved);
  if (!stat.isFile()) throw new ApiError(400, 'INVALID_REQUEST', `model: '${model}' is not a regular file`);
  try {
    await checkGgufHeader(resolved);
  } catch (error) {
    if (error instanceof InvalidGgufError)
      throw new ApiError(
        422,
        'INVALID_REQUEST',
        `model: '${model}' is not a loadable GGUF (${error.message})`,
      );
    throw error;
  }
  return { path: resolved, size: stat.size };
}

/**
 * `ControlApi.uploadModel`: checks the request and the file, then copies it to the remote hive in the
 * background. The transfer reports as `download_progress` events on the cluster stream (the same the
 * dashboard shows for downloads), ends `done` once the remote hive has rescanned its catalog, or
 * `failed` with the reason; either way it is audited.
 */
export async function startModelUpload(
  deps: ModelUploadDeps,
  request: UploadModelRequest,
): Promise<UploadModelStarted> {
  const { hive_id: hiveId, model, name } = parseBody(UploadModelRequestSchema, request);
  const hive = deps.view.hive(hiveId);
  if (!hive) throw new ApiError(404, 'HIVE_NOT_FOUND', `No hive '${hiveId}'`);
  if (hive.kind !== 'remote')
    throw new ApiError(
      409,
      'CONFLICT',
      `Hive '${hiveId}' is this machine's own hive: it serves this models folder already`,
    );
  const upload = deps.remoteHives?.uploadModel?.bind(deps.remoteHives);
  if (!upload) throw new ApiError(501, 'INVALID_REQUEST', 'Remote hives are not enabled on this queen');
  if (hive.state !== 'online')
    throw new ApiError(503, 'HIVE_UNREACHABLE', `Hive '${hiveId}' is ${hive.state}`, undefined, {
      'retry-after': '2',
    });
  const file = await localModelFile(deps.modelsDir, model);

  const now = deps.now ?? Date.now;
  const uploadId = `upl-${randomBytes(6).toString('hex')}`;
  const progress = (
    state: DownloadProgress['state'],
    received: number,
    message: string | null = null,
  ): void => {
    const body: ClusterEventBody = {
      type: 'download_progress',
      progress: {
        hive_id: hiveId,
        download_id: uploadId,
        source: `upload:${model}`,
        received_bytes: received,
        total_bytes: file.size,
        state,
        message,
      },
    };
    deps.view.publish(body);
  };
  progress('running', 0);
  let lastReportAt = 0;
  let sent = 0;
  void upload(hiveId, file.path, {
    name: name ?? model,
    onProgress: (bytes) => {
      sent = bytes;
      if (now() - lastReportAt < PROGRESS_EVERY_MS) return;
      lastReportAt = now();
      progress('running', bytes);
    },
  })
    .then(async (result) => ({
      result,
      listed: await listedInView(deps.view, hiveId, name ?? model, LISTED_WITHIN_MS),
    }))
    .then(
      ({ result, listed }) => {
        progress(
          'done',
          file.size,
          listed ? null : `copied; hive '${hiveId}' has not listed it within ${LISTED_WITHIN_MS / 1000} s`,
        );
        void deps.audit
          .emit({
            event_type: 'model_uploaded',
            actor: deps.actor,
            hive_id: hiveId,
            details: { name: name ?? model, bytes: file.size, skipped: result.skipped },
          })
          .catch(() => undefined);
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        progress('failed', sent, message.slice(0, 500));
        void deps.audit
          .emit({
            event_type: 'model_uploaded',
            actor: deps.actor,
            hive_id: hiveId,
            reason: 'failed',
            details: { name: name ?? model, bytes: sent, error: message.slice(0, 200) },
          })
          .catch(() => undefined);
      },
    );
  return { upload_id: uploadId, bytes_total: file.size };
}
