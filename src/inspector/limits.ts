/**
 * What one inspector server may hold at once. Every client costs a socket, and an event stream also
 * costs buffered bytes and timers; without bounds a single page (or a script on any page the user has
 * open) can hold thousands of sockets or gigabytes of unsent snapshot.
 */
export interface InspectorLimits {
  /** Open TCP connections; more are closed as soon as they are accepted. */
  maxConnections: number;
  /** Time a client has to send its request headers; a half-sent request is answered 408 and closed. */
  headersTimeoutMs: number;
  /** Time a client has to send its whole request, body included; at least headersTimeoutMs. */
  requestTimeoutMs: number;
  /** Open event streams (`/api/stream`); more are answered 503. */
  maxStreams: number;
  /** Bytes of JSON per event-stream message: snapshots and updates are cut into messages of about this size. */
  chunkBytes: number;
  /** Unsent bytes an event stream may have queued (`writableLength`); past it the client is dropped. */
  maxUnsentBytes: number;
  /** Time a client may take to drain its socket once it is full; a client that stops reading is dropped. */
  stallMs: number;
}

export const DEFAULT_INSPECTOR_LIMITS: Readonly<InspectorLimits> = {
  maxConnections: 128,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxStreams: 32,
  chunkBytes: 64 * 1024,
  maxUnsentBytes: 8 * 1024 * 1024,
  stallMs: 30_000,
};

/** A limit that cannot be used: its name, the value given and why. */
export interface BadLimit {
  bad: string;
  value: unknown;
  reason: string;
}

/** The limits with defaults filled in, or the first one that is unknown or not a positive integer. */
export function resolveLimits(given: Partial<InspectorLimits> = {}): { limits: InspectorLimits } | BadLimit {
  const limits = { ...DEFAULT_INSPECTOR_LIMITS };
  for (const key of Object.keys(given))
    if (!(key in limits)) return { bad: key, value: given[key as keyof InspectorLimits], reason: 'is not a limit' };
  for (const key of Object.keys(DEFAULT_INSPECTOR_LIMITS) as (keyof InspectorLimits)[]) {
    const value = given[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) return { bad: key, value, reason: 'must be a positive integer' };
    limits[key] = value;
  }
  if (limits.requestTimeoutMs < limits.headersTimeoutMs)
    return { bad: 'requestTimeoutMs', value: limits.requestTimeoutMs, reason: 'must be at least headersTimeoutMs' };
  return { limits };
}
