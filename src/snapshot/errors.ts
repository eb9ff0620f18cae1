/**
 * containerd's error kinds, plus CLOSED for a closed snapshotter. The last three come from a remote
 * snapshotter: UNAVAILABLE (the daemon cannot be reached; retrying later may work), DEADLINE_EXCEEDED
 * (no answer before the call's deadline; the operation may or may not have happened) and UNKNOWN
 * (any other failure the daemon reported).
 */
export type SnapshotErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'INVALID_ARGUMENT'
  | 'CLOSED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'UNKNOWN';

/** Codes after which the same call may succeed once the daemon is back. */
export const TRANSIENT_SNAPSHOT_ERROR_CODES: readonly SnapshotErrorCode[] = ['UNAVAILABLE', 'DEADLINE_EXCEEDED'];

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

/** True for a failure to reach a remote snapshotter in time (UNAVAILABLE or DEADLINE_EXCEEDED). */
export function isSnapshotUnavailable(err: unknown): err is SnapshotError {
  return err instanceof SnapshotError && TRANSIENT_SNAPSHOT_ERROR_CODES.includes(err.code);
}
