import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MetadataStore } from '../metadata/store.js';
import { CacheError } from './errors.js';
import { cacheErrorFromMetadata } from './metadata-errors.js';

/**
 * Refuses a path that is not an existing cachekit root: missing, not a directory, or without `metadata/` holding a
 * schema version. Reads only (the metadata is opened read-only, no lock is taken), so it is safe on a root another
 * process owns. Callers that mean to create a root open it read-write instead; this is for those that must not.
 */
export async function assertCacheRoot(root: string): Promise<void> {
  const named = JSON.stringify(root);
  const info = await stat(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info === undefined) throw new CacheError('NOT_FOUND', `cache root ${named} does not exist`);
  if (!info.isDirectory()) throw new CacheError('NOT_FOUND', `cache root ${named} is not a directory`);
  const metadata = join(root, 'metadata');
  let store: MetadataStore;
  try {
    store = await MetadataStore.open(metadata, { readOnly: true });
  } catch (err) {
    const mapped = cacheErrorFromMetadata(err);
    // Snapshots without readable metadata are a damaged root, not a stranger's folder: say how to recover it.
    if (existsSync(join(root, 'snapshots')) && !(mapped instanceof CacheError && mapped.code === 'NEEDS_RECOVERY'))
      throw new CacheError(
        'NEEDS_RECOVERY',
        `cache root ${named} needs recovery: it has snapshots but its metadata (${metadata}) is missing or unreadable; ` +
          'rebuild it with `cachekit recover --mode rebuild-metadata`',
        { cause: err },
      );
    if (mapped instanceof CacheError) throw mapped;
    // LMDB refuses a directory without its data file: that is no cachekit store either.
    throw new CacheError('NOT_FOUND', `cache root ${named} is not a cachekit root (unreadable ${metadata})`, {
      cause: err,
    });
  }
  await store.close();
}
