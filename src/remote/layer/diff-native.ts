import type { BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { entryType, joinRel, type LayerChange, sortNames } from './changes.js';
import { LayerError } from './errors.js';

/**
 * The changes from `parent` to `dir` for a snapshotter that keeps full trees (native): walks both
 * in step. Entries only in `dir` or different from the parent's are emitted; names only in the
 * parent become whiteouts. `parent` undefined means the record has no parent: all of `dir` is new.
 *
 * A regular file counts as changed when type, mode, owner, size or mtime differ. When all agree
 * and the two are not the same inode, the mtime is only trusted if it has sub-second precision;
 * a whole-second mtime (copied by a tool that drops nanoseconds) is "unsure" and the bytes decide.
 */
export async function* diffTrees(dir: string, parent: string | undefined): AsyncGenerator<LayerChange> {
  const top = await lstat(dir, { bigint: true }).catch((err: unknown) => {
    throw new LayerError('SOURCE_INVALID', dir, 'cannot read the record directory', { cause: err });
  });
  if (!top.isDirectory()) throw new LayerError('SOURCE_INVALID', dir, 'not a directory');
  yield* walk('', dir, parent);
}

async function* walk(rel: string, dir: string, parent: string | undefined): AsyncGenerator<LayerChange> {
  const names = sortNames(await readdir(dir));
  const parentNames = parent === undefined ? [] : sortNames(await readdir(parent));
  const present = new Set(names);
  // Whiteouts first: an applier that sees them before the directory's new entries cannot confuse the two.
  for (const name of parentNames) if (!present.has(name)) yield { kind: 'whiteout', path: joinRel(rel, name) };
  const inParent = new Set(parentNames);
  for (const name of names) {
    const source = join(dir, name);
    const path = joinRel(rel, name);
    const stat = await lstat(source, { bigint: true });
    const before = parent !== undefined && inParent.has(name) ? join(parent, name) : undefined;
    const old = before === undefined ? undefined : await lstat(before, { bigint: true });
    if (old === undefined || entryType(old) !== entryType(stat)) {
      yield { kind: 'entry', path, source, stat };
      if (stat.isDirectory()) yield* walk(path, source, undefined);
      continue;
    }
    if (stat.isDirectory()) {
      if (!sameMeta(stat, old)) yield { kind: 'entry', path, source, stat };
      yield* walk(path, source, before);
      continue;
    }
    if (await changed(stat, old, source, before!)) yield { kind: 'entry', path, source, stat };
  }
}

function sameMeta(a: BigIntStats, b: BigIntStats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs;
}

async function changed(stat: BigIntStats, old: BigIntStats, path: string, oldPath: string): Promise<boolean> {
  if (stat.mode !== old.mode || stat.uid !== old.uid || stat.gid !== old.gid) return true;
  if (stat.isSymbolicLink()) return (await readlink(path)) !== (await readlink(oldPath));
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return stat.rdev !== old.rdev;
  if (!stat.isFile()) return stat.mtimeNs !== old.mtimeNs;
  if (stat.size !== old.size || stat.mtimeNs !== old.mtimeNs) return true;
  if (stat.dev === old.dev && stat.ino === old.ino) return false;
  if (stat.mtimeNs % 1_000_000_000n !== 0n) return false;
  return !(await sameBytes(path, oldPath));
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    const size = 256 * 1024;
    const ba = Buffer.allocUnsafe(size);
    const bb = Buffer.allocUnsafe(size);
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, size, null), fb.read(bb, 0, size, null)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}
