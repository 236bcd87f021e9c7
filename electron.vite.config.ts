import { defineConfig } from 'electron-vite';
import { resolve } from 'node:path';
import { rendererConfig } from './vite.renderer.config';

/**
 * The desktop app's build (`electron-vite build` → out/):
 * - main (ESM, package.json "type": "module" → out/main/index.js, the package's "main"): the Electron
 *   entry, plus the `rbee` CLI (out/main/cli.js) so a packaged app can run its hive and workers with
 *   `ELECTRON_RUN_AS_NODE=1 <app> out/main/cli.js hive|worker …`. Dependencies stay external
 *   (externalizeDeps): node-llama-cpp has a top-level await and native binaries, so it is never
 *   bundled and only ever loaded with `await import('node-llama-cpp')`. Target node20 so the same
 *   CLI output also runs on plain Node ≥ 20 hosts (remote hives).
 * - preload (CommonJS, out/preload/index.cjs, one self-contained file): a sandboxed preload cannot
 *   load ES modules or anything from node_modules.
 * - renderer: the dashboard's own Vite settings (vite.renderer.config.ts), the same build the headless
 *   queen serves at /ui.
 */
export default defineConfig({
  main: {
    build: {
      target: 'node20',
      outDir: resolve('out/main'),
      externalizeDeps: true,
      sourcemap: true,
      rolldownOptions: {
        input: {
          index: resolve('src-main/electron/main.ts'),
          cli: resolve('src-main/cli/main.ts'),
          // The hive's warm standby expects its entry beside the CLI's (see WorkerStandbyPool).
          workerStandby: resolve('src-main/cli/workerStandby.ts'),
        },
        external: ['node-llama-cpp', /^@node-llama-cpp\//],
        output: {
          format: 'es',
          entryFileNames: '[name].js',
          chunkFileNames: 'chunks/[name]-[hash].js',
        },
      },
    },
  },
  preload: {
    build: {
      outDir: resolve('out/preload'),
      externalizeDeps: false,
      rolldownOptions: {
        input: { index: resolve('src-main/electron/preload.ts') },
        output: {
          format: 'cjs',
          entryFileNames: '[name].cjs',
        },
      },
    },
  },
  renderer: {
    ...rendererConfig,
    build: {
      ...rendererConfig.build,
      // electron-vite looks for src/renderer/index.html unless told.
      rolldownOptions: { input: resolve(rendererConfig.root, 'index.html') },
    },
  },
});
