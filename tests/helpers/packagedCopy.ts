/**
 * What electron-builder would ship (electron-builder.yml `files`), copied into a temp folder without
 * src-main or any other source: out/ (no source maps), resources/, package.json and the production
 * node_modules, with node-llama-cpp's binaries for this platform only. Files are hard links (the
 * copy costs no disk), so a test can run the product from there and prove it needs nothing else.
 */
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';

export interface PackagedCopy {
  dir: string;
  /** Production packages copied (their folders relative to node_modules). */
  packages: string[];
  dispose(): void;
}

const PLATFORM = `${process.platform}-${process.arch}`;

/** electron-builder's node-llama-cpp filters: only this platform's prebuilt binaries. */
function shipped(pathInModules: string): boolean {
  const parts = pathInModules.split(sep);
  if (parts[0] === 'node-llama-cpp' && (parts[1] === 'bins' || (parts[1] === 'llama' && parts[2] === 'localBuilds'))) {
    const target = parts[1] === 'bins' ? parts[2] : parts[3];
    return target === undefined || target.startsWith(PLATFORM);
  }
  if (parts[0] === '@node-llama-cpp' && parts[1] !== undefined) return parts[1].startsWith(PLATFORM);
  return true;
}

function linkTree(from: string, to: string, filter: (path: string) => boolean, skipNested: boolean): void {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (skipNested && entry.name === 'node_modules') continue;
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (!filter(source)) continue;
    if (entry.isDirectory()) linkTree(source, target, filter, false);
    else if (entry.isFile()) {
      mkdirSync(dirname(target), { recursive: true });
      linkSync(source, target);
    }
  }
}

export function packagedCopy(root: string): PackagedCopy {
  const dir = mkdtempSync(join(tmpdir(), 'rbee-packaged-'));
  try {
    linkTree(join(root, 'out'), join(dir, 'out'), (p) => !p.endsWith('.map'), false);
    linkTree(join(root, 'resources'), join(dir, 'resources'), () => true, false);
    linkSync(join(root, 'package.json'), join(dir, 'package.json'));
    // What `npm ci --omit=dev` installs: every package-lock.json entry not marked `dev` (a `devOptional`
    // one, e.g. typescript as node-llama-cpp's optional peer, stays), nested copies with their parents'
    // path. Entries for other platforms are optional and absent from disk: skipped below.
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const packages = Object.entries(lock.packages)
      .filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev !== true)
      .map(([path]) => path.slice('node_modules/'.length).split('/').join(sep));
    const modules = join(root, 'node_modules');
    if (packages.length === 0) throw new Error('package-lock.json lists no production packages');
    for (const pkg of packages) {
      if (!shipped(pkg)) continue;
      const source = join(modules, pkg);
      if (!statSync(source, { throwIfNoEntry: false })?.isDirectory()) continue;
      linkTree(source, join(dir, 'node_modules', pkg), (p) => shipped(relative(modules, p)), true);
    }
    return { dir, packages, dispose: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
