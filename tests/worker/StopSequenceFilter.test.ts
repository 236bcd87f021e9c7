import { describe, expect, it } from 'vitest';
import { StopSequenceFilter } from '../../src-main/worker/StopSequenceFilter.js';

const run = (stops: string[], pieces: string[]) => {
  const f = new StopSequenceFilter(stops);
  let out = '';
  for (const p of pieces) {
    out += f.push(p);
    if (f.hasStopped) break;
  }
  return { out: out + f.flush(), stopped: f.hasStopped };
};

describe('StopSequenceFilter', () => {
  it('passes text through untouched without stops', () => {
    expect(run([], ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });
  it('stops at a sequence split across pieces and never emits any of it', () => {
    expect(run(['END'], ['hello E', 'N', 'D and more'])).toEqual({ out: 'hello ', stopped: true });
  });
  it('releases held text when it turns out not to be a stop', () => {
    expect(run(['END'], ['hello E', 'x'])).toEqual({ out: 'hello Ex', stopped: false });
  });
  it('picks the earliest of several stops', () => {
    expect(run(['b', 'cd'], ['acdb'])).toEqual({ out: 'a', stopped: true });
  });
});
