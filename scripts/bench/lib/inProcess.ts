import type { ParsedInferenceRequest } from '../../../src-shared/worker/inferenceWire.js';
import type { ModelRuntime } from '../../../src-main/worker/ModelRuntime.js';

/** One generation in-process, timed like a streaming client would see it. */
export async function inProcessRun(runtime: ModelRuntime, request: ParsedInferenceRequest): Promise<{ ttftMs: number; streamMs: number; tokensOut: number }> {
  const slot = runtime.acquireSlot()!;
  const started = performance.now();
  let first = Number.NaN;
  let last = Number.NaN;
  const result = await runtime.generate(slot, await runtime.prepare(request), request, {
    signal: new AbortController().signal,
    onText: () => {
      last = performance.now() - started;
      if (Number.isNaN(first)) first = last;
    },
  });
  runtime.releaseSlot(slot);
  return { ttftMs: first, streamMs: last - first, tokensOut: result.tokensOut };
}

/** Tokens per second while streaming: the tokens after the first over the time between first and last. */
export function streamRate(run: { streamMs: number; tokensOut: number }): number {
  return (run.tokensOut - 1) / (run.streamMs / 1000);
}
