import type { Usage } from '../snapshot/types.js';
import type { WalkResult } from './walk-protocol.js';
import type { WalkOptions } from './walk-sync.js';

/** Runs one walk request on some worker of the pool; rejects on failure or abort like a job does. */
export type PieceWalk = (paths: string[], options: WalkOptions, signal: AbortSignal) => Promise<WalkResult>;

/**
 * Splits one tree across the pool, for a single big tree that would otherwise keep one worker busy
 * while the others idle. A head job counts the root and its direct entries and lists the root's
 * subdirectories; they are dealt round-robin into `pieces` jobs (several per worker, so a worker
 * that drew small directories takes the next piece instead of waiting), each summing its
 * directories together.
 *
 * du counts a hardlinked inode once however many names it has; a walk already does that inside
 * itself, and across walks every job returns the nlink > 1 inodes it counted, so the merge takes
 * each extra sighting back out. Files with nlink 1, the vast majority, never leave their worker.
 *
 * The first failure aborts the remaining pieces; the caller's abort reaches every piece.
 */
export async function fanOutUsage(
  walk: PieceWalk,
  root: string,
  pieces: number,
  signal: AbortSignal | undefined,
): Promise<Usage> {
  // An already-aborted signal never fires 'abort' again, so it must be checked before listening.
  if (signal?.aborted) throw signal.reason;
  const inner = new AbortController();
  const stop = (): void => inner.abort(signal?.reason);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    const head = await walk([root], { deferSubdirs: true, collectLinks: true }, inner.signal);
    const dirs = head.subdirs ?? [];
    if (dirs.length === 0) return head.usage;
    const groups: string[][] = Array.from({ length: Math.min(pieces, dirs.length) }, () => []);
    for (const [i, dir] of dirs.entries()) groups[i % groups.length]!.push(dir);
    const parts = groups.map((group) =>
      walk(group, { collectLinks: true, missingRootIsEmpty: true }, inner.signal).catch((error: unknown) => {
        inner.abort(error);
        throw error;
      }),
    );
    // allSettled first: every piece has stopped (or finished) before the caller hears the outcome.
    const settled = await Promise.allSettled(parts);
    if (signal?.aborted) throw signal.reason;
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return mergeUsage([head, ...settled.map((s) => (s as PromiseFulfilledResult<WalkResult>).value)]);
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}

/** Sums walks of disjoint subtrees, counting a hardlinked inode met by several of them once. */
export function mergeUsage(results: readonly WalkResult[]): Usage {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  for (const { usage, links = [] } of results) {
    size += usage.size;
    inodes += usage.inodes;
    for (const [id, blocks] of links) {
      if (!seen.has(id)) seen.add(id);
      else {
        size -= blocks * 512;
        inodes -= 1;
      }
    }
  }
  return { size, inodes };
}
