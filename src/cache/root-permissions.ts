import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CacheError } from './errors.js';

const mode = (m: number) => `0${(m & 0o7777).toString(8)}`;

/**
 * Refuses a root someone else could tamper with: not a directory (a symlink
 * included), not owned by this user, or writable by group or others. A root
 * that does not exist yet is fine; an owner open creates it 0700.
 */
export function checkRoot(root: string): boolean {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CacheError('INVALID', `cache root ${root} cannot be examined: ${(err as Error).message}`, { cause: err });
  }
  if (st.isSymbolicLink()) throw new CacheError('INVALID', `cache root ${root} is a symbolic link; give its target`);
  if (!st.isDirectory()) throw new CacheError('INVALID', `cache root ${root} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    throw new CacheError(
      'INVALID',
      `cache root ${root} is owned by uid ${st.uid}, not by this user (uid ${uid}); mode ${mode(st.mode)}`,
    );
  if ((st.mode & 0o022) !== 0)
    throw new CacheError(
      'INVALID',
      `cache root ${root} has mode ${mode(st.mode)}: writable by group or others; make it 0700 (chmod 700)`,
    );
  return true;
}

/** The root's own entries, as cachekit names them, with the mode each must have. */
const OWN_PATHS: [string[], number][] = [
  [[], 0o700],
  [['LOCK'], 0o600],
  [['metadata'], 0o700],
  [['metadata', 'data.mdb'], 0o600],
  [['metadata', 'lock.mdb'], 0o600],
  [['snapshots'], 0o700],
  [['snapshots', 'snapshots'], 0o700],
  [['snapshots', 'metadata.lmdb'], 0o600],
  [['snapshots', 'metadata.lmdb-lock'], 0o600],
];

/** Creates the root 0700, whatever the umask. */
export function createRoot(root: string): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  chmodSync(root, 0o700);
}

/**
 * Sets the modes of what cachekit made under the root: files are created by
 * lmdb-js and the kernel with the umask applied, so they are fixed afterwards.
 * The root itself is 0700 before any of them exists, so nobody else could
 * reach them in between. Symlinks are left alone (never followed).
 */
export function tightenRoot(root: string): void {
  for (const [parts, wanted] of OWN_PATHS) {
    const path = join(root, ...parts);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) continue;
    if ((st.mode & 0o7777) !== wanted) chmodSync(path, wanted);
  }
}
