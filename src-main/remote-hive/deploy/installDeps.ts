import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { PROJECT_ROOT } from '../../common/rbeeCommand.js';
import { shCommand, shQuote, shScript } from '../../ssh/shellQuote.js';
import type { SshConnection } from '../../ssh/SshConnection.js';
import { validateRemotePath } from '../../ssh/SshTarget.js';
import { dependencyClosure, hiveRuntimePackages } from './dependencyClosure.js';
import { remoteFailure, uploadTar } from './sftpTransfer.js';

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

/** What happened to `node_modules` in the version folder. */
export type DepsOutcome = 'installed' | 'skipped' | 'linked' | 'none';

/** Puts the runtime dependencies into `dir/node_modules` the way `mode` says. */
export async function installDeps(
  connection: SshConnection,
  sftp: SFTPWrapper,
  dir: string,
  node: string,
  mode: RuntimeDepsMode,
  signal?: AbortSignal,
): Promise<DepsOutcome> {
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

/** `du` of a remote folder in bytes (null when it cannot be read): the installed size an operator pays. */
export async function remoteDiskUsage(connection: SshConnection, path: string, signal?: AbortSignal): Promise<number | null> {
  const run = await connection.exec(shScript(`du -sk ${shQuote(path)} 2>/dev/null | cut -f1`), { signal });
  const kib = Number(run.stdout.trim());
  return run.code === 0 && Number.isFinite(kib) && kib > 0 ? kib * 1024 : null;
}
