/**
 * Shared memory between the thread that owns a walk and the worker running it.
 * postMessage cannot interrupt a synchronous walk, so the abort request travels
 * through this block and the worker polls it before every filesystem call. The
 * same block carries counters that let tests and benchmarks prove the worker
 * made no filesystem call after it saw the abort.
 */

// Int32 slots (first 16 bytes).
const ABORT = 0;
const RECORD_TIMES = 1;
// Float64 slots (from byte 16); doubles keep counts exact far beyond 2^31.
const FS_CALLS = 0;
const LAST_FS_CALL_AT = 1;
const ABORT_SEEN_AT = 2;
const ABORT_REQUESTED_AT = 3;
const BYTES_SO_FAR = 4;
const INODES_SO_FAR = 5;

const INT_BYTES = 16;
const FLOAT_SLOTS = 6;
export const CONTROL_BLOCK_BYTES = INT_BYTES + FLOAT_SLOTS * 8;

/** Wall-clock milliseconds comparable across threads (each thread has its own performance.now origin). */
export function sharedClock(): number {
  return performance.timeOrigin + performance.now();
}

/** One walk's view of its control block; constructed on both sides of the thread boundary. */
export class ControlBlock {
  readonly buffer: SharedArrayBuffer;
  private readonly ints: Int32Array;
  private readonly floats: Float64Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(CONTROL_BLOCK_BYTES)) {
    this.buffer = buffer;
    this.ints = new Int32Array(buffer, 0, INT_BYTES / 4);
    this.floats = new Float64Array(buffer, INT_BYTES, FLOAT_SLOTS);
  }

  requestAbort(): void {
    if (Atomics.load(this.ints, ABORT) === 1) return;
    this.floats[ABORT_REQUESTED_AT] = sharedClock();
    Atomics.store(this.ints, ABORT, 1);
  }

  get abortRequested(): boolean {
    return Atomics.load(this.ints, ABORT) === 1;
  }

  set recordTimes(on: boolean) {
    Atomics.store(this.ints, RECORD_TIMES, on ? 1 : 0);
  }

  get recordTimes(): boolean {
    return Atomics.load(this.ints, RECORD_TIMES) === 1;
  }

  /**
   * Called by the walker immediately before each filesystem call. Returns false,
   * and records when, if the walk must stop instead of making the call.
   */
  beforeFsCall(recordTimes: boolean): boolean {
    if (Atomics.load(this.ints, ABORT) === 1) {
      if (this.floats[ABORT_SEEN_AT] === 0) this.floats[ABORT_SEEN_AT] = sharedClock();
      return false;
    }
    this.floats[FS_CALLS]! += 1;
    if (recordTimes) this.floats[LAST_FS_CALL_AT] = sharedClock();
    return true;
  }

  reportProgress(bytes: number, inodes: number): void {
    this.floats[BYTES_SO_FAR] = bytes;
    this.floats[INODES_SO_FAR] = inodes;
  }

  get fsCalls(): number {
    return this.floats[FS_CALLS]!;
  }
  /** Shared-clock time the last filesystem call started; 0 unless timestamps are recorded. */
  get lastFsCallAt(): number {
    return this.floats[LAST_FS_CALL_AT]!;
  }
  /** Shared-clock time the worker noticed the abort; 0 if it never did. */
  get abortSeenAt(): number {
    return this.floats[ABORT_SEEN_AT]!;
  }
  /** Shared-clock time the owner asked the walk to stop; 0 if it never did. */
  get abortRequestedAt(): number {
    return this.floats[ABORT_REQUESTED_AT]!;
  }
  get bytesSoFar(): number {
    return this.floats[BYTES_SO_FAR]!;
  }
  get inodesSoFar(): number {
    return this.floats[INODES_SO_FAR]!;
  }
}

/** Read-only instrumentation of one walk, handed to the pool by a caller that wants to watch it. */
export interface WalkProbeSnapshot {
  fsCalls: number;
  lastFsCallAt: number;
  abortRequestedAt: number;
  abortSeenAt: number;
  bytesSoFar: number;
  inodesSoFar: number;
}

/**
 * Debug hook: pass one to a walk to observe its filesystem calls live. With
 * `timestamps: true` the worker stamps every call (a little slower).
 */
export class WalkProbe {
  readonly control: ControlBlock;
  constructor(options: { timestamps?: boolean } = {}) {
    this.control = new ControlBlock();
    this.control.recordTimes = options.timestamps ?? false;
  }
  snapshot(): WalkProbeSnapshot {
    const c = this.control;
    return {
      fsCalls: c.fsCalls,
      lastFsCallAt: c.lastFsCallAt,
      abortRequestedAt: c.abortRequestedAt,
      abortSeenAt: c.abortSeenAt,
      bytesSoFar: c.bytesSoFar,
      inodesSoFar: c.inodesSoFar,
    };
  }
}
