import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mountAll, unmount } from '../snapshot/mount.js';
import type { Mount, Snapshotter } from '../snapshot/types.js';
import { viewKey } from './keys.js';
import type { MountedRef, MountOptions } from './refs.js';

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
 */
export async function mountRecord(
  snapshotter: Snapshotter,
  mountsDir: string,
  id: string,
  key: string,
  options: MountOptions,
): Promise<MountedRef> {
  const info = await snapshotter.stat(key);
  const view = info.kind === 'committed' ? viewKey(id, ++viewSerial) : undefined;
  const given: Mount[] = view ? await snapshotter.view(view, key) : await snapshotter.mounts(key);
  const dropView = async () => {
    if (view) await snapshotter.remove(view);
  };
  const [only] = given;
  const wantReadOnly = options.readonly === true || given.some((m) => m.options.includes('ro'));
  if (given.length === 1 && only && only.type === 'bind' && !(wantReadOnly && canMount()))
    return { path: only.source, release: dropView };
  const mounts = wantReadOnly ? readOnly(given) : given;
  const target = join(mountsDir, `${id}-${viewSerial}-${process.hrtime.bigint()}`);
  await mkdir(target, { recursive: true });
  try {
    await mountAll(mounts, target);
  } catch (err) {
    await rm(target, { recursive: true, force: true });
    await dropView();
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
