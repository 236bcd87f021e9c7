/**
 * Calls `onOrphaned` once when this process's parent goes away, so no child outlives its supervisor:
 * the IPC channel's `disconnect` (instant, when forked) and, as a fallback for spawned children,
 * a change of `process.ppid` (the orphan is re-parented). Returns a function that stops watching.
 */
export function watchParent(onOrphaned: () => void, pollMs = 500): () => void {
  const initialParent = process.ppid;
  let fired = false;
  const fire = (): void => {
    if (fired) return;
    fired = true;
    stop();
    onOrphaned();
  };
  const timer = setInterval(() => {
    if (process.ppid !== initialParent) fire();
  }, pollMs);
  timer.unref();
  const hasIpc = typeof process.send === 'function';
  if (hasIpc) process.once('disconnect', fire);
  function stop(): void {
    clearInterval(timer);
    if (hasIpc) process.off('disconnect', fire);
  }
  return stop;
}
