/** Pure parts of the SSH layer: known_hosts matching, ssh_config lookup, preflight parsing, platform packages. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  dependencyClosure,
  hiveRuntimePackages,
  nodeLlamaPlatformPackages,
} from '../../src-main/remote-hive/deploy/dependencyClosure.js';
import {
  KnownHostsStore,
  hashHostName,
  hostFieldMatches,
  parseKnownHosts,
  sshFingerprint,
  sshKeyType,
} from '../../src-main/ssh/knownHosts.js';
import { parsePreflight } from '../../src-main/remote-hive/preflight.js';
import { shCommand, shQuote } from '../../src-main/ssh/shellQuote.js';
import { lookupSshConfigText } from '../../src-main/ssh/sshConfig.js';
import { validateHost, validateRemotePath, validateUser } from '../../src-main/ssh/SshTarget.js';

function keyPair(dir: string, name: string): { blob: Buffer; line: string; fingerprint: string } {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
  const line = readFileSync(`${path}.pub`, 'utf8').trim();
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${path}.pub`], { encoding: 'utf8' }).split(
    /\s+/,
  )[1]!;
  return { blob: Buffer.from(line.split(/\s+/)[1]!, 'base64'), line, fingerprint };
}

describe('known_hosts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rbee-kh-unit-'));
  const a = keyPair(dir, 'a');
  const b = keyPair(dir, 'b');
  const [type, keyA] = a.line.split(/\s+/);
  const keyB = b.line.split(/\s+/)[1];

  it('fingerprints exactly as ssh-keygen -l prints them', () => {
    expect(sshFingerprint(a.blob)).toBe(a.fingerprint);
    expect(sshKeyType(a.blob)).toBe('ssh-ed25519');
  });

  it('matches plain, bracketed-port, wildcard, negated and hashed host fields', () => {
    expect(hostFieldMatches('lab,10.0.0.5', 'lab', 22)).toBe(true);
    expect(hostFieldMatches('lab', 'lab', 2222)).toBe(false);
    expect(hostFieldMatches('[lab]:2222', 'lab', 2222)).toBe(true);
    expect(hostFieldMatches('*.example.com,!bad.example.com', 'gpu1.example.com', 22)).toBe(true);
    expect(hostFieldMatches('*.example.com,!bad.example.com', 'bad.example.com', 22)).toBe(false);
    expect(hostFieldMatches('gpu?', 'gpu7', 22)).toBe(true);
    expect(hostFieldMatches(hashHostName('lab', 2222), 'lab', 2222)).toBe(true);
    expect(hostFieldMatches(hashHostName('lab', 2222), 'lab', 22)).toBe(false);
    // A hashed name written by ssh-keygen -H itself.
    const file = join(dir, 'hashed');
    execFileSync('sh', [
      '-c',
      `printf '%s\\n' '[lab]:2222 ${type} ${keyA}' > ${file} && ssh-keygen -q -H -f ${file}`,
    ]);
    const hashed = parseKnownHosts(readFileSync(file, 'utf8'), file)[0]!;
    expect(hashed.hostField.startsWith('|1|')).toBe(true);
    expect(hostFieldMatches(hashed.hostField, 'lab', 2222)).toBe(true);
  });

  it('verdicts: trusted, unknown, changed (same type), revoked; cert-authority lines ignored', () => {
    const file = join(dir, 'kh');
    execFileSync('sh', [
      '-c',
      `printf '%s\\n' '# c' 'lab ${type} ${keyA}' '@cert-authority * ${type} ${keyB}' '@revoked other ${type} ${keyB}' 'other ${type} ${keyA}' > ${file}`,
    ]);
    const store = new KnownHostsStore({ userFiles: [file], appFile: join(dir, 'app') });
    expect(store.check('lab', 22, a.blob).status).toBe('trusted');
    expect(store.check('lab', 22, b.blob)).toMatchObject({ status: 'changed', expected: [a.fingerprint] });
    expect(store.check('new', 22, b.blob).status).toBe('unknown');
    expect(store.check('other', 22, b.blob).status).toBe('revoked');
    store.trust('new', 2200, b.blob);
    expect(store.check('new', 2200, b.blob).status).toBe('trusted');
    expect(readFileSync(join(dir, 'app'), 'utf8')).toBe(`[new]:2200 ${type} ${keyB}\n`);
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});

describe('ssh_config', () => {
  const config = [
    'User everyone',
    'Host lab gpu-*',
    '  HostName 10.1.2.3',
    '  Port=2200',
    '  IdentityFile ~/.ssh/lab',
    'Host gpu-* !gpu-bad',
    '  User gpu',
    '  IdentityFile "~/.ssh/gpu key"',
    'Match host lab',
    '  User ignored',
    'Host *',
    '  Port 22',
    '  User fallback',
  ].join('\n');

  it('first value wins, IdentityFile accumulates, negation and Match are honoured', () => {
    expect(lookupSshConfigText('lab', config)).toEqual({
      hostName: '10.1.2.3',
      port: 2200,
      user: 'everyone',
      identityFiles: ['~/.ssh/lab'],
    });
    expect(lookupSshConfigText('gpu-1', config)).toEqual({
      hostName: '10.1.2.3',
      port: 2200,
      user: 'everyone',
      identityFiles: ['~/.ssh/lab', '~/.ssh/gpu key'],
    });
    expect(lookupSshConfigText('elsewhere', config)).toEqual({
      port: 22,
      user: 'everyone',
      identityFiles: [],
    });
    expect(lookupSshConfigText('x', 'Host lab\n  Port 1')).toBeNull();
  });
});

describe('validation and quoting', () => {
  it('accepts real names and addresses, rejects everything a shell would interpret', () => {
    expect(validateHost('gpu-1.lab.example')).toBe('gpu-1.lab.example');
    expect(validateHost('[fe80::1]')).toBe('fe80::1');
    expect(validateUser('_svc.rbee-1')).toBe('_svc.rbee-1');
    for (const bad of ['-p', 'a b', 'a;b', 'a$b', 'a`b', 'a|b', 'a\nb', '', 'a/b', "a'b"])
      expect(() => validateHost(bad), bad).toThrow();
    for (const bad of ['-x', 'a b', 'a;b', '$(x)', '1abc', ''])
      expect(() => validateUser(bad), bad).toThrow();
    for (const bad of ['', '-rf', 'a\nb', 'a\0b'])
      expect(() => validateRemotePath(bad), JSON.stringify(bad)).toThrow();
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    expect(shCommand(['a b', '$x'])).toBe(`'a b' '$x'`);
  });
});

describe('preflight parsing', () => {
  it('reads GPUs, disk and Node; flags missing Node, low disk and unsupported OS', () => {
    const out = [
      'home=/home/u',
      'data_dir=/home/u/.local/share/rbee',
      'os=Linux',
      'arch=x86_64',
      'node_path=/usr/bin/node',
      'node_version=v18.19.0',
      'df=/dev/sda1 1000 900 512 64% /',
      'gpu=NVIDIA GeForce RTX 4090, 24564',
      'gpu=NVIDIA A100, 81920',
      'installed=0.1.0',
    ].join('\n');
    const r = parsePreflight(out, { version: '0.1.0' });
    expect(r).toMatchObject({
      os: 'Linux',
      arch: 'x86_64',
      node_version: 'v18.19.0',
      node_ok: false,
      free_disk_bytes: 512 * 1024,
      installed_version: '0.1.0',
    });
    expect(r.gpus).toEqual([
      { name: 'NVIDIA GeForce RTX 4090', memory_total_mb: 24564 },
      { name: 'NVIDIA A100', memory_total_mb: 81920 },
    ]);
    expect(r.problems.join('\n')).toMatch(/v18.19.0 on the remote is too old/);
    expect(r.problems.join('\n')).toMatch(/MiB free/);
    expect(parsePreflight('os=FreeBSD\narch=amd64\n').problems.join('\n')).toMatch(
      /not installed[\s\S]*FreeBSD is not supported/,
    );
  });

  it('picks node-llama-cpp prebuilt packages for the remote platform and GPUs', () => {
    expect(nodeLlamaPlatformPackages({ os: 'Linux', arch: 'x86_64', gpus: [] }, '3.21.1')).toEqual([
      '@node-llama-cpp/linux-x64@3.21.1',
    ]);
    expect(nodeLlamaPlatformPackages({ os: 'Linux', arch: 'x86_64', gpus: [{}] })).toEqual([
      '@node-llama-cpp/linux-x64',
      '@node-llama-cpp/linux-x64-cuda',
    ]);
    expect(nodeLlamaPlatformPackages({ os: 'Linux', arch: 'aarch64', gpus: [] })).toEqual([
      '@node-llama-cpp/linux-arm64',
    ]);
    expect(nodeLlamaPlatformPackages({ os: 'Darwin', arch: 'arm64', gpus: [] })).toEqual([
      '@node-llama-cpp/mac-arm64-metal',
    ]);
    expect(nodeLlamaPlatformPackages({ os: 'SunOS', arch: 'sparc', gpus: [] })).toEqual([]);
  });

  it('the hive runtime closure comes from this machine’s node_modules, without UI packages or foreign platform binaries', () => {
    const names = hiveRuntimePackages();
    // Exactly what the built bundle imports: no loader (the remote runs out/main/cli.js), no UI packages.
    expect(names).toEqual(expect.arrayContaining(['node-llama-cpp', 'fastify', 'zod', 'pino']));
    expect(names).not.toContain('tsx');
    expect(names).not.toContain('react');
    expect(names).not.toContain('electron');
    const closure = dependencyClosure(process.cwd(), ['node-llama-cpp', '@node-llama-cpp/linux-x64']);
    const dirs = closure.map((p) => p.dir);
    expect(dirs).toContain('node-llama-cpp');
    expect(dirs).toContain('@node-llama-cpp/linux-x64');
    expect(dirs).not.toContain('@node-llama-cpp/linux-x64-cuda-ext');
    expect(() => dependencyClosure(process.cwd(), ['not-a-package-xyz'])).toThrow(/not installed/);
  });
});
