import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { lstat, rm } from 'node:fs/promises';
import { mountPointsUnder } from './mount.js';

const run = promisify(execFile);

/**
 * Deletes a snapshot directory tree, and says why when it could not. `fs.rm` fails on trees deeper
 * than PATH_MAX (ENAMETOOLONG), which GNU `rm -rf` walks with relative paths, so that is the fallback;
 * `--one-file-system` keeps it from deleting through a mount point left inside the tree, and such
 * mount points are named rather than unmounted: a mount this process did not make may be someone's.
 * Resolves undefined once the path is gone, or with the reason it is still there.
 */
export async function deleteTree(path: string): Promise<string | undefined> {
  let first: unknown;
  try {
    await rm(path, { recursive: true, force: true });
    return undefined;
  } catch (err) {
    first = err;
  }
  const mounts = await mountPointsUnder(path);
  if (mounts.length > 0)
    return `it holds ${mounts.length} mount point(s) (${mounts.slice(0, 3).join(', ')}); unmount them and it goes at the next start`;
  const fallback = await rmOneFileSystem(path);
  if (!(await exists(path))) return undefined;
  const why = first instanceof Error ? first.message : String(first);
  return `fs.rm failed (${why}) and rm -rf --one-file-system failed (${fallback})`;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function rmOneFileSystem(path: string): Promise<string> {
  try {
    await run('rm', ['-rf', '--one-file-system', '--', path]);
    return 'exit 0';
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string; message?: string };
    return `exit ${String(e.code)}: ${(e.stderr ?? e.message ?? '').trim().split('\n')[0]}`;
  }
}
