import { cancelOnFirstTokens, expect, login, readyWorker, screenshot, test } from './fixtures.js';

test('the playground streams tokens from the demo model; cancel stops it and shows the stop reason', async ({ page, queen }) => {
  const worker = await readyWorker(queen.current);
  await login(page, queen.current, 'playground');
  await expect(page.getByLabel('Model')).toHaveValue(worker.model);

  // A short run to completion: tokens, tokens/s, stop reason.
  await page.getByLabel('Prompt').fill('Hello, bee.');
  await page.getByLabel('Max tokens').fill('16');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done');
  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-reason', /max_tokens|eos/);
  await expect(page.getByTestId('served-by')).toHaveText(`${worker.hive}/${worker.id}`);
  await expect(page.getByTestId('token-count')).not.toHaveText('0');
  await expect(page.getByTestId('tokens-per-second')).toHaveText(/^\d+(\.\d)?$/);
  await screenshot(page, 'playground-done');

  // A long run, cancelled while streaming.
  await page.getByLabel('Max tokens').fill('2048');
  await page.getByLabel('Ignore end-of-sequence').check();
  await page.getByLabel('Prompt').fill('A long one, please.');
  await cancelOnFirstTokens(page, 'button');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done');
  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-reason', 'cancelled');
  const tokens = Number(await page.getByTestId('token-count').textContent());
  expect(tokens).toBeGreaterThan(0);
  expect(tokens).toBeLessThan(2048);
  await expect(page.getByTestId('answer')).not.toBeEmpty();
  await screenshot(page, 'playground-cancelled');
});
