/**
 * The part of `AbortSignal` that shared code relies on. src-shared compiles without DOM or Node
 * types, so it names the shape; both runtimes' AbortSignal satisfy it.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}
