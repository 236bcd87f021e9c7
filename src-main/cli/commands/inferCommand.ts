import { parseArgs } from 'node:util';
import { InferenceSseParser } from '../../../src-shared/worker/inferenceWire.js';
import { describeFailure, queenConnection } from '../queenClient.js';

const USAGE = `usage: rbee infer --model NAME [options] "prompt"
  --model NAME        model to use (see: rbee models)
  --max-tokens N      default 128
  --temperature T     default 0.7
  --system TEXT       a system message (the prompt becomes the user message)
  --url URL           queen address (default $RBEE_URL or http://127.0.0.1:7833)
  --token-file PATH   API token file (else env LLORCH_API_TOKEN, else the queen's <data>/api-token)
Streams tokens to stdout; statistics go to stderr. Ctrl-C cancels the job (exit 130).
`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string' },
        'max-tokens': { type: 'string', default: '128' },
        temperature: { type: 'string', default: '0.7' },
        system: { type: 'string' },
        url: { type: 'string' },
        'token-file': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    process.stderr.write(`rbee infer: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const prompt = positionals.join(' ');
  if (!values.model || prompt.length === 0) {
    process.stderr.write(`rbee infer: --model and a prompt are required\n${USAGE}`);
    return 2;
  }
  const { url, headers } = await queenConnection(values);
  const body = values.system
    ? { model: values.model, messages: [{ role: 'system', content: values.system }, { role: 'user', content: prompt }] }
    : { model: values.model, prompt };

  const abort = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const started = performance.now();
  try {
    const res = await fetch(`${url}/v1/inference`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, max_tokens: Number(values['max-tokens']), temperature: Number(values.temperature) }),
      signal: abort.signal,
    });
    if (!res.ok || !res.body) {
      process.stderr.write(`rbee infer: ${await describeFailure(res)}\n`);
      return 1;
    }
    const parser = new InferenceSseParser();
    const decoder = new TextDecoder();
    let firstTokenMs: number | null = null;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
        if (event === 'done') continue;
        if (event.type === 'token') {
          firstTokenMs ??= performance.now() - started;
          process.stdout.write(event.t);
        } else if (event.type === 'end') {
          const seconds = event.decode_ms / 1000;
          process.stderr.write(
            `\n[${event.tokens_out} tokens, ${seconds > 0 ? (event.tokens_out / seconds).toFixed(1) : '∞'} tok/s, first token ${firstTokenMs?.toFixed(0) ?? '-'} ms, stop: ${event.stop_reason}]\n`,
          );
        } else if (event.type === 'error') {
          process.stderr.write(`\nrbee infer: ${event.code}: ${event.message}\n`);
          return 1;
        }
      }
    }
    // Ctrl-C may end the body quietly instead of as an AbortError: the answer is cut either way.
    if (interrupted) {
      process.stderr.write('\n[cancelled]\n');
      return 130;
    }
    return 0;
  } catch (error) {
    if (interrupted) {
      process.stderr.write('\n[cancelled]\n');
      return 130;
    }
    process.stderr.write(`rbee infer: cannot reach the queen at ${url}: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
