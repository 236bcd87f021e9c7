import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A server's TLS key and certificate (PEM) and the SHA-256 fingerprint clients pin. */
export interface TlsIdentity {
  key: string;
  cert: string;
  /** `AB:CD:…` (64 hex pairs), as `openssl x509 -fingerprint -sha256` and browsers print it. */
  fingerprint: string;
}

/**
 * The queen's self-signed TLS identity for LAN exposure, kept in `dir` (0700; key 0600): made once
 * with the `openssl` CLI (an EC P-256 key, 825 days, SAN localhost / 127.0.0.1 / this host's name),
 * then reused, so the fingerprint a LAN client pinned stays valid across restarts. Clients pin the
 * fingerprint rather than trust a CA: nothing else vouches for a home lab's address.
 */
export async function loadOrCreateTlsIdentity(dir: string): Promise<TlsIdentity> {
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const existing = await readPair(keyPath, certPath);
  if (existing) return existing;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const tmpKey = `${keyPath}.tmp`;
  const tmpCert = `${certPath}.tmp`;
  const name = hostname().replace(/[^A-Za-z0-9.-]/g, '') || 'rbee';
  try {
    // execFile: no shell, every value one argument.
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '825',
      '-subj', `/CN=rbee queen ${name}`,
      '-addext', `subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,DNS:${name}`,
      '-keyout', tmpKey, '-out', tmpCert,
    ]);
  } catch (error) {
    await rm(tmpKey, { force: true });
    await rm(tmpCert, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? 'TLS needs the openssl command to make the queen its certificate (apt-get install openssl), or none at all: leave TLS off' : `making the TLS certificate failed: ${(error as Error).message}`);
  }
  await chmod(tmpKey, 0o600);
  await rename(tmpKey, keyPath);
  await rename(tmpCert, certPath);
  const made = await readPair(keyPath, certPath);
  if (!made) throw new Error(`the TLS certificate in ${dir} could not be read back`);
  return made;
}

async function readPair(keyPath: string, certPath: string): Promise<TlsIdentity | null> {
  try {
    const [key, cert] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
    return { key, cert, fingerprint: new X509Certificate(cert).fingerprint256 };
  } catch {
    return null;
  }
}
