import fc from 'fast-check';
import { expect, it } from 'vitest';
import { EvictionQueue, evictionScores, orderForEviction, type RecordSummary } from '../../src/cache/policy/index.js';
import { NOW, rec } from './fixtures.js';

const recordArb = fc.record({
  lastUsedAt: fc.option(
    fc.integer({ min: 0, max: 20 }).map((d) => NOW - d * 1000),
    { nil: undefined },
  ),
  usageCount: fc.integer({ min: 0, max: 6 }),
  createdAt: fc.integer({ min: 0, max: 3 }),
});
const recordsArb = fc
  .array(recordArb, { maxLength: 40, size: 'max' })
  .map((rows) =>
    rows.map((row, i) =>
      rec(
        `r${i}`,
        row.lastUsedAt === undefined ? { usageCount: row.usageCount, createdAt: row.createdAt } : { ...row },
      ),
    ),
  );

/**
 * BuildKit's ranking restated step by step: sort by last use (never used first) and hand out an index that grows by
 * one at each later time; sort by usage count and hand out an index that grows at each new count, starting from 0.
 */
function referenceScores(records: readonly RecordSummary[]): Map<RecordSummary, number> {
  const lastIndex = new Map<RecordSummary, number>();
  let maxLast = 1;
  let latest = Number.NEGATIVE_INFINITY;
  for (const r of [...records].sort((a, b) => (a.lastUsedAt ?? -Infinity) - (b.lastUsedAt ?? -Infinity))) {
    if (r.lastUsedAt !== undefined && r.lastUsedAt > latest) {
      latest = r.lastUsedAt;
      maxLast++;
    }
    lastIndex.set(r, maxLast);
  }
  const countIndex = new Map<RecordSummary, number>();
  let maxCount = 1;
  let current = 0;
  for (const r of [...records].sort((a, b) => a.usageCount - b.usageCount)) {
    if (r.usageCount !== current) {
      current = r.usageCount;
      maxCount++;
    }
    countIndex.set(r, maxCount);
  }
  return new Map(records.map((r) => [r, lastIndex.get(r)! / maxLast + countIndex.get(r)! / maxCount]));
}

it("scores records exactly as BuildKit's index procedure does", () => {
  fc.assert(
    fc.property(recordsArb, (records) => {
      const scores = evictionScores(records);
      const reference = referenceScores(records);
      for (const r of records) expect(scores.get(r)).toBeCloseTo(reference.get(r)!, 12);
    }),
  );
});

it('orders by score, ties broken deterministically whatever the input order', () => {
  fc.assert(
    fc.property(recordsArb, fc.integer(), (records, seed) => {
      const shuffled = [...records].sort((a, b) => ((a.id.length * 31 + seed) % 7) - ((b.id.length * 17 + seed) % 5));
      const order = orderForEviction(records).map((r) => r.id);
      expect(orderForEviction(shuffled).map((r) => r.id)).toEqual(order);
      const scores = evictionScores(records);
      const byId = new Map(records.map((r) => [r.id, r]));
      for (let i = 1; i < order.length; i++) {
        expect(scores.get(byId.get(order[i - 1]!)!)!).toBeLessThanOrEqual(scores.get(byId.get(order[i]!)!)!);
      }
    }),
  );
});

it('EvictionQueue.first and ordered agree with orderForEviction as records come and go', () => {
  fc.assert(
    fc.property(recordsArb, fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 60 }), (records, ops) => {
      const queue = new EvictionQueue<RecordSummary>();
      const present = new Set<RecordSummary>();
      for (const [add, pick] of ops) {
        if (records.length === 0) break;
        const r = records[pick % records.length]!;
        if (add) {
          queue.add(r);
          present.add(r);
        } else {
          queue.delete(r);
          present.delete(r);
        }
        expect(queue.size).toBe(present.size);
        const expected = orderForEviction(present).map((x) => x.id);
        expect(queue.ordered().map((x) => x.id)).toEqual(expected);
        expect(queue.first()?.id).toBe(expected[0]);
      }
    }),
  );
});
