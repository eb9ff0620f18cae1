import type { PruneInfo } from './prune-info.js';

/** Filesystem capacity as BuildKit's disk.DiskStat sees it, in bytes. */
export interface DiskStats {
  total: number;
  /** Free blocks, including those reserved for root (statfs f_bfree); BuildKit's minFreeSpace compares against this. */
  free: number;
  /** Blocks an unprivileged user may still allocate (statfs f_bavail). */
  available?: number;
}

/** Which policy field set the keep size: the one a GC decision's reason names. */
export type KeepBytesLimit = 'none' | 'maxUsedSpace' | 'minFreeSpace' | 'reservedSpace' | 'minFreeSpaceSatisfied';

export interface KeepBytes {
  /**
   * Prune until the unshared cache total fits in this many bytes. 0 with limitedBy 'none' means the policy has no size
   * target; 0 otherwise means the free-space shortfall exceeds the whole cache (both prune every candidate).
   */
  keepBytes: number;
  limitedBy: KeepBytesLimit;
}

type SpaceLimits = Pick<PruneInfo, 'maxUsedSpace' | 'minFreeSpace' | 'reservedSpace'>;

/**
 * BuildKit's calculateKeepBytes, with the field that decided the result. `cacheTotal` is the size of all unshared
 * records (in use or not); `disk` only matters when minFreeSpace is set.
 */
export function explainKeepBytes(policy: SpaceLimits, disk: DiskStats, cacheTotal: number): KeepBytes {
  const maxUsed = policy.maxUsedSpace ?? 0;
  const minFree = policy.minFreeSpace ?? 0;
  const reserved = policy.reservedSpace ?? 0;
  if (maxUsed === 0 && minFree === 0 && reserved === 0) return { keepBytes: 0, limitedBy: 'none' };

  let keepBytes = maxUsed;
  let limitedBy: KeepBytesLimit = 'maxUsedSpace';
  const shortfall = minFree - disk.free;
  if (shortfall > 0) {
    const freeing = cacheTotal - shortfall;
    if (keepBytes === 0 || freeing < keepBytes) {
      keepBytes = freeing;
      limitedBy = 'minFreeSpace';
    }
  } else if (minFree !== 0 && keepBytes === 0) {
    // Enough free space and no cap on the cache itself: nothing needs to go.
    keepBytes = cacheTotal;
    limitedBy = 'minFreeSpaceSatisfied';
  }
  if (reserved > keepBytes) {
    // A shortfall bigger than the whole cache drives keepBytes negative; the floor of 0 then still means
    // "free as much as possible", so the free-space target stays the deciding field.
    limitedBy = reserved === 0 ? limitedBy : 'reservedSpace';
    keepBytes = reserved;
  }
  return { keepBytes, limitedBy };
}

/** Bytes of unshared cache a policy keeps; 0 means the policy sets no size target. */
export function computeKeepBytes(policy: SpaceLimits, disk: DiskStats, cacheTotal: number): number {
  return explainKeepBytes(policy, disk, cacheTotal).keepBytes;
}

/** True when a policy has a size target, so the cache total (and maybe disk stats) must be measured first. */
export function needsCacheTotal(policy: SpaceLimits): boolean {
  return (policy.maxUsedSpace ?? 0) !== 0 || (policy.reservedSpace ?? 0) !== 0 || (policy.minFreeSpace ?? 0) !== 0;
}

/** BuildKit only stats the filesystem when minFreeSpace is set; elsewhere a zeroed DiskStats is fine. */
export function needsDiskStats(policy: SpaceLimits): boolean {
  return (policy.minFreeSpace ?? 0) !== 0;
}
