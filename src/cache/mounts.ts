import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mountAll, unmount } from '../snapshot/index.js';
import type { Mount, Snapshotter } from '../snapshot/types.js';
import { viewKey } from './keys.js';
import type { MountedRef, MountOptions } from './refs.js';

let viewSerial = 0;

/**
 * Gives a path to a record's content. Committed content is read through a
 * fresh view. A single bind mount (the native snapshotter's) is used through
 * its source directly, needing no privileges; anything else is mounted under
 * `mountsDir` and unmounted on release.
 */
export async function mountRecord(snapshotter: Snapshotter, mountsDir: string, id: string, key: string, _options: MountOptions): Promise<MountedRef> {
  const info = await snapshotter.stat(key);
  const view = info.kind === 'committed' ? viewKey(id, ++viewSerial) : undefined;
  const mounts: Mount[] = view ? await snapshotter.view(view, key) : await snapshotter.mounts(key);
  const dropView = async () => {
    if (view) await snapshotter.remove(view);
  };
  const [only] = mounts;
  if (mounts.length === 1 && only && only.type === 'bind') return { path: only.source, release: dropView };
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
