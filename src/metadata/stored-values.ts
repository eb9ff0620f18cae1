import { MetadataError } from './errors.js';
import { StoredRecord } from './schema.js';

/** How stored values are read leniently, checked strictly, and named when they fail. */

export function cacheKeyOf(value: unknown): string | undefined {
  const key = (value as { key?: unknown } | undefined)?.key;
  return typeof key === 'string' ? key : undefined;
}

export function describeIssue(issue: { path: PropertyKey[]; message: string }): string {
  return `${issue.path.length ? issue.path.join('.') : 'value'} ${issue.message}`;
}

/** A stored value whose bytes do not decode. */
export class Undecodable {
  constructor(readonly reason: string) {}
}

export function parseStored(path: string, id: string, raw: unknown): StoredRecord {
  const result = StoredRecord.safeParse(raw);
  if (!result.success)
    throw new MetadataError(
      'CORRUPT',
      path,
      `record ${id}: stored metadata is corrupt: ${result.error.issues.map(describeIssue).join('; ')}`,
      { id },
    );
  return result.data;
}

/**
 * A read that LMDB itself fails (MDB_PAGE_NOTFOUND, MDB_CORRUPTED, ...): the file is damaged past
 * what its header shows, which is DAMAGED, like a bad header, rather than a raw lmdb-js error.
 */
export function damagedOnFailure<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof Error && /MDB_/.test(err.message))
      throw new MetadataError('DAMAGED', path, `cache metadata ${path}/data.mdb is damaged: ${err.message}`, {
        cause: err,
      });
    throw err;
  }
}
