import { closeSync, fstatSync, ftruncateSync, lstatSync, mkdirSync, realpathSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { flockSync } from 'fs-ext';
import { CacheError } from './errors.js';
import { openLockFile, readLockFile } from './lock/lock-file.js';
import {
  describeOwner,
  formatOwnerRecord,
  type OwnerRecord,
  parseOwnerRecord,
  thisProcess,
} from './lock/owner-record.js';

export { LockFileError, type LockFileProblem } from './lock/lock-file.js';
export { describeOwner, type OwnerRecord } from './lock/owner-record.js';

/*
 * Who owns a cache root is decided by flock(2) on `<root>/LOCK`, taken LOCK_EX on an open file
 * description that the owner keeps for its whole life:
 * - the kernel arbitrates, so two openers racing can never both win, whatever they read or write;
 * - the lock lives on the inode, not on a pid, so it holds across pid namespaces and containers
 *   sharing the volume, and pid reuse cannot fake an owner;
 * - the kernel drops it when the owner's last fd to it closes, which a SIGKILL does too. Node opens
 *   with O_CLOEXEC, so a child the owner spawned cannot keep it alive.
 * LOCK is never unlinked: unlinking would let a later opener lock a new inode while someone still
 * holds the old one. What the file says (pid, host, pid namespace, boot) is only for messages.
 *
 * A look from outside (lockHolder) asks with a non-blocking LOCK_SH on its own open file
 * description, then lets go. An opener that finds the lock busy tells the two apart: if it can take
 * LOCK_SH, only lookers hold the file and it tries again a moment later; if not, there is an owner.
 */

/** Roots this process owns: a second opener in the same process must fail too, with a clearer message. */
const ownedHere = new Set<string>();

export interface OwnerLock {
  readonly root: string;
  release(): void;
}

/** What a look at a root's LOCK found: whether someone holds it, and what the file says of them. */
export interface LockHolder {
  readonly path: string;
  readonly held: boolean;
  readonly owner: OwnerRecord | undefined;
}

/** How many times an opener retries while only lookers hold LOCK_SH (each a few milliseconds). */
const LOOKER_RETRIES = 50;

function wouldBlock(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

function tryFlock(fd: number, how: 'exnb' | 'shnb'): boolean {
  try {
    flockSync(fd, how);
    return true;
  } catch (err) {
    if (wouldBlock(err)) return false;
    throw err;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(pause, 0, 0, ms);
}

type Attempt = 'taken' | 'owned' | 'busy';

function takeExclusive(fd: number): Attempt {
  for (let i = 0; i < LOOKER_RETRIES; i++) {
    if (tryFlock(fd, 'exnb')) return 'taken';
    if (!tryFlock(fd, 'shnb')) return 'owned';
    // Only shared holders: lookers, or other openers doing this same check. Back off at random.
    flockSync(fd, 'un');
    sleepSync(1 + Math.floor(Math.random() * 4));
  }
  return 'busy';
}

/** True when `fd` is still the file at `path`: LOCK was not replaced between our open and our lock. */
function stillAt(fd: number, path: string): boolean {
  try {
    const [held, named] = [fstatSync(fd), lstatSync(path)];
    return held.dev === named.dev && held.ino === named.ino;
  } catch {
    return false;
  }
}

function ownedBy(root: string, fd: number, path: string): CacheError {
  let says: OwnerRecord | undefined;
  try {
    says = parseOwnerRecord(readLockFile(fd, path));
  } catch (err) {
    return new CacheError('LOCKED', `cache root ${root} is owned by another process (its ${path} is unreadable)`, {
      cause: err,
    });
  }
  return new CacheError('LOCKED', `cache root ${root} is owned by ${describeOwner(says)} (${path})`);
}

function writeRecord(fd: number): void {
  const text = Buffer.from(formatOwnerRecord(thisProcess()));
  ftruncateSync(fd, 0);
  writeSync(fd, text, 0, text.length, 0);
}

/**
 * Takes ownership of a cache root for as long as this process lives or until release().
 * A live owner anywhere (another process, container or pid namespace on this kernel) is a
 * CacheError LOCKED naming the root and what its LOCK says; a bad LOCK is a LockFileError.
 */
export function acquireOwnerLock(root: string): OwnerLock {
  mkdirSync(root, { recursive: true });
  const real = realpathSync(root);
  if (ownedHere.has(real)) throw new CacheError('LOCKED', `cache root ${root} is already open in this process`);
  const path = join(real, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    const fd = openLockFile(path, 'owner')!;
    let ours = false;
    try {
      const got = takeExclusive(fd);
      if (got === 'owned') throw ownedBy(root, fd, path);
      if (got === 'busy') throw new CacheError('LOCKED', `cache root ${root}: ${path} stayed busy, try again`);
      if (!stillAt(fd, path)) continue;
      writeRecord(fd);
      ours = true;
    } finally {
      if (!ours) closeSync(fd);
    }
    ownedHere.add(real);
    let released = false;
    return {
      root: real,
      release() {
        if (released) return;
        released = true;
        ownedHere.delete(real);
        // Only our own fd is touched: emptying the file we hold, then letting go of it.
        try {
          ftruncateSync(fd, 0);
        } catch {
          // The message text is best effort; closing is what releases the lock.
        }
        closeSync(fd);
      },
    };
  }
  throw new CacheError('LOCKED', `cache root ${root}: ${path} kept being replaced while we locked it`);
}

/**
 * Who holds a root's lock, without taking it for more than an instant and without writing:
 * undefined when there is no LOCK at all. Safe in the owner's own process too (a separate open
 * file description, whose close does not touch the owner's flock). A bad LOCK is a LockFileError.
 */
export function lockHolder(root: string): LockHolder | undefined {
  const path = join(root, 'LOCK');
  const fd = openLockFile(path, 'look');
  if (fd === undefined) return undefined;
  try {
    const free = tryFlock(fd, 'shnb');
    if (free) flockSync(fd, 'un');
    return { path, held: !free, owner: parseOwnerRecord(readLockFile(fd, path)) };
  } finally {
    closeSync(fd);
  }
}
