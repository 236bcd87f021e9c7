import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/rbeeCommand.js';
import { SshError } from '../../ssh/errors.js';
import { hiveBundleManifest } from './hiveBundleManifest.js';

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

export interface PackageRef {
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
