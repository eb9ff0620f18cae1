import type { Clock } from '../cache/open.js';

/** A clock that moves only when told to, for the manager's `clock` option. */
export interface ManualClock extends Clock {
  now(): number;
  /** Moves the clock forward by `ms` (never back) and returns the new time. */
  advance(ms: number): number;
  /** Sets the clock to `ms` since the epoch; going back is allowed, as a wall clock may. */
  set(ms: number): number;
}

function checkMs(ms: number, what: string): void {
  if (!Number.isFinite(ms)) throw new RangeError(`manualClock: ${what} ${String(ms)} is not a finite number`);
}

/**
 * A manual clock, starting at `start` ms since the epoch (default: 2024-01-01T00:00:00Z, so
 * timestamps in a test do not depend on when it ran). Prune's keepDuration and GC pacing read it.
 */
export function manualClock(start = Date.UTC(2024, 0, 1)): ManualClock {
  checkMs(start, 'start');
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      checkMs(ms, 'advance');
      if (ms < 0) throw new RangeError(`manualClock: advance ${ms} is negative; use set() to go back`);
      now += ms;
      return now;
    },
    set(ms) {
      checkMs(ms, 'set');
      now = ms;
      return now;
    },
  };
}
