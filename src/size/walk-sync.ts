import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import type { ControlBlock } from './control-block.js';
import { type EntryStat, type LstatEntry, isDirectoryMode, lstatEntry } from './lstat-source.js';

/** Result of one synchronous walk: a du-compatible usage, or a note that it stopped on request. */
export type WalkOutcome = { aborted: false; size: number; inodes: number } | { aborted: true };

type TreePath = string | Buffer;

const SLASH = Buffer.from('/');
const ABORTED: WalkOutcome = { aborted: true };

/**
 * Sums a tree the way `du -s -B1` / `du -s --inodes` do, synchronously; meant to
 * run inside a worker thread where blocking calls are cheapest.
 *
 * One lstat per entry is unavoidable (allocated blocks live only in the inode).
 * Identity bookkeeping is limited to what du needs: directories cannot be
 * hardlinked and files with nlink 1 cannot be met twice, so only nlink > 1
 * non-directories enter the seen-set. Stats are read as doubles for speed; an
 * inode or device number beyond 2^53 would lose precision there, so those rare
 * entries are re-read with bigint stats before being used as identities.
 *
 * Names that are not valid UTF-8 would not round-trip through strings, so a
 * directory containing one is re-read, and its subtree walked, as Buffers.
 */
export function walkTreeSync(root: string, control: ControlBlock, lstat: LstatEntry = lstatEntry): WalkOutcome {
  const times = control.recordTimes;
  const seen = new Set<string>();
  let blocks = 0;
  let inodes = 0;

  const identity = (path: TreePath, dev: number, ino: number): string | undefined => {
    if (Number.isSafeInteger(ino) && Number.isSafeInteger(dev)) return `${dev}:${ino}`;
    if (!control.beforeFsCall(times)) return undefined;
    const big: BigIntStats | undefined = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    return big === undefined ? '' : `${big.dev}:${big.ino}`;
  };

  /** Adds one entry; returns true to descend, false to skip, undefined when aborted. */
  const count = (path: TreePath, st: EntryStat): boolean | undefined => {
    const isDir = isDirectoryMode(st.mode);
    const entryBlocks = st.blocks;
    if (!isDir && st.nlink > 1) {
      const id = identity(path, st.dev, st.ino);
      if (id === undefined) return undefined;
      if (id === '' || seen.has(id)) return false;
      seen.add(id);
    }
    blocks += entryBlocks;
    inodes += 1;
    return isDir;
  };

  if (!control.beforeFsCall(times)) return ABORTED;
  const top = lstat(root);
  if (top === undefined) {
    throw Object.assign(new Error(`ENOENT: no such file or directory, lstat '${root}'`), {
      code: 'ENOENT',
      syscall: 'lstat',
      path: root,
    });
  }
  const descendTop = count(root, top);
  if (descendTop === undefined) return ABORTED;
  const topDir = root.length > 1 && root.endsWith('/') ? root.slice(0, -1) : root;
  const stack: TreePath[] = descendTop ? [topDir] : [];

  while (stack.length > 0) {
    let dir = stack.pop()!;
    if (!control.beforeFsCall(times)) return ABORTED;
    let names: TreePath[];
    try {
      names = typeof dir === 'string' ? readdirSync(dir) : readdirSync(dir, { encoding: 'buffer' });
    } catch (error) {
      // A subdirectory removed while we walk simply has no usage any more.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && dir !== topDir) continue;
      throw error;
    }
    if (typeof dir === 'string' && (names as string[]).some((n) => n.includes('\uFFFD'))) {
      dir = Buffer.from(dir);
      if (!control.beforeFsCall(times)) return ABORTED;
      names = readdirSync(dir, { encoding: 'buffer' });
    }
    const prefix: TreePath = typeof dir === 'string' ? `${dir === '/' ? '' : dir}/` : Buffer.concat([dir, SLASH]);
    for (const name of names) {
      const path: TreePath =
        typeof prefix === 'string' ? prefix + (name as string) : Buffer.concat([prefix, name as Buffer]);
      if (!control.beforeFsCall(times)) return ABORTED;
      const st = lstat(path);
      if (st === undefined) continue; // removed since readdir
      const descend = count(path, st);
      if (descend === undefined) return ABORTED;
      if (descend) stack.push(path);
    }
    control.reportProgress(blocks * 512, inodes);
  }
  control.reportProgress(blocks * 512, inodes);
  return { aborted: false, size: blocks * 512, inodes };
}
