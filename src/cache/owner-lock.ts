import { openSync, closeSync, writeSync, readFileSync, unlinkSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { CacheError } from './errors.js';

/** Roots this process owns: a second opener in the same process must fail too. */
const ownedHere = new Set<string>();

export interface OwnerLock {
  readonly root: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes ownership of a cache root with an exclusive pid file. A file left by a
 * process that no longer exists is taken over; a live owner is an error that
 * names the root and the owner's pid.
 */
export function acquireOwnerLock(root: string): OwnerLock {
  mkdirSync(root, { recursive: true });
  const real = realpathSync(root);
  if (ownedHere.has(real)) throw new CacheError('LOCKED', `cache root ${root} is already open in this process`);
  const file = join(real, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      ownedHere.add(real);
      return {
        root: real,
        release() {
          if (!ownedHere.delete(real)) return;
          try {
            unlinkSync(file);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
        throw new CacheError('LOCKED', `cache root ${root} is owned by process ${pid}`);
      // A stale lock from a dead process (or our own earlier run with a reused pid).
      unlinkSync(file);
    }
  }
  throw new CacheError('LOCKED', `cache root ${root}: could not take the owner lock`);
}
