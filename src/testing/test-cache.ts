import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheManager } from '../cache/manager.js';
import type { CacheManagerOptions } from '../cache/open.js';
import { mountPointsUnder, unmount } from '../snapshot/mount.js';

// Node 20 has no Symbol.asyncDispose; `await using` in TypeScript looks the symbol up at run time.
(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for('Symbol.asyncDispose');

/** Options of `testCache`: the manager's options without a root, which the kit makes. */
export interface TestCacheOptions extends Omit<CacheManagerOptions, 'root'> {
  /** Prefix of the temporary root's name, under the OS temp dir; default `cachekit-test-`. */
  prefix?: string;
}

/** A manager on a temporary root, and the means to reopen it and to throw it all away. */
export interface TestCache extends AsyncDisposable {
  readonly root: string;
  /** The manager open now (a new one after `reopen()`). */
  readonly cm: CacheManager;
  /** Closes the manager and opens a new one on the same root with the same options. */
  reopen(options?: Partial<Omit<CacheManagerOptions, 'root'>>): Promise<CacheManager>;
  /** Closes the manager, unmounts whatever is still mounted under the root, and removes it. */
  close(): Promise<void>;
}

/**
 * A temporary cache for one test: `await using cache = await testCache()` (TypeScript 5.2+) or
 * `try { ... } finally { await cache.close() }`. Disposal never throws for a manager that
 * was already closed or for mounts a test forgot to release.
 */
export async function testCache(options: TestCacheOptions = {}): Promise<TestCache> {
  const { prefix = 'cachekit-test-', ...managerOptions } = options;
  const root = await mkdtemp(join(tmpdir(), prefix));
  let cm: CacheManager;
  try {
    cm = await CacheManager.open({ ...managerOptions, root });
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      await cm.close().catch(() => {});
      // Deepest first: a mount inside another must go before it.
      for (const point of await mountPointsUnder(root)) await unmount(point).catch(() => {});
      await rm(root, { recursive: true, force: true });
    })();
    return closed;
  };
  return {
    root,
    get cm() {
      return cm;
    },
    async reopen(more = {}) {
      await cm.close();
      cm = await CacheManager.open({ ...managerOptions, ...more, root });
      return cm;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
