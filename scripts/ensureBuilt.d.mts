/** Why out/ must be rebuilt, or null when it is current (or there are no sources). */
export function staleReason(): string | null;
/** Builds out/ when stale; false when the build failed. */
export function ensureBuilt(options?: { log?: (line: string) => void }): boolean;
