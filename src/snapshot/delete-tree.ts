import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { lstat, rm } from 'node:fs/promises';
import { mountPointsBelow, mountPointsUnder } from './mount.js';

const run = promisify(execFile);

/**
 * Deletes a snapshot directory tree, and says why when it could not. `fs.rm` fails on trees deeper
 * than PATH_MAX (ENAMETOOLONG), which GNU `rm -rf` walks with relative paths, so that is the fallback;
 * mount points inside the tree are looked for first (`--one-file-system` alone would still cross a
 * bind mount of the same filesystem), and such trees are named rather than deleted or unmounted:
 * a mount this process did not make may be someone's.
 * Resolves undefined once the path is gone, or with the reason it is still there.
 */
export async function deleteTree(path: string): Promise<string | undefined> {
  // Looked at first: fs.rm would descend into a mount and delete what someone else's filesystem holds.
  const mounted = await holdsMounts(path);
  if (mounted !== undefined) return mounted;
  let first: unknown;
  try {
    await rm(path, { recursive: true, force: true });
    return undefined;
  } catch (err) {
    first = err;
  }
  const fallback = await rmOneFileSystem([path]);
  if (!(await exists(path))) return undefined;
  const why = first instanceof Error ? first.message : String(first);
  return `fs.rm failed (${why}) and rm -rf --one-file-system failed (${fallback})`;
}

/** Why a tree holding mount points is not deleted, or undefined when it holds none. */
async function holdsMounts(path: string): Promise<string | undefined> {
  const mounts = await mountPointsUnder(path);
  return mounts.length === 0 ? undefined : mountedReason(mounts);
}

function mountedReason(mounts: readonly string[]): string {
  return `it holds ${mounts.length} mount point(s) (${mounts.slice(0, 3).join(', ')}); unmount them and it goes at the next start`;
}

/**
 * Up to this many trees are deleted in this process: starting a process costs more than a few small
 * deletions (forking copies the page tables of a process holding a million records: tens of ms).
 */
const IN_PROCESS = 16;

/**
 * Deletes many trees with one GNU `rm -rf --one-file-system` process, as fast as `rm -rf` itself and
 * off libuv's thread pool (which the metadata commits share). A tree that process leaves (a mount point
 * inside, a non-GNU rm) is looked at on its own: mount points are named, the rest goes through
 * `deleteTree`. Resolves with the reason for each path still there.
 */
export async function deleteTrees(paths: readonly string[]): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  if (paths.length === 0) return failed;
  if (paths.length <= IN_PROCESS) {
    const reasons = await Promise.all(paths.map((path) => deleteTree(path)));
    for (const [i, reason] of reasons.entries()) if (reason !== undefined) failed.set(paths[i]!, reason);
    return failed;
  }
  // Looked at first: rm's --one-file-system does not stop at a bind mount of the same filesystem.
  const mounted = await mountPointsBelow(paths);
  for (const [path, mounts] of mounted) failed.set(path, mountedReason(mounts));
  const rest = paths.filter((path) => !mounted.has(path));
  // Exit 0 means every path is gone; otherwise each one is checked.
  if (rest.length === 0 || (await rmOneFileSystem(rest)) === 'exit 0') return failed;
  for (const path of rest) {
    if (!(await exists(path))) continue;
    const reason = await deleteTree(path);
    if (reason !== undefined) failed.set(path, reason);
  }
  return failed;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function rmOneFileSystem(paths: readonly string[]): Promise<string> {
  try {
    await run('rm', ['-rf', '--one-file-system', '--', ...paths], { maxBuffer: 1 << 20 });
    return 'exit 0';
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string; message?: string };
    return `exit ${String(e.code)}: ${(e.stderr ?? e.message ?? '').trim().split('\n')[0]}`;
  }
}
