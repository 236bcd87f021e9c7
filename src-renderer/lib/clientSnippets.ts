/**
 * What the Settings view's "Connect a client" panel shows: the OpenAI-compatible base URL and
 * ready-to-paste snippets. The token is never written into them: they read `RBEE_TOKEN` from the
 * environment, so a screenshot or a shared snippet leaks nothing.
 */
export interface ClientSnippets {
  baseUrl: string;
  curl: string;
  python: string;
  javascript: string;
}

/** The queen's origin: the page's own in the web dashboard, loopback and the queen port in the desktop app. */
export function queenOrigin(bridge: 'http' | 'ipc' | null, queenPort: number, pageOrigin: string | null): string {
  if (bridge === 'http' && pageOrigin && /^https?:\/\//.test(pageOrigin)) return pageOrigin;
  return `http://127.0.0.1:${queenPort}`;
}

export function clientSnippets(origin: string, model: string): ClientSnippets {
  const baseUrl = `${origin.replace(/\/$/, '')}/v1`;
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello' }] });
  return {
    baseUrl,
    curl: [
      `curl ${baseUrl}/chat/completions \\`,
      `  -H "Authorization: Bearer $RBEE_TOKEN" \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -d '${body}'`,
    ].join('\n'),
    python: [
      'import os',
      'from openai import OpenAI',
      '',
      `client = OpenAI(base_url=${JSON.stringify(baseUrl)}, api_key=os.environ["RBEE_TOKEN"])`,
      `reply = client.chat.completions.create(model=${JSON.stringify(model)}, messages=[{"role": "user", "content": "Hello"}])`,
      'print(reply.choices[0].message.content)',
    ].join('\n'),
    javascript: [
      "import OpenAI from 'openai';",
      '',
      `const client = new OpenAI({ baseURL: ${JSON.stringify(baseUrl)}, apiKey: process.env.RBEE_TOKEN });`,
      `const reply = await client.chat.completions.create({ model: ${JSON.stringify(model)}, messages: [{ role: 'user', content: 'Hello' }] });`,
      'console.log(reply.choices[0].message.content);',
    ].join('\n'),
  };
}
