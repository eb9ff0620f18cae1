import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fromPromise, waitFor } from 'xstate';
import { RegistryClient } from '../../remote/registry/index.js';
import { isSnapshotError } from '../../snapshot/errors.js';
import type { Snapshotter } from '../../snapshot/types.js';
import { CacheError } from '../errors.js';
import { activeKey, committedKey } from '../keys.js';
import type { RecordIndex } from '../records/record-index.js';
import { applyIntoActive } from './content.js';
import { rememberedClientOptions } from './host.js';
import type { PullSignals } from './pulls.js';

const RECORD_LABEL = 'cachekit.record';
let serial = 0;

/**
 * The snapshot I/O of a lazy record's pull: download its blob (digest and size verified while it
 * streams) to a file, wait for the parent's content, prepare an active snapshot on it, apply the layer
 * (diffID verified) and commit. Any failure removes the active snapshot again, so the record goes back
 * to lazy with nothing half-applied.
 */
export function pullIo(snapshotter: Snapshotter, indexOf: () => RecordIndex, root: string, pulls: PullSignals) {
  return fromPromise<void, { id: string }>(async ({ input, signal: stopped }) => {
    const { id } = input;
    const index = indexOf();
    const signal = AbortSignal.any([stopped, pulls.signal(id)]);
    const meta = index.meta(id);
    const layer = meta?.layer;
    const slash = layer?.source?.indexOf('/') ?? -1;
    if (!meta || !layer?.source || slash <= 0)
      throw new CacheError('INVALID', `pull: record ${id} has no registry layer to pull`);
    const registry = layer.source.slice(0, slash);
    const repository = layer.source.slice(slash + 1);
    const scratch = join(root, 'exchange');
    const file = join(scratch, `pull-${id}-${process.pid}-${++serial}.blob`);
    try {
      await mkdir(scratch, { recursive: true, mode: 0o700 });
      const client = new RegistryClient(registry, rememberedClientOptions(registry));
      const desc = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
      await pulls.download(async () =>
        pipeline(await client.getBlob(repository, desc, signal), createWriteStream(file), { signal }),
      );
      if (meta.parent !== undefined) await parentContent(index, meta.parent);
      const key = activeKey(id);
      const labels = { [RECORD_LABEL]: id };
      await snapshotter.prepare(key, meta.parent === undefined ? undefined : committedKey(meta.parent), { labels });
      try {
        const blob = createReadStream(file);
        await applyIntoActive(snapshotter, scratch, key, blob, {
          mediaType: layer.mediaType,
          diffId: layer.diffId,
          signal,
        });
        signal.throwIfAborted();
        await snapshotter.commit(committedKey(id), key, { labels });
      } catch (err) {
        await snapshotter.remove(key).catch((e: unknown) => {
          if (!isSnapshotError(e, 'NOT_FOUND')) throw e;
        });
        throw err;
      }
    } finally {
      pulls.finished(id);
      await rm(file, { force: true });
    }
  });
}

/** Waits for a parent being pulled; its content must be local before a child's layer goes on it. */
async function parentContent(index: RecordIndex, parent: string): Promise<void> {
  const live = index.liveRecord(parent);
  if (live) await waitFor(live.actor, (s) => !s.hasTag('busy'), { timeout: Infinity });
  if (index.is(parent, 'committedContent')) return;
  throw new CacheError('INVALID', `pull: parent ${parent} could not be pulled`, {
    cause: index.contextOf(parent)?.ioError?.error,
  });
}
