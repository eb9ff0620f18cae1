import { status } from '@grpc/grpc-js';
import { SnapshotError, type SnapshotErrorCode } from '../errors.js';
import { isServiceError } from './rpc.js';

/**
 * containerd's errdefs travel as gRPC codes (errdefs.ToGRPC); these are the ones
 * with a SnapshotError counterpart. Anything else becomes UNKNOWN, naming the gRPC code.
 */
const CODE_MAP: Partial<Record<status, SnapshotErrorCode>> = {
  [status.NOT_FOUND]: 'NOT_FOUND',
  [status.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [status.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [status.UNAVAILABLE]: 'UNAVAILABLE',
  [status.DEADLINE_EXCEEDED]: 'DEADLINE_EXCEEDED',
};

/** The gRPC status name of a numeric code, e.g. 14 -> "UNAVAILABLE". */
export function grpcCodeName(code: number): string {
  return status[code] ?? String(code);
}

/** True when err is a gRPC failure with that code. */
export function hasGrpcCode(err: unknown, code: status): boolean {
  return isServiceError(err) && err.code === code;
}

/**
 * Turns a failed call into a SnapshotError for `op` on `key`. `context` is added to the
 * reason (e.g. the parent), because containerd's own messages do not always name it.
 * Errors that are not gRPC failures (an abort, a bug) are returned unchanged.
 */
export function toSnapshotError(err: unknown, op: string, key: string | undefined, context?: string): unknown {
  if (!isServiceError(err)) return err;
  const code = CODE_MAP[err.code as status] ?? 'UNKNOWN';
  const details = err.details || err.message;
  let reason = `containerd: ${details}`;
  if (code === 'UNAVAILABLE') reason = `containerd is unavailable: ${details}`;
  else if (code === 'DEADLINE_EXCEEDED') reason = `containerd did not answer in time: ${details}`;
  else if (code === 'UNKNOWN') reason = `containerd failed with ${grpcCodeName(err.code)}: ${details}`;
  if (context) reason += ` (${context})`;
  return new SnapshotError(code, op, key, reason, { cause: err });
}
