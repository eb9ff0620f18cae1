/**
 * A prune/GC policy (or one of its filters) was rejected. `issues` lists every problem found, each naming the
 * field and the reason, so a caller can fix all of them in one go.
 */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(
    /** What was being validated, e.g. "prune policy" or "prune filter \"type=x\"". */
    readonly subject: string,
    readonly issues: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`invalid ${subject}: ${issues.join('; ')}`, options);
  }
}

export function isPolicyError(err: unknown): err is PolicyError {
  return err instanceof PolicyError;
}

/** The prune planner was driven out of order (e.g. `next()` while a decision is unreported); its state is unchanged. */
export class PlannerStateError extends Error {
  override readonly name = 'PlannerStateError';
  constructor(
    readonly op: 'next' | 'nextBatch' | 'removed' | 'skipped',
    readonly id: string | undefined,
    reason: string,
  ) {
    super(`PrunePlanner.${op}${id === undefined ? '' : ` ${JSON.stringify(id)}`}: ${reason}`);
  }
}
