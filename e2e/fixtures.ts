import AxeBuilder from '@axe-core/playwright';
import { test as base, expect, type Locator, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import type { ClusterSnapshot } from '../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../src-shared/cluster/WorkerInfo.js';
import { QueenProcess } from './queenProcess.js';

export const TOKEN = 'e2e-dashboard-token-0123456789';
export const SCREENSHOTS = 'test-results/screenshots';

export interface QueenRef {
  current: QueenProcess;
}

/** One real headless queen (+ local hive + demo worker) per Playwright worker; tests may restart it. */
export const test = base.extend<object, { queen: QueenRef }>({
  queen: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const ref: QueenRef = { current: await QueenProcess.start({ token: TOKEN }) };
      try {
        await use(ref);
      } finally {
        await ref.current.stop();
        ref.current.removeDataDir();
      }
    },
    { scope: 'worker', timeout: 180_000 },
  ],
});

export { expect };

export function dashboardUrl(queen: QueenProcess, route = 'cluster'): string {
  return `${queen.url}/ui/#/${route}`;
}

/** Sign in through the login screen and wait until the event stream is live. */
export async function login(page: Page, queen: QueenProcess, route = 'cluster', token = TOKEN): Promise<void> {
  await page.goto(dashboardUrl(queen, route));
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (token === TOKEN) await expect(page.getByTestId('connection-state').or(page.getByRole('heading', { name: 'Quick inference' }))).toBeVisible();
}

export async function firstWorker(queen: QueenProcess): Promise<WorkerInfo> {
  const snapshot = await queen.control<ClusterSnapshot>('/v1/control/snapshot');
  const worker = snapshot.workers[0];
  if (!worker) throw new Error('no worker in the snapshot');
  return worker;
}

/** Wait (via the API, not the UI) until a worker is ready (and, after a kill, runs a new process). */
export async function readyWorker(queen: QueenProcess, options: { notPid?: number | null } = {}): Promise<WorkerInfo> {
  let worker: WorkerInfo | undefined;
  await expect
    .poll(
      async () => {
        const snapshot = await queen.control<ClusterSnapshot>('/v1/control/snapshot');
        worker = snapshot.workers.find((w) => (w.state === 'idle' || w.state === 'busy') && w.pid !== null && w.pid !== options.notPid);
        return worker !== undefined;
      },
      { timeout: 120_000, intervals: [250, 500, 1000] },
    )
    .toBe(true);
  return worker!;
}

export function workerRow(page: Page, workerId: string): Locator {
  return page.locator(`tr[data-worker-id="${workerId}"]`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

/** axe-core on the current page: no serious or critical violations. */
export async function expectAccessible(page: Page, label: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const summary = bad.map((v) => `${v.id} (${v.impact}): ${v.help} → ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(' | ')}`);
  expect(summary, `axe violations on ${label}`).toEqual([]);
}

/**
 * Record every state a worker row shows (and its countdown text) from inside the page, so fast
 * transitions are seen even between two polls of the test.
 */
export async function recordRowHistory(page: Page, workerId: string): Promise<void> {
  await page.evaluate(`(() => {
    const id = ${JSON.stringify(workerId)};
    window.__rowHistory = [];
    const record = () => {
      const row = document.querySelector('tr[data-worker-id="' + id + '"]');
      if (!row) return;
      const state = row.getAttribute('data-state');
      const cell = row.querySelector('[data-testid="worker-state"]');
      const entry = state + '|' + (cell ? cell.textContent.replace(/\\s+/g, ' ').trim() : '');
      const h = window.__rowHistory;
      if (h[h.length - 1] !== entry) h.push(entry);
    };
    window.__rowObserver?.disconnect();
    window.__rowObserver = new MutationObserver(record);
    window.__rowObserver.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    record();
  })()`);
}

export async function rowHistory(page: Page): Promise<string[]> {
  return (await page.evaluate('window.__rowHistory ?? []')) as string[];
}

/**
 * Cancel a run from inside the page the moment its first tokens are on screen (a Playwright
 * round-trip can take longer than the tiny model needs for 2048 tokens): clicks the Cancel button,
 * or sends Esc to the focused element, exactly as a user would.
 */
export async function cancelOnFirstTokens(page: Page, how: 'button' | 'escape'): Promise<void> {
  await page.evaluate(`(() => {
    const how = ${JSON.stringify(how)};
    const obs = new MutationObserver(() => {
      const status = document.querySelector('[data-testid="run-status"]')?.textContent;
      const n = Number(document.querySelector('[data-testid="token-count"]')?.textContent ?? '0');
      if (status !== 'running' || !(n > 0)) return;
      obs.disconnect();
      if (how === 'escape') {
        (document.activeElement ?? document.body).dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
      } else {
        [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Cancel')?.click();
      }
    });
    obs.observe(document.body, { subtree: true, childList: true, characterData: true });
  })()`);
}
