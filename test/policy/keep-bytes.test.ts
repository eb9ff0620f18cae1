import { mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  computeKeepBytes,
  diskStats,
  explainKeepBytes,
  type DiskStats,
  type KeepBytesLimit,
  type PruneInfo,
} from '../../src/cache/policy/index.js';

interface Case {
  name: string;
  cacheTotal: number;
  disk: DiskStats;
  policy: PruneInfo;
  keep: number;
  limitedBy: KeepBytesLimit;
}

// Scenarios from BuildKit's calculateKeepBytes test table: a 10000-byte disk, sizes as fractions of it.
const roomy = { total: 10_000, free: 9_000 };
const cacheFillsDisk = { total: 10_000, free: 3_000 };
const othersUseDisk = { total: 10_000, free: 2_000 }; // 4000 cache + 4000 belonging to something else

const cases: Case[] = [
  { name: 'no limits: no keep target', cacheTotal: 1000, disk: roomy, policy: {}, keep: 0, limitedBy: 'none' },
  {
    name: 'cap only, plenty free',
    cacheTotal: 1000,
    disk: roomy,
    policy: { maxUsedSpace: 2000 },
    keep: 2000,
    limitedBy: 'maxUsedSpace',
  },
  {
    name: 'free target only, cache is the whole shortfall',
    cacheTotal: 7000,
    disk: cacheFillsDisk,
    policy: { minFreeSpace: 5000 },
    keep: 5000,
    limitedBy: 'minFreeSpace',
  },
  {
    name: 'free target below the reserved floor',
    cacheTotal: 7000,
    disk: cacheFillsDisk,
    policy: { minFreeSpace: 5000, reservedSpace: 6000 },
    keep: 6000,
    limitedBy: 'reservedSpace',
  },
  {
    name: 'all three, cap is the tighter',
    cacheTotal: 7000,
    disk: cacheFillsDisk,
    policy: { minFreeSpace: 5000, reservedSpace: 2000, maxUsedSpace: 4000 },
    keep: 4000,
    limitedBy: 'maxUsedSpace',
  },
  {
    name: 'cap only, other data on disk',
    cacheTotal: 4000,
    disk: othersUseDisk,
    policy: { maxUsedSpace: 2000 },
    keep: 2000,
    limitedBy: 'maxUsedSpace',
  },
  {
    name: 'free target only, other data on disk',
    cacheTotal: 4000,
    disk: othersUseDisk,
    policy: { minFreeSpace: 5000 },
    keep: 1000,
    limitedBy: 'minFreeSpace',
  },
  {
    name: 'free target with reserved floor, other data on disk',
    cacheTotal: 4000,
    disk: othersUseDisk,
    policy: { minFreeSpace: 5000, reservedSpace: 2000 },
    keep: 2000,
    limitedBy: 'reservedSpace',
  },
  {
    name: 'all three, other data on disk: floor wins over free target',
    cacheTotal: 4000,
    disk: othersUseDisk,
    policy: { minFreeSpace: 5000, reservedSpace: 2000, maxUsedSpace: 4000 },
    keep: 2000,
    limitedBy: 'reservedSpace',
  },
  // Beyond BuildKit's table: the branches it leaves implicit.
  {
    name: 'free target already met: keep everything',
    cacheTotal: 4000,
    disk: roomy,
    policy: { minFreeSpace: 5000 },
    keep: 4000,
    limitedBy: 'minFreeSpaceSatisfied',
  },
  {
    name: 'free target met with a cap: cap applies',
    cacheTotal: 4000,
    disk: roomy,
    policy: { minFreeSpace: 5000, maxUsedSpace: 3000 },
    keep: 3000,
    limitedBy: 'maxUsedSpace',
  },
  {
    name: 'reserved only',
    cacheTotal: 4000,
    disk: roomy,
    policy: { reservedSpace: 1500 },
    keep: 1500,
    limitedBy: 'reservedSpace',
  },
  {
    name: 'shortfall larger than the cache: keep nothing',
    cacheTotal: 1000,
    disk: { total: 10_000, free: 0 },
    policy: { minFreeSpace: 5000 },
    keep: 0,
    limitedBy: 'minFreeSpace',
  },
  {
    name: 'shortfall larger than the cache, reserved floor holds',
    cacheTotal: 1000,
    disk: { total: 10_000, free: 0 },
    policy: { minFreeSpace: 5000, reservedSpace: 300 },
    keep: 300,
    limitedBy: 'reservedSpace',
  },
  {
    name: 'zero limits are no limits',
    cacheTotal: 1000,
    disk: roomy,
    policy: { maxUsedSpace: 0, minFreeSpace: 0, reservedSpace: 0 },
    keep: 0,
    limitedBy: 'none',
  },
];

describe('computeKeepBytes', () => {
  it.each(cases)('$name', ({ cacheTotal, disk, policy, keep, limitedBy }) => {
    expect(computeKeepBytes(policy, disk, cacheTotal)).toBe(keep);
    expect(explainKeepBytes(policy, disk, cacheTotal)).toEqual({ keepBytes: keep, limitedBy });
  });
});

describe('diskStats', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cachekit-disk-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('matches df for the filesystem holding a directory', async () => {
    const stats = await diskStats(dir);
    // df reports 1K blocks: size and available (f_bavail). Compare to within one block.
    const line = execFileSync('df', ['-k', '--output=size,avail', dir], { encoding: 'utf8' }).trim().split('\n')[1]!;
    const [sizeK, availK] = line.trim().split(/\s+/).map(Number) as [number, number];
    expect(Math.abs(stats.total - sizeK * 1024)).toBeLessThanOrEqual(1024);
    // Free space moves as other processes write; the check is structural plus a loose df agreement.
    expect(stats.free).toBeGreaterThanOrEqual(stats.available);
    expect(stats.total).toBeGreaterThanOrEqual(stats.free);
    expect(Math.abs(stats.available - availK * 1024)).toBeLessThan(Math.max(64 * 1024 * 1024, stats.total * 0.01));
  });

  it('fails with the path in the error for a missing directory', async () => {
    await expect(diskStats(join(dir, 'missing'))).rejects.toThrow(/missing/);
  });
});
