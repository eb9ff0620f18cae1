import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from '../snapshot/types.js';

export interface TreeUsageOptions {
  signal?: AbortSignal;
}

/**
 * Sums a tree the way `du -s -B1` and `du -s --inodes` do: allocated bytes
 * (st_blocks × 512) and distinct inodes, counting each (dev, inode) once so
 * hardlinks are not double counted. Symlinks are not followed.
 */
export async function treeUsage(root: string, options: TreeUsageOptions = {}): Promise<Usage> {
  const seen = new Set<string>();
  let blocks = 0n;
  const visit = async (path: string): Promise<void> => {
    options.signal?.throwIfAborted();
    const st = await lstat(path, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    blocks += st.blocks;
    if (!st.isDirectory()) return;
    for (const name of await readdir(path)) await visit(join(path, name));
  };
  await visit(root);
  return { size: Number(blocks * 512n), inodes: seen.size };
}
