import fc from 'fast-check';
import { expect, it } from 'vitest';
import { explainKeepBytes, planPrune, type PruneInfo, type RecordSummary } from '../../src/cache/policy/index.js';
import { DAY, NOW } from './fixtures.js';

// Regular records dominate so that plans without `all` still have work to do.
const recordTypes = [
  'regular',
  'regular',
  'regular',
  'regular',
  'internal',
  'frontend',
  'source.local',
  'exec.cachemount',
  'source.git.checkout',
];
const rarely = fc.integer({ min: 0, max: 9 }).map((n) => n === 0);

/** Records r0..rN; each may name an earlier record as parent, so the graph is a forest. */
const recordsArb = fc
  .array(
    fc.record({
      parentOffset: fc.option(fc.nat(), { nil: undefined }),
      size: fc.integer({ min: 0, max: 5000 }),
      lastUsedDaysAgo: fc.option(fc.integer({ min: 0, max: 90 }), { nil: undefined }),
      usageCount: fc.nat({ max: 5 }),
      recordType: fc.constantFrom(...recordTypes),
      shared: rarely,
      inUse: rarely,
    }),
    { maxLength: 30, size: 'max' },
  )
  .map((rows) =>
    rows.map((row, i): RecordSummary => {
      const record: RecordSummary = {
        id: `r${i}`,
        size: row.size,
        createdAt: NOW - 100 * DAY,
        usageCount: row.lastUsedDaysAgo === undefined ? 0 : row.usageCount,
        recordType: row.recordType,
        shared: row.shared,
        inUse: row.inUse,
      };
      if (row.lastUsedDaysAgo !== undefined) record.lastUsedAt = NOW - row.lastUsedDaysAgo * DAY;
      if (row.parentOffset !== undefined && i > 0) record.parent = `r${row.parentOffset % i}`;
      return record;
    }),
  );

const sometimes = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });

const policyArb = fc
  .record({
    all: fc.boolean(),
    keepDuration: sometimes(fc.integer({ min: 0, max: 90 }).map((d) => d * DAY)),
    maxUsedSpace: sometimes(fc.integer({ min: 0, max: 25_000 })),
    reservedSpace: sometimes(fc.integer({ min: 0, max: 10_000 })),
    minFreeSpace: sometimes(fc.integer({ min: 0, max: 60_000 })),
  })
  .map(
    (fields) => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as PruneInfo,
  ) satisfies fc.Arbitrary<PruneInfo>;

const diskArb = fc.record({ total: fc.constant(100_000), free: fc.integer({ min: 0, max: 100_000 }) });

/** An independent statement of which records a policy may remove right now. */
function eligible(r: RecordSummary, present: ReadonlyMap<string, RecordSummary>, policy: PruneInfo): boolean {
  if (r.inUse) return false;
  for (const other of present.values()) if (other.parent === r.id) return false;
  if (!policy.all && (r.shared || r.recordType === 'internal' || r.recordType === 'frontend')) return false;
  const keep = policy.keepDuration ?? 0;
  if (keep !== 0 && r.lastUsedAt !== undefined && r.lastUsedAt > NOW - keep) return false;
  return true;
}

it('removes only eligible records, children first, and stops exactly when the policy is satisfied', () => {
  fc.assert(
    fc.property(recordsArb, policyArb, diskArb, (records, policy, disk) => {
      const plan = planPrune(records, policy, NOW, disk);
      const present = new Map(records.map((r) => [r.id, r]));
      let total = records.reduce((sum, r) => (r.shared ? sum : sum + r.size), 0);
      const { keepBytes, limitedBy } = explainKeepBytes(policy, disk, total);
      const targeted = limitedBy !== 'none';

      for (const decision of plan) {
        const record = present.get(decision.id);
        expect(record, `${decision.id} offered twice or unknown`).toBeDefined();
        expect(eligible(record!, present, policy), `${decision.id} was not eligible`).toBe(true);
        if (targeted) expect(total).toBeGreaterThan(keepBytes);
        expect(decision.reason.length).toBeGreaterThan(0);
        present.delete(decision.id);
        if (!record!.shared) total -= record!.size;
      }

      // Afterwards either the target is met or nothing else could go.
      if (!targeted || total > keepBytes) {
        for (const r of present.values()) expect(eligible(r, present, policy), `${r.id} left behind`).toBe(false);
      }
    }),
    { numRuns: 300 },
  );
});

it('under a size target, a record both older and less used goes before one it dominates', () => {
  const flat = recordsArb.map((records) =>
    records.map(({ parent: _parent, ...r }) => ({ ...r, inUse: false, shared: false, recordType: 'regular' })),
  );
  const lastUse = (r: RecordSummary) => r.lastUsedAt ?? -Infinity;
  fc.assert(
    fc.property(flat, fc.integer({ min: 0, max: 40_000 }), (records, maxUsedSpace) => {
      const order = planPrune(records, { maxUsedSpace }, NOW).map((d) => d.id);
      const position = (id: string) => {
        const i = order.indexOf(id);
        return i < 0 ? Infinity : i;
      };
      for (const a of records) {
        for (const b of records) {
          const dominates =
            lastUse(a) <= lastUse(b) &&
            a.usageCount <= b.usageCount &&
            (lastUse(a) < lastUse(b) || a.usageCount < b.usageCount);
          if (dominates && position(b.id) !== Infinity)
            expect(position(a.id), `${a.id} should go before ${b.id}`).toBeLessThan(position(b.id));
        }
      }
    }),
    { numRuns: 200 },
  );
});
