import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isSnapshotError } from '../snapshot/errors.js';
import { mountAll, unmount } from '../snapshot/mount.js';
import type { Mount, Snapshotter } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import { viewKey } from './keys.js';
import type { MountedRef, MountOptions } from './refs.js';
import { kindOf } from './snapshot-state.js';

let viewSerial = 0;

/** Mounting needs root; without it a bind is used through its source path. */
const canMount = () => process.getuid?.() === 0;

/** The same mounts, asked to be read-only. */
function readOnly(mounts: Mount[]): Mount[] {
  return mounts.map((m) => ({
    ...m,
    options: [...m.options.filter((o) => o !== 'rw'), ...(m.options.includes('ro') ? [] : ['ro'])],
  }));
}

/**
 * Gives a path to a record's content. Committed content is read through a
 * fresh view. A read-only request is enforced with a read-only mount where
 * this process may mount (root); a single bind mount is otherwise used through
 * its source path, needing no privileges, and must then be treated as
 * read-only by the caller. Mounts live under `mountsDir` until released.
 *
 * Every failure, in the mount or in its release, is a CacheError naming the
 * record, with the snapshotter's or mount(8)'s error as its cause.
 */
export async function mountRecord(
  snapshotter: Snapshotter,
  mountsDir: string,
  id: string,
  key: string,
  options: MountOptions,
): Promise<MountedRef> {
  let mounted: MountedRef;
  try {
    mounted = await mountContent(snapshotter, mountsDir, id, key, options);
  } catch (err) {
    throw mountFailure('mount', id, err);
  }
  return {
    path: mounted.path,
    release: async () => {
      try {
        await mounted.release();
      } catch (err) {
        throw mountFailure('releasing the mount of', id, err);
      }
    },
  };
}

async function mountContent(
  snapshotter: Snapshotter,
  mountsDir: string,
  id: string,
  key: string,
  options: MountOptions,
): Promise<MountedRef> {
  const info = await snapshotter.stat(key);
  const view = info.kind === 'committed' ? viewKey(id, ++viewSerial) : undefined;
  const given = view ? await newView(snapshotter, view, key) : await snapshotter.mounts(key);
  const dropView = async () => {
    if (view) await removeView(snapshotter, view);
  };
  const [only] = given;
  const wantReadOnly = options.readonly === true || given.some((m) => m.options.includes('ro'));
  if (given.length === 1 && only && only.type === 'bind' && !(wantReadOnly && canMount()))
    return { path: only.source, release: dropView };
  const mounts = wantReadOnly ? readOnly(given) : given;
  const target = join(mountsDir, `${id}-${viewSerial}-${process.hrtime.bigint()}`);
  try {
    await mkdir(target, { recursive: true });
    await mountAll(mounts, target);
  } catch (err) {
    await rm(target, { recursive: true, force: true }).catch(() => {});
    await dropView().catch(() => {});
    throw err;
  }
  return {
    path: target,
    release: async () => {
      await unmount(target);
      await rm(target, { recursive: true, force: true });
      await dropView();
    },
  };
}

/** A view of `key`; one the snapshotter made but reported failing is removed again, leaving nothing behind. */
async function newView(snapshotter: Snapshotter, view: string, key: string): Promise<Mount[]> {
  try {
    return await snapshotter.view(view, key);
  } catch (err) {
    if (!isSnapshotError(err, 'ALREADY_EXISTS')) await snapshotter.remove(view).catch(() => {});
    throw err;
  }
}

/** Removes a view; a removal that reported failure but took effect is a success. */
async function removeView(snapshotter: Snapshotter, view: string): Promise<void> {
  try {
    await snapshotter.remove(view);
  } catch (err) {
    if (!isSnapshotError(err, 'NOT_FOUND') && (await kindOf(snapshotter, view)) !== 'gone') throw err;
  }
}

/** A failure of a mount step as a CacheError naming the record; the snapshot's NOT_FOUND stays NOT_FOUND. */
function mountFailure(step: string, id: string, err: unknown): CacheError {
  if (err instanceof CacheError) return err;
  const code = isSnapshotError(err, 'NOT_FOUND') ? 'NOT_FOUND' : 'INVALID';
  const reason = err instanceof Error ? err.message : String(err);
  return new CacheError(code, `${step} record ${id} failed: ${reason}`, { cause: err });
}
