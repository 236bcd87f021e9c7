import type { Request } from '@playwright/test';
import { expect, expectAccessible, login, readyWorker, screenshot, test } from './fixtures.js';

interface SentChat {
  messages: Array<{ role: string; content: string }>;
  stream?: boolean;
  stop?: string[];
}

test('a chat of three turns sends the history as messages through /v1/chat/completions and survives a reload', async ({ page, queen }) => {
  const worker = await readyWorker(queen.current);
  const sent: SentChat[] = [];
  page.on('request', (request: Request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/v1/chat/completions') sent.push(request.postDataJSON() as SentChat);
  });
  await login(page, queen.current, 'playground');
  await expect(page.getByLabel('Model')).toHaveValue(worker.model);
  await page.getByLabel('System message').fill('You are a terse bee.');
  await page.getByLabel('Stop sequences').fill('###');
  // Fixed length answers: the tiny model may otherwise end a turn at once (end-of-sequence first).
  await page.getByLabel('Max tokens').fill('8');
  await page.getByLabel('Ignore end-of-sequence').check();

  const prompts = ['First question', 'Second question', 'Third question'];
  const answers: string[] = [];
  for (const prompt of prompts) {
    await page.getByLabel('Prompt').fill(prompt);
    await page.getByRole('button', { name: 'Send' }).click();
    await expect(page.getByTestId('run-status')).toHaveText('done');
    await expect(page.getByTestId('stop-reason')).toHaveAttribute('data-reason', 'max_tokens');
    await expect(page.getByTestId('served-by')).toHaveText(`${worker.hive}/${worker.id}`);
    await expect(page.getByLabel('Prompt')).toHaveValue('');
    answers.push((await page.getByTestId('answer').textContent()) ?? '');
  }

  expect(sent).toHaveLength(3);
  for (const body of sent) {
    expect(body.stream).toBe(true);
    expect(body.stop).toEqual(['###']);
  }
  const third = sent[2]!.messages;
  expect(third.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant', 'user']);
  expect([third[0]!.content, third[1]!.content, third[3]!.content, third[5]!.content]).toEqual(['You are a terse bee.', ...prompts]);
  // The history is what the earlier turns answered (as shown; an answer of only withheld bytes shows a placeholder).
  expect(third.slice(0, 4)).toEqual([...sent[1]!.messages.slice(0, 3), third[3]]);
  for (const [i, content] of [third[2]!.content, third[4]!.content].entries()) {
    if (content !== '') expect(content).toBe(answers[i]);
  }
  await expect(page.getByTestId('chat-log').locator('li')).toHaveCount(5);
  await screenshot(page, 'playground-chat');
  await expectAccessible(page, 'playground chat');

  // Regenerate: the same history and user message again, not a fourth turn.
  await page.getByRole('button', { name: 'Regenerate' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('done');
  expect(sent).toHaveLength(4);
  expect(sent[3]!.messages).toEqual(sent[2]!.messages);
  const regenerated = (await page.getByTestId('answer').textContent()) ?? '';

  // A reload keeps the conversation (localStorage) and its settings.
  await page.reload();
  await expect(page.getByTestId('chat-log').locator('li')).toHaveCount(5);
  await expect(page.getByTestId('current-user')).toContainText(prompts[2]!);
  await expect(page.getByTestId('answer')).toHaveText(regenerated);
  await expect(page.getByLabel('System message')).toHaveValue('You are a terse bee.');

  // The conversation at the tray popup's width and in the dark palette: no sideways scroll, axe clean.
  await page.setViewportSize({ width: 360, height: 740 });
  const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
  expect(overflow, 'the chat scrolls sideways at 360 px').toBeLessThanOrEqual(0);
  await screenshot(page, 'playground-chat-360px');
  await expectAccessible(page, 'playground chat at 360 px');
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'playground-chat-dark');
  await expectAccessible(page, 'playground chat (dark)');

  // Clear ends it, for good.
  await page.getByRole('button', { name: 'Clear chat' }).click();
  await expect(page.getByTestId('chat-log')).toHaveCount(0);
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Inference playground' })).toBeVisible();
  await expect(page.getByTestId('chat-log')).toHaveCount(0);
});
