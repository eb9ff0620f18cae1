import { mkdtemp, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { applyLayer, diffOverlayUpper, diffTrees, type LayerChange } from '../../remote/layer/index.js';
import { mountAll, unmount } from '../../snapshot/mount.js';
import { OverlaySnapshotter } from '../../snapshot/overlay/overlay-snapshotter.js';
import type { Mount, Snapshotter } from '../../snapshot/types.js';
import { committedKey, viewKey } from '../keys.js';

/**
 * Where a record's bytes are on disk, for the two directions of an exchange: the diff of a committed
 * record against its parent (export), and the active snapshot a pulled layer is applied into (import).
 */

let serial = 0;
const nextView = (id: string) => viewKey(id, 1_000_000 + ++serial);

const optionValue = (m: Mount, name: string): string | undefined =>
  m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);

/** A directory holding the mounts' tree: a bind's source as is, anything else mounted under `scratch`. */
async function openTree(mounts: Mount[], scratch: string): Promise<{ path: string; close(): Promise<void> }> {
  const [only] = mounts;
  if (mounts.length === 1 && only?.type === 'bind') return { path: only.source, close: async () => {} };
  const target = await mkdtemp(join(scratch, 'tree-'));
  try {
    await mountAll(mounts, target);
  } catch (err) {
    await rmdir(target).catch(() => {});
    throw err;
  }
  return {
    path: target,
    close: async () => {
      await unmount(target);
      await rmdir(target).catch(() => {});
    },
  };
}

/**
 * Runs `fn` over the record's own changes against its parent. Overlay: the record's upper directory
 * (the first lowerdir of its view) is the diff, whiteouts converted. Any other snapshotter: the two
 * trees are compared.
 */
export async function withRecordChanges<T>(
  snapshotter: Snapshotter,
  scratch: string,
  id: string,
  parent: string | undefined,
  fn: (changes: AsyncIterable<LayerChange>) => Promise<T>,
): Promise<T> {
  const views: string[] = [];
  const trees: { close(): Promise<void> }[] = [];
  try {
    const view = async (of: string) => {
      const key = nextView(of);
      const mounts = await snapshotter.view(key, committedKey(of));
      views.push(key);
      return mounts;
    };
    const own = await view(id);
    if (snapshotter instanceof OverlaySnapshotter) {
      const [only] = own;
      const upper =
        only?.type === 'bind' ? only.source : only ? optionValue(only, 'lowerdir')?.split(':')[0] : undefined;
      if (own.length === 1 && upper !== undefined) return await fn(diffOverlayUpper(upper));
    }
    const tree = await openTree(own, scratch);
    trees.push(tree);
    let parentPath: string | undefined;
    if (parent !== undefined) {
      const parentTree = await openTree(await view(parent), scratch);
      trees.push(parentTree);
      parentPath = parentTree.path;
    }
    return await fn(diffTrees(tree.path, parentPath));
  } finally {
    for (const tree of trees.reverse()) await tree.close().catch(() => {});
    for (const key of views.reverse()) await snapshotter.remove(key).catch(() => {});
  }
}

export interface ApplyInto {
  mediaType: string;
  diffId: string;
  signal?: AbortSignal | undefined;
}

/**
 * Applies a layer blob into a prepared active snapshot: straight into an overlay upper directory
 * (with overlay whiteouts), into a bind's directory (deleting what whiteouts name), or through a
 * mount of anything else. The caller removes the active snapshot when this fails.
 */
export async function applyIntoActive(
  snapshotter: Snapshotter,
  scratch: string,
  key: string,
  blob: Readable,
  layer: ApplyInto,
): Promise<void> {
  const mounts = await snapshotter.mounts(key);
  const [only] = mounts;
  const options = { mediaType: layer.mediaType, diffId: layer.diffId, signal: layer.signal };
  const upper = only?.type === 'overlay' ? optionValue(only, 'upperdir') : undefined;
  if (mounts.length === 1 && upper !== undefined) {
    await applyLayer(blob, upper, { ...options, whiteouts: 'overlay' });
    return;
  }
  const tree = await openTree(mounts, scratch);
  try {
    await applyLayer(blob, tree.path, { ...options, whiteouts: 'delete' });
  } finally {
    await tree.close();
  }
}
