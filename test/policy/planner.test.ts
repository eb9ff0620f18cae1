import { describe, expect, it } from 'vitest';
import {
  PlannerStateError,
  PolicyError,
  PrunePlanner,
  planPrune,
  type PruneInfo,
  type RecordSummary,
} from '../../src/cache/policy/index.js';
import { DAY, HOUR, NOW, rec, used } from './fixtures.js';

const ids = (records: readonly RecordSummary[], policy: PruneInfo, disk?: { total: number; free: number }) =>
  planPrune(records, policy, NOW, disk).map((d) => d.id);

describe('candidates', () => {
  it('never offers records in use or their ancestors', () => {
    const records = [
      rec('base'),
      rec('mid', { parent: 'base' }),
      rec('top', { parent: 'mid', inUse: true }),
      rec('loose'),
    ];
    expect(ids(records, {}).sort()).toEqual(['loose']);
  });

  it('removes children before parents, exposing parents in the same prune', () => {
    const records = [
      rec('base'),
      rec('mid', { parent: 'base' }),
      rec('leaf1', { parent: 'mid' }),
      rec('leaf2', { parent: 'mid' }),
    ];
    const plan = planPrune(records, {}, NOW);
    expect(plan.map((d) => d.id)).toEqual(['leaf1', 'leaf2', 'mid', 'base']);
    expect(plan.every((d) => d.rule === 'unreferenced' && d.reason === 'prune: unreferenced regular record')).toBe(
      true,
    );
  });

  it('treats every entry of parents (merge and diff records) as a reference', () => {
    const records = [rec('lower'), rec('upper'), rec('merge', { parents: ['lower', 'upper'], inUse: true })];
    expect(ids(records, {})).toEqual([]);
    expect(ids([...records.slice(0, 2), rec('merge', { parents: ['lower', 'upper'] })], {})).toEqual([
      'merge',
      'lower',
      'upper',
    ]);
  });

  it('keeps internal, frontend and shared records unless all is set', () => {
    const records = [
      rec('internal', { recordType: 'internal' }),
      rec('frontend', { recordType: 'frontend' }),
      rec('shared', { shared: true }),
      rec('mount', { recordType: 'exec.cachemount' }),
      rec('local', { recordType: 'source.local' }),
      rec('git', { recordType: 'source.git.checkout' }),
      rec('untyped', { recordType: '' }),
    ];
    expect(ids(records, {}).sort()).toEqual(['git', 'local', 'mount', 'untyped']);
    const all = planPrune(records, { all: true }, NOW);
    expect(all.map((d) => d.id).sort()).toEqual(['frontend', 'git', 'internal', 'local', 'mount', 'shared', 'untyped']);
    expect(all.find((d) => d.id === 'internal')?.reason).toBe('all: unreferenced internal record');
  });

  it('keeps records used within keepDuration; never-used records are candidates whatever their age', () => {
    // 'edge' was last used exactly keepDuration ago: like BuildKit, only uses strictly after the cutoff keep a record.
    const records = [used('fresh', 1), used('edge', 2), used('stale', 3), rec('never', { createdAt: NOW - HOUR })];
    const plan = planPrune(records, { keepDuration: 48 * HOUR }, NOW);
    expect(plan.map((d) => d.id)).toEqual(['never', 'stale', 'edge']);
    expect(plan.map((d) => d.reason)).toEqual([
      'keepDuration: never used',
      'keepDuration: last used 3d ago > 2d',
      'keepDuration: last used 2d ago > 2d',
    ]);
    expect(plan.every((d) => d.rule === 'keepDuration')).toBe(true);
  });

  it('applies filters: any filter may match, selectors within one must all match', () => {
    const records = [
      rec('mount', { recordType: 'exec.cachemount', description: 'go build cache' }),
      rec('local', { recordType: 'source.local', description: 'context' }),
      rec('layer', { description: 'RUN apt-get' }),
    ];
    expect(ids(records, { filter: ['type==exec.cachemount', 'type==source.local'] }).sort()).toEqual([
      'local',
      'mount',
    ]);
    expect(ids(records, { filter: ['type==exec.cachemount,description~=^context'] })).toEqual([]);
    expect(ids(records, { filter: ['type!=regular,description~=/^con/'] })).toEqual(['local']);
    expect(ids(records, { filter: ['description=="RUN apt-get"'] })).toEqual(['layer']);
    expect(ids(records, { filter: ['description~=|apt|'] })).toEqual(['layer']);
    const plan = planPrune(records, { filter: ['type==source.local'] }, NOW);
    expect(plan).toEqual([{ id: 'local', size: 1000, rule: 'filter', reason: 'filter: matches "type==source.local"' }]);
  });

  it('filters on presence fields: inuse, mutable, immutable, shared, private, parents, id', () => {
    const records = [rec('p'), rec('c', { parent: 'p', mutable: true }), rec('s', { shared: true })];
    expect(ids(records, { filter: ['mutable'] })).toEqual(['c']);
    // p is immutable but c (mutable, filtered out) still references it
    expect(ids(records, { filter: ['immutable'], all: true })).toEqual(['s']);
    expect(ids(records, { filter: ['shared'], all: true })).toEqual(['s']);
    expect(ids(records, { filter: ['private'] })).toEqual(['c', 'p']);
    expect(ids(records, { filter: ['parents==p'] })).toEqual(['c']);
    expect(ids(records, { filter: ['id==p'] })).toEqual([]); // still c's parent: c does not match, so p stays referenced
    expect(ids(records, { filter: ['inuse'] })).toEqual([]);
    // absent fields read as "" for != and ~=, as in containerd
    expect(ids(records, { filter: ['description!=x'] })).toEqual(['c', 'p']);
    expect(ids(records, { filter: ['description~=^$'] })).toEqual(['c', 'p']);
    expect(ids(records, { filter: ['description==""'] })).toEqual([]);
  });

  it('rejects bad filters with one error naming each filter and why', () => {
    let error: unknown;
    try {
      new PrunePlanner({
        records: [],
        policy: { filter: ['type=regular', 'colour==red', 'id~=(', 'id=="open'] },
        now: NOW,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyError);
    const issues = (error as PolicyError).issues;
    expect(issues).toHaveLength(4);
    expect(issues[0]).toMatch(/^filter "type=regular": unexpected "="/);
    expect(issues[1]).toMatch(/^filter "colour==red": unknown field "colour"/);
    expect(issues[2]).toMatch(/^filter "id~=\(": invalid regular expression/);
    expect(issues[3]).toMatch(/^filter "id==\\"open": unterminated quoted string/);
  });
});

describe('space targets', () => {
  // 7 records of 1000 bytes, used 7..1 days ago, so LRU order is r7 (oldest) .. r1.
  const seven = Array.from({ length: 7 }, (_, i) => used(`r${7 - i}`, 7 - i));

  it('maxUsedSpace removes least recently used records until the total fits', () => {
    const plan = planPrune(seven, { maxUsedSpace: 4000 }, NOW);
    expect(plan.map((d) => d.id)).toEqual(['r7', 'r6', 'r5']);
    expect(plan[0]).toEqual({
      id: 'r7',
      size: 1000,
      rule: 'maxUsedSpace',
      reason: 'maxUsedSpace: cache 7kB > keep 4kB; least recently used (last used 7d ago, used 1 time)',
    });
    expect(plan[2]?.reason).toContain('cache 5kB > keep 4kB');
  });

  it('stops with nothing removed when the total already equals the keep size', () => {
    expect(ids(seven, { maxUsedSpace: 7000 })).toEqual([]);
  });

  it('minFreeSpace removes the shortfall; met, it removes nothing', () => {
    const short = planPrune(seven, { minFreeSpace: 5000 }, NOW, { total: 10_000, free: 3000 });
    expect(short.map((d) => d.id)).toEqual(['r7', 'r6']);
    expect(short[0]?.reason).toBe(
      'minFreeSpace: disk free 3kB < 5kB, cache 7kB > keep 5kB; least recently used (last used 7d ago, used 1 time)',
    );
    expect(ids(seven, { minFreeSpace: 5000 }, { total: 10_000, free: 6000 })).toEqual([]);
  });

  it('reservedSpace is a floor under the other targets', () => {
    const plan = planPrune(seven, { maxUsedSpace: 1000, reservedSpace: 5000 }, NOW);
    expect(plan.map((d) => d.id)).toEqual(['r7', 'r6']);
    expect(plan[0]?.rule).toBe('reservedSpace');
  });

  it('a shortfall larger than the cache removes every candidate', () => {
    const plan = planPrune(seven, { minFreeSpace: 20_000 }, NOW, { total: 30_000, free: 1000 });
    expect(plan).toHaveLength(7);
    expect(plan[0]?.reason).toContain('keep 0B (shortfall exceeds the cache)');
  });

  it('combines with keepDuration: only records idle long enough go, and the reason says so', () => {
    const plan = planPrune(seven, { maxUsedSpace: 1000, keepDuration: 5 * DAY - HOUR }, NOW);
    expect(plan.map((d) => d.id)).toEqual(['r7', 'r6', 'r5']);
    expect(plan[0]?.reason).toMatch(
      /^maxUsedSpace: cache 7kB > keep 1kB; least recently used .*; unused for over 4d23h$/,
    );
  });

  it('removes a child to reach its parent when the parent is the next least recently used', () => {
    const records = [
      used('old-parent', 9, 1, { size: 3000 }),
      used('child', 2, 5, { parent: 'old-parent', size: 1000 }),
      used('other', 4, 1, { size: 3000 }),
    ];
    expect(ids(records, { maxUsedSpace: 2000 })).toEqual(['other', 'child', 'old-parent']);
    expect(ids(records, { maxUsedSpace: 3500 })).toEqual(['other', 'child']);
    expect(ids(records, { maxUsedSpace: 4000 })).toEqual(['other']);
  });

  it('leaves shared records out of the cache total', () => {
    const records = [used('a', 3, 1, { size: 3000 }), used('b', 2, 1, { size: 3000, shared: true })];
    expect(ids(records, { maxUsedSpace: 3000 })).toEqual([]);
    expect(new PrunePlanner({ records, policy: { maxUsedSpace: 3000 }, now: NOW }).cacheTotal).toBe(3000);
  });

  it("orders by BuildKit's combined rank of last use and usage count, not last use alone", () => {
    // last-use ranks: never=1, a=2, b=3, c=4 (max 4); usage ranks: 0→1, 1→2, 50→3, 100→4 (max 4)
    // scores: never 1/4+1/4=0.5, b 3/4+2/4=1.25, a 2/4+4/4=1.5, c 4/4+3/4=1.75
    const records = [used('a', 30, 100), used('b', 20, 1), used('c', 10, 50), rec('never')];
    expect(ids(records, { maxUsedSpace: 1 })).toEqual(['never', 'b', 'a', 'c']);
  });
});

describe('step-wise planner', () => {
  it('a skipped child keeps its parent referenced; removed() frees parents for the next decision', () => {
    const records = [
      used('base', 10),
      used('mid', 5, 1, { parent: 'base' }),
      used('leaf', 1, 1, { parent: 'mid' }),
      used('side', 3, 1, { parent: 'base' }),
    ];
    const planner = new PrunePlanner({ records, policy: { maxUsedSpace: 1 }, now: NOW });
    const seen: string[] = [];
    for (let d = planner.next(); d !== undefined; d = planner.next()) {
      seen.push(d.id);
      if (d.id === 'leaf') planner.skipped(d.id);
      else planner.removed(d.id);
    }
    expect(seen).toEqual(['side', 'leaf']);
    expect(planner.cacheTotal).toBe(3000);
  });

  it('uses the released size reported by the manager for the total', () => {
    const records = [used('a', 3), used('b', 2), used('c', 1)];
    const planner = new PrunePlanner({ records, policy: { maxUsedSpace: 2000 }, now: NOW });
    const first = planner.next();
    expect(first?.id).toBe('a');
    planner.removed('a', 2500); // the record turned out bigger than its summary said
    expect(planner.cacheTotal).toBe(500);
    expect(planner.next()).toBeUndefined();
  });

  it('enforces one outstanding decision at a time and leaves state unchanged on misuse', () => {
    const planner = new PrunePlanner({ records: [rec('a'), rec('b')], policy: {}, now: NOW });
    expect(() => planner.removed('a')).toThrow(
      /^PrunePlanner.removed "a": was not offered \(no decision is pending\)$/,
    );
    const d = planner.next();
    expect(() => planner.next()).toThrow(PlannerStateError);
    expect(() => planner.next()).toThrow(/decision for "a" not yet reported/);
    expect(() => planner.skipped('b')).toThrow(/^PrunePlanner.skipped "b": was not offered \(pending is "a"\)$/);
    expect(() => planner.removed('a', -1)).toThrow(/released size -1/);
    expect(planner.cacheTotal).toBe(2000);
    planner.removed(d!.id);
    expect(planner.cacheTotal).toBe(1000);
    expect(planner.next()?.id).toBe('b');
  });

  it('validates its input: policy, disk for minFreeSpace, duplicate ids, sizes', () => {
    const attempt = (input: ConstructorParameters<typeof PrunePlanner>[0]) => {
      try {
        new PrunePlanner(input);
      } catch (err) {
        expect(err).toBeInstanceOf(PolicyError);
        return (err as PolicyError).message;
      }
      throw new Error('expected a PolicyError');
    };
    expect(attempt({ records: [], policy: { maxUsedSpace: -1 }, now: NOW })).toContain(
      'maxUsedSpace: must not be negative',
    );
    const message = attempt({
      records: [rec('a'), rec('a'), rec('b', { size: -1 })],
      policy: { minFreeSpace: 1 },
      now: NaN,
      cacheTotal: 0.5,
    });
    expect(message).toContain('cacheTotal: 0.5');
    const mixed = attempt({
      records: [rec('d', { size: -2 })],
      policy: { maxUsedSpace: -1, filter: ['nope'] },
      now: NOW,
    });
    expect(mixed).toContain('maxUsedSpace: must not be negative');
    expect(mixed).toContain('record "d": size -2');
    const mixedFilter = attempt({ records: [rec('d', { size: -2 })], policy: { filter: ['nope'] }, now: NOW });
    expect(mixedFilter).toContain('filter "nope": unknown field');
    expect(mixedFilter).toContain('record "d": size -2');
    const fields = attempt({
      records: [rec('c', { usageCount: -1, createdAt: NaN, lastUsedAt: Infinity })],
      policy: {},
      now: NOW,
    });
    expect(fields).toContain('record "c": usageCount -1');
    expect(fields).toContain('record "c": createdAt NaN');
    expect(fields).toContain('record "c": lastUsedAt Infinity');
    expect(message).toContain('disk: required when minFreeSpace is set');
    expect(message).toContain('duplicate id "a"');
    expect(message).toContain('record "b": size -1');
    expect(message).toContain('now: NaN');
  });
});
