import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { QueenProcess } from './queenProcess.js';

/**
 * A hostile web page in real Chromium: served from another origin (`http://127.0.0.2:PORT`, loopback
 * too, so only the Origin check stands in its way), it tries a `fetch` and a form POST against the
 * queen's control API. Both are refused with 403 before any credential is looked at. The same calls
 * from the queen's own origin get through (the check can fail).
 */
const TOKEN = 'e2e-cross-origin-token-0123456789';

let queen: QueenProcess;
let attacker: Server;
let attackerOrigin: string;

function attackerPage(queenUrl: string): string {
  return `<!doctype html><html><head><title>totally harmless</title></head><body>
<form id="f" method="POST" action="${queenUrl}/v1/control/models/download" enctype="text/plain">
  <input name='{"hive_id":"local","source":"http://127.0.0.1:1/x.gguf","pad":"' value='"}'>
</form>
<script>
  window.attempts = {};
  // A "simple" request: no preflight, so the browser sends it and hides the answer (no-cors).
  window.simplePost = () => fetch(${JSON.stringify(queenUrl)} + '/v1/control/workers', {
    method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' },
    body: JSON.stringify({ hive_id: 'local', model: 'rbee-demo-tiny.gguf' }),
  }).then((r) => 'sent:' + r.type, (e) => 'failed:' + e.message);
  // A page that somehow knows the token: the browser preflights, and the preflight is refused.
  window.withToken = () => fetch(${JSON.stringify(queenUrl)} + '/v1/control/snapshot', {
    headers: { authorization: 'Bearer ${TOKEN}' },
  }).then((r) => 'status:' + r.status, (e) => 'failed:' + e.message);
</script></body></html>`;
}

test.beforeAll(async () => {
  queen = await QueenProcess.start({ token: TOKEN, demo: false });
  attacker = createServer((req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(attackerPage(queen.url));
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.2', resolve));
  attackerOrigin = `http://127.0.0.2:${(attacker.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  await new Promise<void>((resolve) => (attacker ? attacker.close(() => resolve()) : resolve()));
  await queen?.stop();
  queen?.removeDataDir();
});

test('a page from another origin cannot call the queen: fetch and form POST are refused', async ({ page }) => {
  await page.goto(`${attackerOrigin}/`);
  await expect(page).toHaveTitle('totally harmless');

  // 1. fetch, simple request (sent without preflight): the queen answers 403 ORIGIN_NOT_ALLOWED.
  const simple = page.waitForResponse((r) => r.url().endsWith('/v1/control/workers'));
  expect(await page.evaluate('window.simplePost()')).toBe('sent:opaque');
  expect((await simple).status()).toBe(403);

  // 2. fetch with a credential: the preflight is refused, the request itself is never sent.
  expect(await page.evaluate('window.withToken()')).toMatch(/^failed:/);

  // 3. A form POST (top-level navigation to the queen): 403, and the page shows why.
  const formResponse = page.waitForResponse((r) => r.url().endsWith('/v1/control/models/download'));
  await page.evaluate('document.getElementById("f").submit()');
  const answered = await formResponse;
  expect(answered.status()).toBe(403);
  expect(await answered.text()).toContain('ORIGIN_NOT_ALLOWED');

  // Nothing happened on the queen.
  const snapshot = await queen.control<{ workers: unknown[] }>('/v1/control/snapshot');
  expect(snapshot.workers).toEqual([]);
});

test("the same calls from the queen's own origin get through (the check is not a blanket refusal)", async ({ page }) => {
  await page.goto(`${queen.url}/health`);
  const status = await page.evaluate(
    async ([token]) => (await fetch('/v1/control/snapshot', { headers: { authorization: `Bearer ${token}` } })).status,
    [TOKEN],
  );
  expect(status).toBe(200);
  const unauthenticated = await page.evaluate(async () => (await fetch('/v1/control/workers', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
  expect(unauthenticated).toBe(401);
});
