import type { PruneInfo } from './prune-info.js';

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
const GB = 1e9;
const GIB = 2 ** 30;

/** Used for percentage limits when the disk size is unknown (0), as BuildKit does. */
export const DEFAULT_CAP_BYTES = 2 * GB;
export const RESERVED_SPACE_PERCENT = 10;
export const RESERVED_SPACE_MAX_BYTES = 10 * GB;
export const MIN_FREE_SPACE_PERCENT = 20;
export const MAX_USED_SPACE_PERCENT = 80;
export const MAX_USED_SPACE_MAX_BYTES = 100 * GB;

/**
 * A percentage of the disk in bytes, rounded the way buildkitd rounds GC limits: whole GiB of the exact share,
 * plus one, counted in decimal GB. So 10 % of a 100 GB disk (9.31 GiB) becomes 10 GB, and any share gets at least 1 GB.
 * An unknown disk size (0) gives {@link DEFAULT_CAP_BYTES}; 0 % gives 0.
 */
export function diskPercentAsBytes(percent: number, diskTotalBytes: number): number {
  if (percent === 0) return 0;
  if (diskTotalBytes === 0) return DEFAULT_CAP_BYTES;
  const share = Math.floor((diskTotalBytes * percent) / 100);
  return (Math.floor(share / GIB) + 1) * GB;
}

/** The space limits buildkitd derives from the disk when none are configured. */
export interface DefaultGcLimits {
  reservedSpace: number;
  minFreeSpace: number;
  maxUsedSpace: number;
}

export function defaultGcLimits(diskTotalBytes: number): DefaultGcLimits {
  return {
    reservedSpace: Math.min(diskPercentAsBytes(RESERVED_SPACE_PERCENT, diskTotalBytes), RESERVED_SPACE_MAX_BYTES),
    minFreeSpace: diskPercentAsBytes(MIN_FREE_SPACE_PERCENT, diskTotalBytes),
    maxUsedSpace: Math.min(diskPercentAsBytes(MAX_USED_SPACE_PERCENT, diskTotalBytes), MAX_USED_SPACE_MAX_BYTES),
  };
}

/**
 * buildkitd's default GC policy list for a disk of `diskTotalBytes` (0 when unknown), run in order:
 *
 * 1. Once the unshared cache exceeds 512 MB (decimal), remove local sources, cache mounts and git checkouts (the
 *    cheapest data to recreate) unused for 48 hours, least recently used first. The 512 MB compares against the whole
 *    unshared cache, not just those types: BuildKit measures the total before filtering.
 * 2. Any record unused for 60 days, while the unshared cache exceeds the space limits below.
 * 3. Any record (internal, frontend and shared ones excepted), least recently used first, until within the limits.
 * 4. The same with `all`, so internal and frontend records go too if that was not enough.
 *
 * Space limits: reservedSpace 10 % of the disk capped at 10 GB, minFreeSpace 20 % of the disk, maxUsedSpace 80 % of
 * the disk capped at 100 GB, each percentage rounded as {@link diskPercentAsBytes} describes.
 */
export function defaultGcPolicy(diskTotalBytes: number): PruneInfo[] {
  if (!Number.isSafeInteger(diskTotalBytes) || diskTotalBytes < 0) {
    throw new RangeError(`defaultGcPolicy: disk size ${diskTotalBytes} is not a non-negative whole number of bytes`);
  }
  const limits = defaultGcLimits(diskTotalBytes);
  return [
    {
      filter: ['type==source.local', 'type==exec.cachemount', 'type==source.git.checkout'],
      keepDuration: 48 * HOUR_MS,
      maxUsedSpace: 512 * 1e6,
    },
    { keepDuration: 60 * DAY_MS, ...limits },
    { ...limits },
    { all: true, ...limits },
  ];
}
