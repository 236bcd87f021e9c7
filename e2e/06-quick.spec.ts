import { cancelOnFirstTokens, expect, expectAccessible, login, readyWorker, screenshot, test } from './fixtures.js';

test('quick inference popup (#/quick): prompt, streamed answer, copy, Esc clears, cancel', async ({ page, queen, context }) => {
  const worker = await readyWorker(queen.current);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: queen.current.url });
  await page.setViewportSize({ width: 420, height: 560 });
  await login(page, queen.current, 'quick');
  await expect(page.getByRole('heading', { name: 'Quick inference' })).toBeVisible();
  await expect(page.getByRole('navigation')).toHaveCount(0); // the popup has no dashboard chrome
  await expect(page.getByLabel('Model')).toHaveValue(worker.model);

  const prompt = page.getByLabel('Prompt');
  await expect(prompt).toBeFocused();
  await prompt.fill('Say something');
  await prompt.press('Enter');
  const answer = page.getByTestId('answer');
  await expect(page.getByTestId('run-status')).toHaveText('done');
  await expect(answer).not.toBeEmpty();
  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-reason', /max_tokens|eos/);
  await screenshot(page, 'quick-answer');
  await expectAccessible(page, 'quick');

  await page.getByRole('button', { name: 'Copy' }).click();
  await expect(page.getByTestId('copy-status')).toHaveText('Copied to the clipboard.');
  const text = await answer.textContent();
  expect(await page.evaluate('navigator.clipboard.readText()')).toBe(text);

  await page.keyboard.press('Escape');
  await expect(answer).toBeEmpty();
  await expect(prompt).toHaveValue('');
  await expect(page.getByTestId('run-status')).toHaveText('idle');

  // Cancel a long answer (button), then Esc cancels too.
  await page.getByText('Options').click();
  await page.getByLabel('Max tokens').fill('2048');
  await page.getByLabel('Ignore end-of-sequence').check();
  await prompt.fill('A long one');
  await cancelOnFirstTokens(page, 'button');
  await prompt.press('Enter');
  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-reason', 'cancelled');
  await expect(answer).not.toBeEmpty();

  await prompt.fill('Another long one');
  await cancelOnFirstTokens(page, 'escape');
  await prompt.press('Enter');
  await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-reason', 'cancelled');
  expect(Number(await page.getByTestId('token-count').textContent())).toBeLessThan(2048);
  await screenshot(page, 'quick-cancelled');
});
