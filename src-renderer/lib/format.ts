/** Countdown text for a remaining duration: `12s`, `1m 05s`, `2h 03m`; never negative. */
export function formatCountdown(remainingMs: number): string {
  const total = Math.max(0, Math.ceil(remainingMs / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Bytes as `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 10 ? 0 : 1)} ${units[unit]}`;
}

/** How long ago an epoch-ms instant was, coarse: `just now`, `12s ago`, `3m ago`. */
export function formatAgo(at: number | null | undefined, now: number): string {
  if (at === null || at === undefined) return 'never';
  const secs = Math.round((now - at) / 1000);
  if (secs < 2) return 'just now';
  if (secs < 60) return `${secs}s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ago`;
  return `${Math.floor(secs / 3600)}h ago`;
}

/** Tokens per second from a token count and milliseconds; null when not measurable. */
export function tokensPerSecond(tokens: number, ms: number): number | null {
  if (tokens <= 0 || ms <= 0) return null;
  return (tokens * 1000) / ms;
}

export function formatRate(rate: number | null): string {
  if (rate === null) return '—';
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}
