import { CacheError, isCacheError } from '../cache/errors.js';

/**
 * Refuses, before anything is opened, a root that does not exist or is not a cachekit root, so a typo (`--root
 * ./typo`) is an error instead of a new, empty cache. `--create` (prune, serve) skips the check: the read-write
 * open then makes the root.
 */
export async function requireCacheRoot(root: string, options: { create?: boolean; canCreate: boolean }): Promise<void> {
  if (options.create === true) return;
  const { assertCacheRoot } = await import('../cache/cache-root.js');
  try {
    await assertCacheRoot(root);
  } catch (err) {
    if (!isCacheError(err, 'NOT_FOUND')) throw err;
    const hint = options.canCreate ? ' (pass --create to make a new one)' : '';
    throw new CacheError('NOT_FOUND', `${err.message}${hint}`, { cause: err });
  }
}
