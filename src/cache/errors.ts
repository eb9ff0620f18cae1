/**
 * `NEEDS_RECOVERY`: the root's two stores disagree more than a crash explains, or a store file is
 * damaged; nothing was changed, and the message names the `recover` mode that gets out of it.
 */
export type CacheErrorCode = 'LOCKED' | 'NOT_FOUND' | 'INVALID' | 'CLOSED' | 'NEEDS_RECOVERY';

/** A cache manager failure; the message names the record (or option) and the reason. */
export class CacheError extends Error {
  override readonly name = 'CacheError';
  constructor(
    readonly code: CacheErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isCacheError(err: unknown, code?: CacheErrorCode): err is CacheError {
  return err instanceof CacheError && (code === undefined || err.code === code);
}
