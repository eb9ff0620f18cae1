import type { RecordState } from '../../machines/record.machine.js';
import { isSnapshotError } from '../snapshot/errors.js';
import type { SnapshotKind, Snapshotter, Usage } from '../snapshot/types.js';
import { contentKeys } from './keys.js';

/** What a snapshot key holds now, as the snapshotter answers `stat`. */
export type KeyState = SnapshotKind | 'gone' | 'unknown';

/**
 * What the snapshotter holds under `key` now: its kind, `gone` when it says NOT_FOUND, or `unknown`
 * when it cannot tell. Asked after a call failed, since a failed call may still have taken effect;
 * with `unknown` the failure that made us ask is the one to report.
 */
export async function kindOf(snapshotter: Snapshotter, key: string): Promise<KeyState> {
  try {
    return (await snapshotter.stat(key)).kind;
  } catch (err) {
    return isSnapshotError(err, 'NOT_FOUND') ? 'gone' : 'unknown';
  }
}

/** The usage the snapshotter recorded for a record's committed content, if it keeps one; no I/O. */
export function recordedContentUsage(snapshotter: Snapshotter, id: string, state: RecordState): Usage | undefined {
  if (!snapshotter.recordedUsage) return undefined;
  for (const key of contentKeys(id, state)) {
    const usage = snapshotter.recordedUsage(key);
    if (usage) return usage;
  }
  return undefined;
}

/** The usage of a record's content, from the first key that may hold it and exists; errors are the snapshotter's. */
export async function measureContent(
  snapshotter: Snapshotter,
  id: string,
  state: RecordState,
  signal: AbortSignal,
): Promise<Usage> {
  const keys = contentKeys(id, state);
  for (let i = 0; ; i++) {
    try {
      return await snapshotter.usage(keys[i]!, { signal });
    } catch (err) {
      if (i === keys.length - 1 || !isSnapshotError(err, 'NOT_FOUND')) throw err;
    }
  }
}
