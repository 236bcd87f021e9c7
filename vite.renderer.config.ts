import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The dashboard build: one renderer for the Electron window and the headless queen's `/ui/`.
 * `base: './'` makes every asset URL relative, so the same files load under `/ui/` and from the
 * Electron app's own protocol. electron.vite.config.ts reuses `rendererConfig`.
 */
export const rendererRoot = fileURLToPath(new URL('./src-renderer', import.meta.url));

export const rendererConfig = {
  root: rendererRoot,
  base: './',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('./out/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // No inline <script>/<style> and no data: modules: the CSP allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
};

export default defineConfig(rendererConfig);
