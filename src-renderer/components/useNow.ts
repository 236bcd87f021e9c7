import { useEffect, useState } from 'react';

/** The current time, re-rendered every `intervalMs` while `active` (countdowns). */
export function useNow(intervalMs = 500, active = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return undefined;
    setNow(Date.now());
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs, active]);
  return now;
}
