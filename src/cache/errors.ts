export type CacheErrorCode = 'LOCKED' | 'NOT_FOUND' | 'INVALID' | 'CLOSED';

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
