import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';

/**
 * What a remote hive runs: the built CLI bundle (out/main/cli.js, the warm standby's entry and every
 * chunk they can load), never TypeScript sources, plus a generated package.json that names exactly
 * the packages those files import, each pinned to the version installed here. Nothing else: no
 * devDependencies, no lockfile of the whole desktop app, no node-llama-cpp platform packages (the
 * deploy adds only the ones the remote's preflight asks for).
 */
export interface HiveBundleManifest {
  /** Bundle-relative POSIX paths of the JavaScript files, with their absolute local paths. */
  files: Array<{ path: string; localPath: string }>;
  /** Package name → exact version: the remote's runtime dependencies. */
  dependencies: Record<string, string>;
}

/** Entries a remote hive starts: `rbee hive|worker` and the warm standby. */
const ENTRIES = ['out/main/cli.js', 'out/main/workerStandby.js'];
/** Imported only by the desktop app's code paths, never by a hive. */
const NEVER_REMOTE = new Set(['electron']);
const BUILTINS = new Set(builtinModules);

// Module specifiers as rolldown writes them: static imports and re-exports at the start of a line
// (`import … from "x"`, `export … from "x"`, `import "x"`) and dynamic `import("x")`. Anchored so that
// a variable named `from` in the code is not read as an import.
const SPECIFIERS = [
  /^(?:import|export)\b[^;'"`]*?\bfrom\s*["']([^"']+)["']/gm,
  /^import\s*["']([^"']+)["']/gm,
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
];

function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return BUILTINS.has(name) ? null : name;
}

/** Follows relative imports from the entries; fails with a clear message when out/ is not built. */
export function hiveBundleManifest(projectRoot: string): HiveBundleManifest {
  const queue = ENTRIES.map((entry) => resolve(projectRoot, entry));
  for (const entry of queue) {
    if (!existsSync(entry)) throw new Error(`The hive bundle is not built (${entry} is missing): run \`npm run build\`.`);
  }
  const seen = new Set<string>();
  const packages = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const specifier of SPECIFIERS.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1]!))) {
      if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier));
      else {
        const name = packageOf(specifier);
        if (name && !NEVER_REMOTE.has(name)) packages.add(name);
      }
    }
  }
  const dependencies: Record<string, string> = {};
  for (const name of [...packages].sort()) dependencies[name] = installedVersion(projectRoot, name);
  const files = [...seen]
    .map((localPath) => ({ path: relative(projectRoot, localPath).split(sep).join(posix.sep), localPath }))
    .sort((a, b) => a.path.localeCompare(b.path));
  return { files, dependencies };
}

function installedVersion(projectRoot: string, name: string): string {
  const manifest = join(projectRoot, 'node_modules', name, 'package.json');
  if (!existsSync(manifest)) throw new Error(`The hive bundle imports ${name}, which is not installed here.`);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** The remote's package.json: private, ESM, the bundle's runtime dependencies at exact versions. */
export function remotePackageJson(version: string, dependencies: Record<string, string>): string {
  return `${JSON.stringify({ name: 'rbee-remote-hive', version, private: true, type: 'module', dependencies }, null, 2)}\n`;
}
