/**
 * SSH tunnel benchmark (issue 6, acceptance 5). Standalone:
 *   node --import tsx scripts/bench/ssh.ts          (root: it starts a real sshd on 127.0.0.1)
 * One real `rbee worker` (tiny model, 1 thread) on this machine's loopback; the same streamed
 * inference is read directly (loopback HTTP) and through an SSH `forwardOut` tunnel via a real
 * sshd (the RemoteHive path: SshConnection + SshTunnelAgent), interleaved run by run. Prints
 * tok/s and TTFT for both and the ratios. The "remote" is this machine, so the figures isolate
 * the cost of the SSH hop (encryption, channel framing, sshd relay), not a network.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KnownHostsStore } from '../../src-main/ssh/knownHosts.js';
import { SshConnection } from '../../src-main/ssh/SshConnection.js';
import { resolveSshTarget } from '../../src-main/ssh/SshTarget.js';
import { SshTunnelAgent } from '../../src-main/ssh/SshTunnelAgent.js';
import { startSshd } from '../../tests/helpers/sshd.js';
import { startWorker } from '../../tests/helpers/startWorker.js';
import { fmt, median } from './lib/stats.js';
import { timedStream } from './lib/streamClient.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 12);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 256);

export async function benchSsh(): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'rbee-bench-ssh-'));
  const sshd = await startSshd();
  const worker = await startWorker({ slots: 1 });
  let connection: SshConnection | null = null;
  let agent: SshTunnelAgent | null = null;
  try {
    writeFileSync(join(dir, 'known_hosts'), `${sshd.knownHostsLine()}\n`);
    const target = resolveSshTarget(
      { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.clientKeyPath },
      { agentSocket: null },
    );
    const connectStarted = performance.now();
    connection = await SshConnection.open({
      target,
      knownHosts: new KnownHostsStore({ appFile: join(dir, 'known_hosts') }),
    });
    const connectMs = performance.now() - connectStarted;
    agent = new SshTunnelAgent(connection);

    const body = { prompt: 'The quick brown fox', max_tokens: TOKENS, ignore_eos: true, seed: 1 };
    const headers = { authorization: `Bearer ${worker.token}` };
    const direct = { tps: [] as number[], ttft: [] as number[] };
    const tunnel = { tps: [] as number[], ttft: [] as number[] };
    const firstTunnelStarted = performance.now();
    await timedStream(worker.url, '/v1/inference', body, headers, agent); // opens the first channel
    const firstTunnelMs = performance.now() - firstTunnelStarted;
    for (let r = 0; r < RUNS + 2; r++) {
      // Interleave so both paths see the same machine load.
      const d = await timedStream(worker.url, '/v1/inference', body, headers);
      const t = await timedStream(worker.url, '/v1/inference', body, headers, agent);
      if (r < 2) continue; // warm-up
      direct.tps.push(d.tokensOut / (d.totalMs / 1000));
      direct.ttft.push(d.ttftMs);
      tunnel.tps.push(t.tokensOut / (t.totalMs / 1000));
      tunnel.ttft.push(t.ttftMs);
    }
    const figures = {
      ssh_connect_ms: connectMs,
      ssh_first_request_ms: firstTunnelMs,
      direct_tok_s: median(direct.tps),
      tunnel_tok_s: median(tunnel.tps),
      ratio_tok_s: median(tunnel.tps) / median(direct.tps),
      direct_ttft_p50_ms: median(direct.ttft),
      tunnel_ttft_p50_ms: median(tunnel.ttft),
      ttft_added_ms: median(tunnel.ttft) - median(direct.ttft),
    };
    console.log(
      `ssh tunnel  (real worker, tiny model, 1 thread, ${TOKENS} tokens, median of ${RUNS}; sshd on 127.0.0.1)`,
    );
    console.log(
      `  connect (handshake + auth)   ${fmt(figures.ssh_connect_ms)} ms; first tunnelled request ${fmt(figures.ssh_first_request_ms)} ms`,
    );
    console.log(
      `  direct loopback     ${fmt(figures.direct_tok_s, 0)} tok/s   TTFT p50 ${fmt(figures.direct_ttft_p50_ms)} ms`,
    );
    console.log(
      `  through SSH tunnel  ${fmt(figures.tunnel_tok_s, 0)} tok/s   TTFT p50 ${fmt(figures.tunnel_ttft_p50_ms)} ms`,
    );
    console.log(
      `  ratio tunnel/direct ${fmt(figures.ratio_tok_s, 3)}×   TTFT +${fmt(figures.ttft_added_ms)} ms`,
    );
    return figures;
  } finally {
    agent?.destroy();
    await connection?.dispose();
    await worker.stop();
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchSsh();
