import type { Scheduler } from 'fast-check';
import type { Snapshotter } from '../snapshot/types.js';

/** The snapshot I/O whose completions a scheduler orders: what the record machine waits on. */
const SCHEDULED = ['prepare', 'commit', 'remove'] as const;

/**
 * Wraps `inner` so each prepare, commit and remove does its real work, then completes only when
 * fast-check's scheduler lets it: completions of concurrent I/O arrive in the order the scheduler
 * picks, and a failing order shrinks like any other counterexample. Something must drive the
 * scheduler (`s.waitOne()` while `s.count() > 0`); `cacheCommands` does while a command runs.
 */
export function scheduledSnapshotter(inner: Snapshotter, s: Scheduler): Snapshotter {
  const wrapped = { ...bindAll(inner) };
  for (const method of SCHEDULED) {
    const real = wrapped[method] as (...args: unknown[]) => Promise<unknown>;
    (wrapped as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const settled = await real(...args).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      await s.schedule(Promise.resolve(), `${method} ${String(args[0])}`);
      if (!settled.ok) throw settled.error;
      return settled.value;
    };
  }
  return wrapped;
}

function bindAll(inner: Snapshotter): Snapshotter {
  return {
    stat: (...a) => inner.stat(...a),
    update: (...a) => inner.update(...a),
    usage: (...a) => inner.usage(...a),
    mounts: (...a) => inner.mounts(...a),
    prepare: (...a) => inner.prepare(...a),
    view: (...a) => inner.view(...a),
    commit: (...a) => inner.commit(...a),
    remove: (...a) => inner.remove(...a),
    walk: (...a) => inner.walk(...a),
    close: () => inner.close(),
    ...(inner.cleanup ? { cleanup: () => inner.cleanup!() } : {}),
  };
}
