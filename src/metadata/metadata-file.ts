import { join } from 'node:path';
import { MetadataError } from './errors.js';
import { checkLmdbFile } from './lmdb-check.js';

/**
 * Refuses a cache metadata directory whose data file fails `checkLmdbFile`,
 * before lmdb-js maps it: a MetadataError DAMAGED (NEEDS_RECOVERY to cache callers) naming the file, the
 * reason and the way out.
 */
export function assertMetadataFile(dir: string): void {
  const file = join(dir, 'data.mdb');
  const check = checkLmdbFile(file);
  if (!check.ok)
    throw new MetadataError(
      'DAMAGED',
      dir,
      `cache metadata ${file} is damaged: ${check.reason}; nothing was opened. Rebuild the records from the ` +
        `snapshots with \`cachekit recover --mode rebuild-metadata\` (option recover: 'rebuild-metadata'), ` +
        'which moves the damaged directory aside first',
    );
}
