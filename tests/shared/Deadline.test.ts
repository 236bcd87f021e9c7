import { describe, expect, it } from 'vitest';
import { Deadline, DEFAULT_DEADLINE_MS } from '../../src-shared/deadline/Deadline.js';

const clock = (t: number) => () => t;

describe('Deadline', () => {
  it('defaults to now + 60 s when no header parses', () => {
    for (const headers of [{}, { 'x-deadline': 'soon' }, { 'x-deadline': '12abc' }, { 'x-deadline': '-5' }, { 'x-deadline': '1e12' }]) {
      expect(Deadline.fromHeaders(headers, { now: clock(1000) }).at).toBe(1000 + DEFAULT_DEADLINE_MS);
    }
  });
  it('reads an absolute X-Deadline', () => {
    expect(Deadline.fromHeaders({ 'x-deadline': '5000' }, { now: clock(1000) }).at).toBe(5000);
  });
  it('prefers X-Deadline-Remaining-Ms (immune to clock skew)', () => {
    const d = Deadline.fromHeaders({ 'x-deadline': '999999', 'x-deadline-remaining-ms': '250' }, { now: clock(1000) });
    expect(d.at).toBe(1250);
  });
  it('never lets a caller extend this hop’s own limit', () => {
    const d = Deadline.fromHeaders({ 'x-deadline-remaining-ms': '3600000' }, { now: clock(0), maxMs: 60_000 });
    expect(d.at).toBe(60_000);
  });
  it('is expired at and after its instant; remaining never negative', () => {
    let t = 0;
    const d = Deadline.at(100, () => t);
    expect(d.expired()).toBe(false);
    expect(d.remainingMs()).toBe(100);
    t = 100;
    expect(d.expired()).toBe(true);
    t = 500;
    expect(d.remainingMs()).toBe(0);
  });
  it('min() and forNextHop() only ever shorten', () => {
    const now = clock(0);
    const a = Deadline.at(1000, now);
    const b = Deadline.at(800, now);
    expect(a.min(b).at).toBe(800);
    expect(b.min(a).at).toBe(800);
    expect(a.forNextHop(20).at).toBe(980);
    expect(a.forNextHop(-50).at).toBe(1000);
    expect(a.forNextHop(20).toHeaders()).toEqual({ 'x-deadline': '980', 'x-deadline-remaining-ms': '980' });
  });
});
