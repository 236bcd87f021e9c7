import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { hiveBundleManifest, remotePackageJson } from './hiveBundleManifest.js';
import type { SFTPWrapper } from 'ssh2';
import { PROJECT_ROOT } from '../common/rbeeCommand.js';
import { SshError } from './errors.js';
import { shCommand, shQuote, shScript } from './shellQuote.js';
import type { SshConnection } from './SshConnection.js';
import { validateRemotePath } from './SshTarget.js';

export interface BundleFile {
  /** POSIX path relative to the bundle root. */
  path: string;
  /** Where the bytes come from: a local file, or `content` for a generated one. */
  localPath: string;
  /** A generated file's bytes (the remote package.json); uploaded instead of `localPath`. */
  content?: Buffer;
  size: number;
  sha256: string;
}

/**
 * The hive bundle: the built CLI bundle a remote hive runs (see hiveBundleManifest: the entries and
 * every chunk they can load, no TypeScript, no loader) and a generated package.json naming exactly
 * the packages those files import, at the versions installed here. Runtime dependencies travel
 * separately (see `RuntimeDepsMode`).
 */
export function hiveBundleFiles(projectRoot: string = PROJECT_ROOT): BundleFile[] {
  const manifest = hiveBundleManifest(projectRoot);
  const digestOf = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
  const out: BundleFile[] = manifest.files.map(({ path, localPath }) => {
    const data = readFileSync(localPath);
    return { path, localPath, size: data.length, sha256: digestOf(data) };
  });
  const pkg = Buffer.from(remotePackageJson(bundleVersion(projectRoot), manifest.dependencies));
  out.push({ path: 'package.json', localPath: join(projectRoot, 'package.json'), content: pkg, size: pkg.length, sha256: digestOf(pkg) });
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** The version folder name: package.json's version. */
export function bundleVersion(projectRoot: string = PROJECT_ROOT): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** Digest over every file's path and checksum: equal digests mean equal bundles. */
export function bundleDigest(files: readonly BundleFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.path}\0${f.sha256}\n`);
  return h.digest('hex');
}

/**
 * How the hive's runtime dependencies (node-llama-cpp with its prebuilt binaries, fastify, zod, …)
 * reach the remote:
 * - `registry`: `npm install --omit=dev --omit=optional` of the generated package.json in the
 *   version folder, together with only the node-llama-cpp prebuilt packages for the remote's platform (+ CUDA when it has NVIDIA GPUs) at
 *   the exact pinned version. Needs the remote to reach the registry (tests/ssh/registryInstall.test.ts
 *   installs this way for real, as a separate local user behind a real sshd).
 * - `upload`: offline labs. The dependency closure is taken from THIS machine's node_modules, only
 *   the node-llama-cpp platform packages named in `platformPackages`, packed as a tar.gz, uploaded
 *   by SFTP and unpacked. Works when this machine's packages fit the remote's platform (pure JS
 *   always; native prebuilts only for the same os/arch). Skipped when the same set is there.
 * - `link`: TEST SHORTCUT. The remote shares this machine's file system (the tests' sshd runs
 *   here), so `node_modules` becomes a symlink to `path`. Never for real remotes.
 */
export type RuntimeDepsMode =
  | { kind: 'registry'; registry?: string; platformPackages?: string[] }
  | { kind: 'upload'; packages?: string[]; platformPackages?: string[]; projectRoot?: string }
  | { kind: 'link'; path: string }
  | { kind: 'none' };

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
  deps: 'installed' | 'skipped' | 'linked' | 'none';
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

/** `du` of a remote folder in bytes (null when it cannot be read): the installed size an operator pays. */
async function remoteDiskUsage(connection: SshConnection, path: string, signal?: AbortSignal): Promise<number | null> {
  const run = await connection.exec(shScript(`du -sk ${shQuote(path)} 2>/dev/null | cut -f1`), { signal });
  const kib = Number(run.stdout.trim());
  return run.code === 0 && Number.isFinite(kib) && kib > 0 ? kib * 1024 : null;
}

async function installDeps(
  connection: SshConnection,
  sftp: SFTPWrapper,
  dir: string,
  node: string,
  mode: RuntimeDepsMode,
  signal?: AbortSignal,
): Promise<DeployResult['deps']> {
  switch (mode.kind) {
    case 'none':
      return 'none';
    case 'link': {
      const target = validateRemotePath(mode.path, 'node_modules path');
      const run = await connection.exec(
        shScript(
          `rm -rf ${shQuote(`${dir}/node_modules`)} && ln -s ${shQuote(target)} ${shQuote(`${dir}/node_modules`)}`,
        ),
        { signal },
      );
      if (run.code !== 0) throw remoteFailure('linking node_modules', run.stderr);
      return 'linked';
    }
    case 'registry': {
      const npm = posix.join(posix.dirname(node), 'npm');
      const registry = mode.registry ? ['--registry', mode.registry] : [];
      const platform = mode.platformPackages ?? [];
      // One npm run: the generated package.json pins exactly what the bundle imports (no lockfile
      // travels: the desktop app's names its devDependencies and every platform's binaries), plus the
      // node-llama-cpp platform packages this remote needs (optional dependencies are omitted, so no
      // other platform's binaries come along).
      const lines = [
        `cd ${shQuote(dir)}`,
        `PATH=${shQuote(posix.dirname(node))}:$PATH; export PATH`,
        `${shCommand([node.includes('/') ? npm : 'npm', 'install', '--no-save', '--omit=dev', '--omit=optional', '--no-package-lock', '--no-audit', '--no-fund', ...registry, ...platform])} >.rbee-npm.log 2>&1 || { tail -n 30 .rbee-npm.log >&2; exit 1; }`,
      ];
      const run = await connection.exec(shScript(lines.join('\n')), { timeoutMs: 600_000, signal });
      if (run.code !== 0) throw remoteFailure('installing dependencies from the registry', run.stderr);
      return 'installed';
    }
    case 'upload': {
      const root = mode.projectRoot ?? PROJECT_ROOT;
      const closure = dependencyClosure(root, [
        ...(mode.packages ?? hiveRuntimePackages(root)),
        ...(mode.platformPackages ?? []),
      ]);
      const stamp = createHash('sha256')
        .update(closure.map((p) => `${p.name}@${p.version}`).join('\n'))
        .digest('hex');
      const stampPath = posix.join(dir, 'node_modules', '.rbee-deps');
      const have = await connection.exec(shScript(`cat ${shQuote(stampPath)} 2>/dev/null || true`), {
        signal,
      });
      if (have.stdout.trim() === stamp) return 'skipped';
      const tarball = posix.join(dir, '.rbee-deps.tar.gz');
      const dirs = closure
        .map((p) => p.dir)
        .filter((d, _i, all) => !all.some((o) => o !== d && d.startsWith(`${o}/`)));
      await uploadTar(sftp, root, dirs, tarball, signal);
      const run = await connection.exec(
        shScript(
          `cd ${shQuote(dir)} && rm -rf node_modules && mkdir node_modules && tar -xzf ${shQuote(tarball)} -C node_modules && rm -f ${shQuote(tarball)} && printf %s ${shQuote(stamp)} > ${shQuote(stampPath)}`,
        ),
        { timeoutMs: 600_000, signal },
      );
      if (run.code !== 0) throw remoteFailure('unpacking the uploaded dependencies', run.stderr);
      return 'installed';
    }
  }
}

/** The runtime dependencies a remote hive needs: exactly the packages the built bundle imports. */
export function hiveRuntimePackages(projectRoot: string = PROJECT_ROOT): string[] {
  return Object.keys(hiveBundleManifest(projectRoot).dependencies);
}

/**
 * node-llama-cpp's prebuilt binary packages for a remote, from preflight's `uname` and GPU list:
 * the CPU build for its platform, plus the CUDA build when `nvidia-smi` listed GPUs. node-llama-cpp
 * falls back to the CPU build when a GPU build cannot load. Returns `[]` for an unknown platform.
 * With `version`, entries are `name@version` (for npm); without, bare names (for `upload`).
 */
export function nodeLlamaPlatformPackages(
  remote: { os: string; arch: string; gpus: readonly unknown[] },
  version?: string,
): string[] {
  const os = remote.os.toLowerCase();
  const arch = remote.arch.toLowerCase();
  const names: string[] = [];
  if (os === 'linux') {
    if (arch === 'x86_64' || arch === 'amd64') {
      names.push('@node-llama-cpp/linux-x64');
      if (remote.gpus.length > 0) names.push('@node-llama-cpp/linux-x64-cuda');
    } else if (arch === 'aarch64' || arch === 'arm64') names.push('@node-llama-cpp/linux-arm64');
    else if (arch.startsWith('armv7')) names.push('@node-llama-cpp/linux-armv7l');
    else if (arch === 'riscv64') names.push('@node-llama-cpp/linux-riscv64');
  } else if (os === 'darwin') {
    names.push(arch === 'arm64' ? '@node-llama-cpp/mac-arm64-metal' : '@node-llama-cpp/mac-x64');
  }
  return version ? names.map((n) => `${n}@${version}`) : names;
}

/** The node-llama-cpp version installed here (the exact pin the remote must match). */
export function localNodeLlamaVersion(projectRoot: string = PROJECT_ROOT): string {
  const pkg = JSON.parse(
    readFileSync(join(projectRoot, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8'),
  ) as { version: string };
  return pkg.version;
}

interface PackageRef {
  name: string;
  version: string;
  /** Path relative to node_modules (`fastify`, `@scope/x`, `a/node_modules/b`). */
  dir: string;
}

/**
 * The installed packages `names` need at run time, resolved in `root/node_modules` the way Node
 * resolves them (nested node_modules first): dependencies and those optionalDependencies present.
 */
export function dependencyClosure(root: string, names: readonly string[]): PackageRef[] {
  const nm = join(root, 'node_modules');
  const seen = new Map<string, PackageRef>();
  const visit = (name: string, fromDir: string): void => {
    // Walk up from the requiring package's dir to find the nearest node_modules/<name>.
    let base = fromDir;
    for (;;) {
      const candidate = base === '' ? name : `${base}/node_modules/${name}`;
      const pkgJson = join(nm, candidate, 'package.json');
      if (existsSync(pkgJson)) {
        if (seen.has(candidate)) return;
        const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as {
          version?: string;
          dependencies?: Record<string, string>;
          optionalDependencies?: Record<string, string>;
        };
        seen.set(candidate, { name, version: pkg.version ?? '0.0.0', dir: candidate });
        for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, candidate);
        for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
          if (dep.startsWith('@node-llama-cpp/')) continue; // platform binaries: only those asked for
          try {
            visit(dep, candidate);
          } catch {
            // optional and absent for this platform
          }
        }
        return;
      }
      if (base === '') {
        if (fromDir === '')
          throw new SshError(
            'REMOTE_COMMAND_FAILED',
            `Package ${name} is not installed in ${nm}: cannot upload it.`,
          );
        return; // an absent optional dependency of a nested package
      }
      const idx = base.lastIndexOf('/node_modules/');
      base = idx === -1 ? '' : base.slice(0, idx);
    }
  };
  for (const name of names) visit(name, '');
  return [...seen.values()].sort((a, b) => a.dir.localeCompare(b.dir));
}

function uploadTar(
  sftp: SFTPWrapper,
  root: string,
  dirs: string[],
  remotePath: string,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-czf', '-', '-C', join(root, 'node_modules'), '--', ...dirs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
    });
    let stderr = '';
    tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const out = sftp.createWriteStream(remotePath, { mode: 0o600 });
    let tarDone = false;
    let writeDone = false;
    const finish = (): void => {
      if (tarDone && writeDone) resolve();
    };
    tar.on('error', reject);
    tar.on('close', (code) => {
      if (code !== 0) return reject(new SshError('REMOTE_COMMAND_FAILED', `tar failed (${code}): ${stderr}`));
      tarDone = true;
      finish();
    });
    out.on('error', reject);
    out.on('close', () => {
      writeDone = true;
      finish();
    });
    tar.stdout.pipe(out);
  });
}

function putFile(sftp: SFTPWrapper, local: string, remote: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) =>
    sftp.fastPut(local, remote, { mode }, (error) =>
      error ? reject(mapSftpError(error, remote)) : resolve(),
    ),
  );
}

function renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) =>
    sftp.ext_openssh_rename(from, to, (error) => (error ? reject(mapSftpError(error, to)) : resolve())),
  );
}

export function writeRemoteFile(
  sftp: SFTPWrapper,
  path: string,
  content: string | Buffer,
  mode: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = sftp.createWriteStream(path, { mode });
    stream.on('error', (error: Error) => reject(mapSftpError(error, path)));
    stream.on('close', () => resolve());
    stream.end(content);
  });
}

function mapSftpError(error: Error, path: string): Error {
  if (/no space|quota/i.test(error.message)) {
    return new SshError(
      'DISK_FULL',
      `Writing ${path} on the remote failed (${error.message}): the remote disk is full. Free some space and deploy again (finished files are kept).`,
      { cause: error },
    );
  }
  return new SshError('REMOTE_COMMAND_FAILED', `SFTP write of ${path} failed: ${error.message}`, {
    cause: error,
  });
}

/**
 * OpenSSH's sftp-server answers ENOSPC with a bare SSH_FX_FAILURE ("Failure"), so a failed write is
 * checked against the free space (`df`) of the target's file system to tell "disk full" apart.
 */
async function diagnoseWriteFailure(
  connection: SshConnection,
  dir: string,
  error: unknown,
  bytesLeft: number,
): Promise<unknown> {
  if (error instanceof SshError && error.code !== 'REMOTE_COMMAND_FAILED') return error;
  try {
    const df = await connection.exec(shScript(`df -Pk ${shQuote(dir)} | tail -n 1`), { timeoutMs: 15_000 });
    const availKb = Number(df.stdout.trim().split(/\s+/)[3]);
    if (Number.isFinite(availKb) && availKb * 1024 < Math.max(bytesLeft, 64 * 1024)) {
      const message = error instanceof Error ? error.message : String(error);
      return new SshError(
        'DISK_FULL',
        `The remote disk is full: ${availKb} KiB free in ${dir}'s file system, ${Math.ceil(bytesLeft / 1024)} KiB still to upload (${message}). Free some space and deploy again (finished files are kept).`,
        { cause: error },
      );
    }
  } catch {
    // keep the original error
  }
  return error;
}

function remoteFailure(what: string, stderr: string): SshError {
  if (/No space left on device|Disk quota exceeded/i.test(stderr)) {
    return new SshError(
      'DISK_FULL',
      `The remote disk is full while ${what}: ${stderr.trim().slice(-300)}. Free some space and deploy again.`,
    );
  }
  if (/node: (command )?not found|No such file or directory.*node/i.test(stderr)) {
    return new SshError(
      'NODE_MISSING',
      `Node.js is missing on the remote while ${what}. Install Node 20 or newer.`,
    );
  }
  return new SshError('REMOTE_COMMAND_FAILED', `Failed ${what} on the remote: ${stderr.trim().slice(-500)}`);
}
