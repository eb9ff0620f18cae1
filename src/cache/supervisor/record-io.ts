import { fromPromise, waitFor } from 'xstate';
import { isSnapshotError } from '../../snapshot/errors.js';
import type { Snapshotter } from '../../snapshot/types.js';
import { CacheError } from '../errors.js';
import { activeKey, committedKey } from '../keys.js';
import type { RecordIndex } from '../records/record-index.js';
import { kindOf } from '../snapshot-state.js';

const RECORD_LABEL = 'cachekit.record';

/**
 * The snapshot I/O each record actor invokes. A result goes back to the actor
 * as its done or error event; the machine keeps a failure in its context,
 * where the operation waiting on the record reads it.
 *
 * A call that failed may still have taken effect (a fault after the work, a
 * remote snapshotter's deadline): before reporting a failure, commit and remove
 * ask the snapshotter what is there, so the machine settles in the state that
 * matches the disk and the caller hears of an error only if nothing happened.
 */
export function recordIo(snapshotter: Snapshotter, indexOf: () => RecordIndex) {
  return {
    prepareSnapshot: fromPromise<void, { id: string }>(async ({ input }) => {
      const index = indexOf();
      const meta = index.meta(input.id);
      const parent = meta?.parent;
      if (parent !== undefined) await committedParent(index, parent);
      const key = activeKey(input.id);
      const labels = { [RECORD_LABEL]: input.id };
      try {
        await snapshotter.prepare(key, parent === undefined ? undefined : committedKey(parent), { labels });
      } catch (err) {
        // A prepare that failed after making its snapshot must not leave an orphan behind;
        // a key that already existed is someone else's and stays.
        if (!isSnapshotError(err, 'ALREADY_EXISTS')) await snapshotter.remove(key).catch(() => {});
        throw err;
      }
    }),
    finalizeSnapshot: fromPromise<void, { id: string }>(async ({ input }) => {
      const labels = { [RECORD_LABEL]: input.id };
      const name = committedKey(input.id);
      try {
        await snapshotter.commit(name, activeKey(input.id), { labels });
      } catch (err) {
        // Committed after all (or by an earlier attempt that reported failure): the content is there.
        if ((await kindOf(snapshotter, name)) !== 'committed') throw err;
      }
    }),
    removeSnapshot: fromPromise<void, { id: string }>(async ({ input }) => {
      // The `removing` mark is durable before the snapshot goes, so start-up can finish a crash.
      await indexOf().markRemoving(input.id);
      for (const key of [activeKey(input.id), committedKey(input.id)]) {
        try {
          await snapshotter.remove(key);
        } catch (err) {
          // Gone is what was asked for, whatever the call said; otherwise the record stays (removalFailed).
          if (!isSnapshotError(err, 'NOT_FOUND') && (await kindOf(snapshotter, key)) !== 'gone') throw err;
        }
      }
    }),
  };
}

/** Waits for a parent being finalized to reach committed content. */
async function committedParent(index: RecordIndex, parentId: string): Promise<void> {
  const parent = index.liveRecord(parentId);
  if (!parent) return;
  const settled = await waitFor(parent.actor, (s) => !s.hasTag('busy'), { timeout: Infinity });
  if (settled.hasTag('committedContent')) return;
  throw new CacheError('INVALID', `parent ${parentId} could not be committed`, {
    cause: settled.context.ioError?.error,
  });
}
