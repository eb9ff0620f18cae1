import { describe, expect, it } from 'vitest';
import {
  defaultGcLimits,
  defaultGcPolicy,
  diskPercentAsBytes,
  parsePruneInfo,
  planPrune,
} from '../../src/cache/policy/index.js';
import { DAY, HOUR, NOW, used } from './fixtures.js';

const GB = 1e9;
const GIB = 2 ** 30;

describe('diskPercentAsBytes', () => {
  it.each([
    [10, 100 * GB, 10 * GB], // 9.31 GiB → 9 + 1
    [20, 100 * GB, 19 * GB], // 18.6 GiB → 18 + 1
    [10, 20 * GIB, 3 * GB], // exactly 2 GiB still rounds up a whole step
    [1, 1 * GB, 1 * GB], // tiny shares get at least 1 GB
    [50, 0, 2 * GB], // unknown disk: BuildKit's default cap
    [0, 100 * GB, 0],
  ])('%d%% of %d bytes is %d', (percent, total, bytes) => {
    expect(diskPercentAsBytes(percent, total)).toBe(bytes);
  });
});

describe('defaultGcLimits', () => {
  it.each([
    ['1 TB: both caps apply', 1e12, { reservedSpace: 10 * GB, minFreeSpace: 187 * GB, maxUsedSpace: 100 * GB }],
    [
      '100 GB: reserve lands exactly on its cap',
      100 * GB,
      { reservedSpace: 10 * GB, minFreeSpace: 19 * GB, maxUsedSpace: 75 * GB },
    ],
    ['50 GB: percentages only', 50 * GB, { reservedSpace: 5 * GB, minFreeSpace: 10 * GB, maxUsedSpace: 38 * GB }],
    ['unknown size', 0, { reservedSpace: 2 * GB, minFreeSpace: 2 * GB, maxUsedSpace: 2 * GB }],
  ])('%s', (_name, total, limits) => {
    expect(defaultGcLimits(total)).toEqual(limits);
  });
});

describe('defaultGcPolicy', () => {
  it('lists the four buildkitd policies, each a valid PruneInfo', () => {
    const policies = defaultGcPolicy(1e12);
    const limits = { reservedSpace: 10 * GB, minFreeSpace: 187 * GB, maxUsedSpace: 100 * GB };
    expect(policies).toEqual([
      {
        filter: ['type==source.local', 'type==exec.cachemount', 'type==source.git.checkout'],
        keepDuration: 48 * HOUR,
        maxUsedSpace: 512e6,
      },
      { keepDuration: 60 * DAY, ...limits },
      limits,
      { all: true, ...limits },
    ]);
    for (const p of policies) expect(parsePruneInfo(p)).toEqual(p);
  });

  it('the first policy only takes reproducible sources idle for 48h once the cache passes 512 MB', () => {
    const [first] = defaultGcPolicy(1e12);
    const records = [
      used('mount-old', 3, 1, { recordType: 'exec.cachemount', size: 300e6 }),
      used('mount-new', 1, 1, { recordType: 'exec.cachemount', size: 300e6 }),
      used('local-old', 4, 1, { recordType: 'source.local', size: 100e6 }),
      used('git-old', 5, 1, { recordType: 'source.git.checkout', size: 100e6 }),
      used('layer-old', 30, 1, { size: 100e6 }),
    ];
    // 900 MB total: removing the two oldest eligible sources brings it to 700 MB, still over, then mount-old.
    expect(planPrune(records, first!, NOW).map((d) => d.id)).toEqual(['git-old', 'local-old', 'mount-old']);
    // 600 MB: the oldest eligible source alone brings it under 512 MB.
    expect(planPrune(records.slice(1), first!, NOW).map((d) => d.id)).toEqual(['git-old']);
    // 500 MB: under the cap, nothing goes even though old sources exist.
    expect(planPrune(records.slice(2), first!, NOW).map((d) => d.id)).toEqual([]);
  });

  it('rejects a negative or fractional disk size naming it', () => {
    expect(() => defaultGcPolicy(-1)).toThrow(/disk size -1/);
    expect(() => defaultGcPolicy(1.5)).toThrow(/disk size 1.5/);
  });
});
