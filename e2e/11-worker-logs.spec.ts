import type { QueenProcess } from './queenProcess.js';
import { expect, expectAccessible, login, readyWorker, screenshot, test } from './fixtures.js';

/** One short inference through the queen; the worker then logs `job finished` with this job id. */
async function runJob(queen: QueenProcess, model: string): Promise<string> {
  const response = await fetch(`${queen.url}/v1/inference`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${queen.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, prompt: 'logs', max_tokens: 4, temperature: 0 }),
  });
  const body = await response.text();
  expect(response.status, body).toBe(200);
  const jobId = /"job_id":"([^"]+)"/.exec(body)?.[1];
  if (!jobId) throw new Error(`no job id in ${body}`);
  return jobId;
}

test('the logs panel follows a line the worker writes after it opened; pause, search and copy', async ({ page, context, queen }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: queen.current.url });
  const worker = await readyWorker(queen.current);
  await login(page, queen.current, 'workers');
  await page.getByRole('button', { name: `Logs of ${worker.id}` }).click();
  const panel = page.getByTestId('logs-panel');
  const output = page.getByTestId('logs-output');
  await expect(panel.getByRole('heading', { name: /Logs/ })).toBeFocused();
  await expect(page.getByTestId('logs-state')).toHaveText('Following');
  // The tail: the worker's start-up line is there.
  await expect(output).toContainText('listening');

  // A line written later arrives without a reload.
  const first = await runJob(queen.current, worker.model);
  await expect(output).toContainText(first);
  await expect(output).toContainText('job finished');
  await screenshot(page, 'workers-logs');
  await expectAccessible(page, 'workers logs panel');

  // Paused: the view holds still, the new line is counted; resumed, it shows.
  await page.getByRole('button', { name: 'Pause' }).click();
  const second = await runJob(queen.current, worker.model);
  await expect(page.getByTestId('logs-state')).toHaveText(/Paused · \d+ new/);
  await expect(output).not.toContainText(second);
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(output).toContainText(second);

  // Search narrows to matching lines; Copy puts exactly those on the clipboard.
  await page.getByLabel('Search').fill(second);
  await expect(panel).toContainText(/1 of \d+ lines match/);
  await expect(output).not.toContainText(first);
  await page.getByRole('button', { name: 'Copy' }).click();
  await expect(panel).toContainText('Copied 1 line to the clipboard.');
  const copied = (await page.evaluate('navigator.clipboard.readText()')) as string;
  expect(copied).toContain(second);
  expect(copied.split('\n')).toHaveLength(1);
  // The token never reaches the panel (the hive redacts it).
  await page.getByLabel('Search').fill('');
  await expect(output).not.toContainText(queen.current.token);

  await page.getByRole('button', { name: 'Close logs' }).click();
  await expect(panel).toBeHidden();
});
