import { isMetadataError, type MetadataErrorCode } from '../metadata/errors.js';
import { CacheError, type CacheErrorCode } from './errors.js';

/** How the metadata layer's failures read to a cache caller: a missing store is NOT_FOUND, the rest INVALID. */
const CACHE_CODE: Readonly<Record<MetadataErrorCode, CacheErrorCode>> = {
  NOT_FOUND: 'NOT_FOUND',
  CORRUPT: 'INVALID',
  DAMAGED: 'NEEDS_RECOVERY',
  UNSUPPORTED_VERSION: 'INVALID',
  READ_ONLY: 'INVALID',
};

/**
 * The cache engine's view of an error from below: a MetadataError becomes the
 * CacheError its callers handle, with the same message and the original as its
 * cause; anything else is returned unchanged.
 */
export function cacheErrorFromMetadata(err: unknown): unknown {
  if (!isMetadataError(err)) return err;
  return new CacheError(CACHE_CODE[err.code], err.message, { cause: err });
}
