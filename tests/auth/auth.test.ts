import { describe, expect, it } from 'vitest';
import { checkBindPolicy, isLoopbackHost } from '../../src-main/auth/bindPolicy.js';
import { checkAuthorization } from '../../src-main/auth/checkAuthorization.js';
import { tokenFingerprint } from '../../src-main/auth/tokenFingerprint.js';

describe('token fingerprints', () => {
  it('names "test" as token:9f86d0 (first 6 hex of SHA-256)', () => {
    expect(tokenFingerprint('test')).toBe('token:9f86d0');
  });
});

describe('checkAuthorization', () => {
  it('accepts exactly "Bearer <token>" and reports the fingerprint', () => {
    expect(checkAuthorization('Bearer test', 'test')).toEqual({ ok: true, fingerprint: 'token:9f86d0' });
  });
  it.each([
    [undefined, 'MISSING_API_KEY'],
    ['', 'INVALID_API_KEY'],
    ['Bearer', 'INVALID_API_KEY'],
    ['Bearer ', 'INVALID_API_KEY'],
    ['bearer test', 'INVALID_API_KEY'],
    ['Bearer  test', 'INVALID_API_KEY'],
    ['Bearer te\u0000st', 'INVALID_API_KEY'],
    ['Bearer test\u007f', 'INVALID_API_KEY'],
    [`Bearer ${'t'.repeat(8 * 1024)}`, 'INVALID_API_KEY'],
    [['Bearer test', 'Bearer test'], 'INVALID_API_KEY'],
  ])('%j → %s', (header, code) => {
    const outcome = checkAuthorization(header as string | string[] | undefined, 'test');
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.code).toBe(code);
  });
  it('a wrong token is named by its own fingerprint, never echoed', () => {
    const outcome = checkAuthorization('Bearer wrong', 'test');
    expect(outcome).toMatchObject({ ok: false, fingerprint: tokenFingerprint('wrong') });
    expect(JSON.stringify(outcome)).not.toContain('wrong"');
  });
});

describe('bind policy', () => {
  it('always allows loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) {
      expect(isLoopbackHost(host)).toBe(true);
      expect(checkBindPolicy(host, undefined)).toBeNull();
    }
  });
  it('needs a token of ≥ 16 characters anywhere else', () => {
    expect(checkBindPolicy('0.0.0.0', undefined)).toMatch(/without an API token/);
    expect(checkBindPolicy('0.0.0.0', 'short')).toMatch(/at least 16/);
    expect(checkBindPolicy('192.168.1.5', 'x'.repeat(16))).toBeNull();
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
  });
});
