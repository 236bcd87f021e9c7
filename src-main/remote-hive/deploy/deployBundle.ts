import { statSync } from 'node:fs';
import { posix } from 'node:path';
import { SshError } from '../../ssh/errors.js';
import { shCommand } from '../../ssh/shellQuote.js';
import type { SshConnection } from '../../ssh/SshConnection.js';
import { validateRemotePath } from '../../ssh/SshTarget.js';
import { bundleDigest, bundleVersion, hiveBundleFiles, type BundleFile } from './bundleFiles.js';
import { installDeps, remoteDiskUsage, type DepsOutcome, type RuntimeDepsMode } from './installDeps.js';
import { diagnoseWriteFailure, putFile, remoteFailure, renameOver, writeRemoteFile } from './sftpTransfer.js';

export interface DeployProgress {
  phase: 'checking' | 'uploading' | 'dependencies' | 'done';
  file?: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface DeployOptions {
  /** Absolute remote data dir (PreflightResult.data_dir). */
  dataDir: string;
  /** Remote node binary for checksums and npm (PreflightResult.node_path). Defaults to `node`. */
  nodePath?: string;
  /** Defaults to package.json's version. */
  version?: string;
  /** Defaults to `hiveBundleFiles()`. */
  files?: BundleFile[];
  deps?: RuntimeDepsMode;
  onProgress?: (progress: DeployProgress) => void;
  signal?: AbortSignal;
}

export interface DeployResult {
  version: string;
  /** `<dataDir>/hive/<version>`. */
  dir: string;
  uploaded: string[];
  skipped: number;
  bytesUploaded: number;
  deps: DepsOutcome;
  /** Size of the installed runtime dependencies (`du` of node_modules), when installed by the deploy. */
  depsBytes: number | null;
}

const UPLOAD_CONCURRENCY = 8;

/** Node one-liner run on the remote: creates the dirs, prints `{path: sha256}` of existing files. */
const REMOTE_HASH_JS = `
const fs=require('fs'),p=require('path'),c=require('crypto');
let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{
const {dir,files}=JSON.parse(s);const out={};fs.mkdirSync(dir,{recursive:true});
for(const f of files){const a=p.join(dir,f);fs.mkdirSync(p.dirname(a),{recursive:true});
try{out[f]=c.createHash('sha256').update(fs.readFileSync(a)).digest('hex')}catch{}}
process.stdout.write(JSON.stringify(out));});`;

/**
 * Uploads the hive bundle into `<dataDir>/hive/<version>` by SFTP, file by file, skipping every
 * file whose remote SHA-256 already matches (an interrupted deploy resumes; a redeploy of the same
 * sources uploads nothing). Each file is written to `<name>.rbee-part` and renamed into place.
 * `.rbee-complete` (the bundle digest) marks a finished install; preflight reports it.
 */
export async function deployBundle(connection: SshConnection, options: DeployOptions): Promise<DeployResult> {
  const dataDir = validateRemotePath(options.dataDir, 'remote data dir');
  if (!dataDir.startsWith('/'))
    throw new SshError('INVALID_TARGET', `Remote data dir must be absolute, got ${JSON.stringify(dataDir)}.`);
  const version = options.version ?? bundleVersion();
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(version))
    throw new SshError('INVALID_TARGET', `Invalid bundle version ${JSON.stringify(version)}.`);
  const dir = posix.join(dataDir, 'hive', version);
  const files = options.files ?? hiveBundleFiles();
  const node = options.nodePath ?? 'node';
  const bytesTotal = files.reduce((n, f) => n + f.size, 0);
  const progress = (p: Omit<DeployProgress, 'filesTotal' | 'bytesTotal'>): void =>
    options.onProgress?.({ ...p, filesTotal: files.length, bytesTotal });
  options.signal?.throwIfAborted();

  progress({ phase: 'checking', filesDone: 0, bytesDone: 0 });
  const hashRun = await connection.exec(shCommand([node, '-e', REMOTE_HASH_JS]), {
    stdin: JSON.stringify({ dir, files: files.map((f) => f.path) }),
    timeoutMs: 120_000,
    signal: options.signal,
  });
  if (hashRun.code !== 0) throw remoteFailure('checking the installed files', hashRun.stderr);
  const remote = JSON.parse(hashRun.stdout || '{}') as Record<string, string>;

  const todo = files.filter((f) => remote[f.path] !== f.sha256);
  const sftp = await connection.sftp();
  let bytesDone = 0;
  let filesDone = files.length - todo.length;
  // A few uploads in flight at once: SFTP requests are pipelined on the one connection.
  const queue = [...todo];
  const worker = async (): Promise<void> => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      options.signal?.throwIfAborted();
      const target = posix.join(dir, f.path);
      if (f.content) await writeRemoteFile(sftp, `${target}.rbee-part`, f.content, 0o644);
      else await putFile(sftp, f.localPath, `${target}.rbee-part`, statSync(f.localPath).mode & 0o755);
      await renameOver(sftp, `${target}.rbee-part`, target);
      bytesDone += f.size;
      filesDone += 1;
      progress({ phase: 'uploading', file: f.path, filesDone, bytesDone });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, todo.length) }, worker));
  } catch (error) {
    queue.length = 0;
    throw await diagnoseWriteFailure(connection, dir, error, bytesTotal - bytesDone);
  }

  progress({ phase: 'dependencies', filesDone, bytesDone });
  const deps = await installDeps(
    connection,
    sftp,
    dir,
    node,
    options.deps ?? { kind: 'none' },
    options.signal,
  );

  const depsBytes = deps === 'installed' || deps === 'skipped' ? await remoteDiskUsage(connection, posix.join(dir, 'node_modules'), options.signal) : null;
  const digest = bundleDigest(files);
  await writeRemoteFile(sftp, posix.join(dir, '.rbee-complete'), `${digest}\n`, 0o644);
  progress({ phase: 'done', filesDone, bytesDone });
  return {
    version,
    dir,
    uploaded: todo.map((f) => f.path),
    skipped: files.length - todo.length,
    bytesUploaded: bytesDone,
    deps,
    depsBytes,
  };
}
