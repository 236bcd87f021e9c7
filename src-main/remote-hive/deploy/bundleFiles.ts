import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../common/rbeeCommand.js';
import { hiveBundleManifest, remotePackageJson } from './hiveBundleManifest.js';

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
