// A TypeScript consumer with strict flags of its own; compiled by the consumer test, never run.
import {
  type CacheManager,
  type CacheManagerOptions,
  type PruneInfo,
  type UsageInfo,
  isCacheError,
  openCacheManager,
  parseBytes,
} from 'cachekit';

const options: CacheManagerOptions = { root: '/tmp/typed-app', snapshotter: 'native' };
const policy: PruneInfo = { keepDuration: 48 * 3600_000, maxUsedSpace: parseBytes('10GiB') };

export async function reclaim(): Promise<UsageInfo[]> {
  const cm: CacheManager = await openCacheManager(options);
  try {
    const freed: UsageInfo[] = [];
    await cm.prune(policy).forEach((record) => {
      freed.push(record);
    });
    return freed;
  } catch (error) {
    if (isCacheError(error)) console.error(error.code, error.message);
    throw error;
  } finally {
    await cm.close();
  }
}
