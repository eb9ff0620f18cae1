import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { CacheError } from '../errors.js';

/** LOCK only ever holds one short line about its owner; anything longer is not ours. */
export const LOCK_FILE_LIMIT = 4096;

export type LockFileProblem = 'symlink' | 'not-regular' | 'too-large' | 'unopenable';

/** `<root>/LOCK` is something we refuse to lock or read: the message names the path and why. */
export class LockFileError extends CacheError {
  constructor(
    readonly path: string,
    readonly problem: LockFileProblem,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('INVALID', `lock file ${path} ${reason}`, options);
  }
}

/** How the lock file is opened: the owner may create it, a look from outside only reads. */
export type LockFileAccess = 'owner' | 'look';

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

function refuseUnlessRegular(path: string, stats: Stats): void {
  if (stats.isSymbolicLink())
    throw new LockFileError(path, 'symlink', 'is a symbolic link: it is never followed, remove it');
  if (!stats.isFile())
    throw new LockFileError(path, 'not-regular', `is ${kindOf(stats)}, not a regular file: remove it`);
  if (stats.size > LOCK_FILE_LIMIT)
    throw new LockFileError(path, 'too-large', `is ${stats.size} bytes, more than a lock file's ${LOCK_FILE_LIMIT}`);
}

/**
 * Opens the lock file without following a symlink and makes sure it is a small regular file.
 * The lstat before the open keeps us from opening a device node at all in the usual case;
 * O_NOFOLLOW and O_NONBLOCK cover a swap between the two calls (a FIFO cannot hang the open),
 * and the fstat after it checks what was really opened. Node opens every fd with O_CLOEXEC,
 * so processes we spawn never inherit the lock. Returns undefined when a look finds no file.
 */
export function openLockFile(path: string, access: LockFileAccess): number | undefined {
  try {
    refuseUnlessRegular(path, lstatSync(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (access === 'look') return undefined;
  }
  const flags =
    (access === 'owner' ? constants.O_RDWR | constants.O_CREAT : constants.O_RDONLY) |
    constants.O_NOFOLLOW |
    constants.O_NONBLOCK;
  let fd: number;
  try {
    fd = openSync(path, flags, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && access === 'look') return undefined;
    if (code === 'ELOOP')
      throw new LockFileError(path, 'symlink', 'is a symbolic link: it is never followed', { cause: err });
    if (code === 'EISDIR' || code === 'ENXIO')
      throw new LockFileError(path, 'not-regular', `is not a regular file (${code})`, { cause: err });
    throw new LockFileError(path, 'unopenable', `cannot be opened (${code ?? String(err)})`, { cause: err });
  }
  try {
    refuseUnlessRegular(path, fstatSync(fd));
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** Reads the whole lock file through `fd`, refusing more than LOCK_FILE_LIMIT bytes even if it grew. */
export function readLockFile(fd: number, path: string): string {
  const buf = Buffer.alloc(LOCK_FILE_LIMIT + 1);
  let length = 0;
  while (length < buf.length) {
    const n = readSync(fd, buf, length, buf.length - length, length);
    if (n === 0) break;
    length += n;
  }
  if (length > LOCK_FILE_LIMIT)
    throw new LockFileError(path, 'too-large', `holds more than a lock file's ${LOCK_FILE_LIMIT} bytes`);
  return buf.toString('utf8', 0, length);
}
