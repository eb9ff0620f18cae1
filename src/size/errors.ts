/** Why a sizing request was refused or could not run. */
export type SizeErrorCode =
  | 'INVALID_PATH'
  | 'INVALID_KEY'
  | 'INVALID_OPTION'
  | 'POOL_CLOSED'
  | 'WORKER_FAILED'
  | 'ITEM_FAILED';

/** Bad input or a broken pool; the message names the offending thing and the reason. */
export class SizeError extends Error {
  override readonly name = 'SizeError';
  constructor(
    readonly code: SizeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** In strict batch sizing, the failure of one item; `cause` is the underlying error. */
export class SizeItemError extends SizeError {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super(
      'ITEM_FAILED',
      `sizing item ${JSON.stringify(key)} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
  }
}

export function isSizeError(value: unknown): value is SizeError {
  return value instanceof SizeError;
}

/**
 * A filesystem call failed during a walk. Carries the errno code (ENOENT, EACCES, ...)
 * like Node's own fs errors so callers can branch on `code` the same way.
 */
export class SizeWalkError extends Error {
  override readonly name = 'SizeWalkError';
  constructor(
    readonly code: string,
    readonly syscall: string | undefined,
    readonly path: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export function isSizeWalkError(value: unknown): value is SizeWalkError {
  return value instanceof SizeWalkError;
}

/** Plain-data form of a walk failure, safe to post between threads. */
export interface WalkFailure {
  code: string;
  syscall?: string;
  path?: string;
  message: string;
}

export function toWalkFailure(error: unknown): WalkFailure {
  if (error instanceof Error) {
    const e = error as NodeJS.ErrnoException;
    return {
      code: typeof e.code === 'string' ? e.code : 'EUNKNOWN',
      ...(e.syscall !== undefined ? { syscall: e.syscall } : {}),
      ...(e.path !== undefined ? { path: e.path } : {}),
      message: e.message,
    };
  }
  return { code: 'EUNKNOWN', message: String(error) };
}

export function fromWalkFailure(failure: WalkFailure, root: string): SizeWalkError {
  return new SizeWalkError(
    failure.code,
    failure.syscall,
    failure.path,
    `sizing ${JSON.stringify(root)} failed: ${failure.message}`,
  );
}
