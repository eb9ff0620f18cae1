import { resolve } from 'node:path';
import type { Usage } from '../snapshot/types.js';
import { defaultSizePool, type SizeWorkerPool } from './pool.js';

export interface TreeUsageOptions {
  signal?: AbortSignal;
  /** Pool to walk in; defaults to the shared process-wide pool. */
  pool?: SizeWorkerPool;
  /** Split a big tree across idle workers (see SizeJobOptions.fanOut). Default true. */
  fanOut?: boolean;
}

/**
 * Sums a tree the way `du -s -B1` and `du -s --inodes` do: allocated bytes
 * (st_blocks × 512) and distinct inodes, counting each hardlinked inode once.
 * Symlinks are not followed. The walk runs on a worker thread; a relative
 * root is resolved against the current directory.
 */
export function treeUsage(root: string, options: TreeUsageOptions = {}): Promise<Usage> {
  const pool = options.pool ?? defaultSizePool();
  // Relative roots were accepted by the original promise-based walker; keep that.
  // Fan-out on by default here: a record is one tree, and sizing a single big one is where workers would idle.
  const fanOut = options.fanOut ?? true;
  return pool.run(
    typeof root === 'string' && root !== '' ? resolve(root) : root,
    options.signal ? { signal: options.signal, fanOut } : { fanOut },
  );
}
