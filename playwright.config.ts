import { defineConfig } from '@playwright/test';

/**
 * Browser e2e: the dashboard (built by globalSetup) in Debian's Chromium against a real headless
 * queen started per worker by e2e/fixtures.ts. Playwright cannot download browsers here, so the
 * system Chromium is used with flags that keep it off the (closed) network.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export default defineConfig({
  testDir: 'e2e',
  testMatch: '*.spec.ts',
  // The Electron suite has its own runner (scripts/electron-e2e.mjs).
  testIgnore: ['**/electron/**', '**/*electron*'],
  outputDir: 'test-results',
  globalSetup: './e2e/globalSetup.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: { executablePath: process.env.RBEE_CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS },
    viewport: { width: 1280, height: 860 },
    actionTimeout: 20_000,
    navigationTimeout: 30_000,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
});
