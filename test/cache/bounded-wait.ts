/** How a promise ended within a bounded wait, so a test asserts the outcome instead of timing out. */
export type Settled<T> =
  | { status: 'fulfilled'; value: T }
  | { status: 'rejected'; reason: unknown }
  | { status: 'pending' };

/**
 * Waits for `promise` at most `ms` milliseconds. The bound is generous on purpose: it only
 * turns "never happens" into a clear assertion failure; no test asserts how long anything took.
 */
export async function settleWithin<T>(promise: Promise<T>, ms = 5000): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'pending' }), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value): Settled<T> => ({ status: 'fulfilled', value }),
        (reason: unknown): Settled<T> => ({ status: 'rejected', reason }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
