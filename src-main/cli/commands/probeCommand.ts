import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ProbeRequestSchema, type ProbeReply, type ProbeRequest } from '../../../src-shared/hive/probeWire.js';
import { LlamaProbe } from '../../llama-probe/LlamaProbe.js';

const USAGE = `usage: rbee probe [--gpu auto|off]      (started by a hive; not for people)
Reads one JSON request per line on stdin ({"id":1,"kind":"devices"} or
{"id":2,"kind":"estimate","request":{"modelPath":…,"ctx":…,"slots":…}}), answers each with one JSON
line on stdout, and exits when stdin closes. node-llama-cpp is loaded here so that the hive never
loads it (docs/hive.md "Probe child").
`;

/** `rbee probe`: the short-lived child that measures devices and model memory for a hive. */
export async function run(argv: string[]): Promise<number> {
  let gpu: 'auto' | false;
  try {
    const { values } = parseArgs({ args: argv, strict: true, options: { gpu: { type: 'string', default: 'auto' }, help: { type: 'boolean' } } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (values.gpu !== 'auto' && values.gpu !== 'off') throw new Error('--gpu must be auto or off');
    gpu = values.gpu === 'off' ? false : 'auto';
  } catch (error) {
    process.stderr.write(`rbee probe: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  // stdout is the protocol: anything a library prints with console.log goes to stderr instead.
  console.log = console.error;
  console.info = console.error;
  const probe = new LlamaProbe({ gpu });
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  try {
    // One request at a time, in order: the hive sends a handful per session, and node-llama-cpp's
    // estimates are CPU-bound anyway.
    for await (const line of lines) {
      if (line.trim() === '') continue;
      let request: ProbeRequest;
      try {
        request = ProbeRequestSchema.parse(JSON.parse(line));
      } catch (error) {
        // Without a valid id there is nobody to answer: the protocol is broken, stop.
        process.stderr.write(`rbee probe: bad request line: ${(error as Error).message.slice(0, 500)}\n`);
        return 1;
      }
      process.stdout.write(`${JSON.stringify(await answer(probe, request))}\n`);
    }
    return 0;
  } finally {
    await probe.dispose();
  }
}

async function answer(probe: LlamaProbe, request: ProbeRequest): Promise<ProbeReply> {
  try {
    if (request.kind === 'devices') return { id: request.id, kind: 'devices', ...(await probe.devices()) };
    return { id: request.id, kind: 'estimate', table: await probe.offloadTable(request.request) };
  } catch (error) {
    return { id: request.id, kind: 'error', message: error instanceof Error ? error.message : String(error) };
  }
}
