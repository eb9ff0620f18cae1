export type SnapshotErrorCode = 'NOT_FOUND' | 'ALREADY_EXISTS' | 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT' | 'CLOSED';

/** A snapshotter failure with containerd's error kind; the message names the operation and key. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
  constructor(
    readonly code: SnapshotErrorCode,
    readonly op: string,
    readonly key: string | undefined,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${op}${key === undefined ? '' : ` ${JSON.stringify(key)}`}: ${reason}`, options);
  }
}

export function isSnapshotError(err: unknown, code?: SnapshotErrorCode): err is SnapshotError {
  return err instanceof SnapshotError && (code === undefined || err.code === code);
}
