import { defineConfig } from '@playwright/test';

/**
 * The desktop app's e2e suite: Playwright's `_electron` drives the built app (out/, from
 * `electron-vite build`). Run through scripts/electron-e2e.mjs, which only starts it where an
 * Electron binary exists (RBEE_ELECTRON_BINARY).
 */
export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  outputDir: '../test-results/electron',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 60_000 },
  reporter: [['list']],
  use: { trace: 'retain-on-failure', screenshot: 'only-on-failure' },
});
