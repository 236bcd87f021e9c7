import { describe, expect, it } from 'vitest';
import { intOption } from '../../src-main/cli/intOption.js';

describe('intOption', () => {
  it('passes absent options through and accepts integers in range', () => {
    expect(intOption('port', undefined, 0, 65535)).toBeUndefined();
    expect(intOption('port', '0', 0, 65535)).toBe(0);
    expect(intOption('port', '65535', 0, 65535)).toBe(65535);
  });
  it.each(['', ' ', '1.5', '-1', '65536', 'abc', '1e3x'])('refuses %j, naming the flag', (raw) => {
    expect(() => intOption('port', raw, 0, 65535)).toThrow(/--port must be an integer between 0 and 65535/);
  });
});
