import type { RecordSummary } from './record.js';

/**
 * Orders GC candidates the way BuildKit's sortDeleteRecords does. Each record gets two ranks: its position among the
 * distinct last-use times (never used ranks lowest) and among the distinct usage counts. Each rank is divided by
 * the largest rank of its kind and the two shares are summed; the lowest sum goes first. So a record used long ago
 * *and* rarely goes before one that is merely old or merely rare.
 *
 * BuildKit's sort is unstable; equal scores are broken here by last use, usage count, creation time and id so the
 * order is deterministic.
 */
export function orderForEviction<T extends RecordSummary>(records: readonly T[]): T[] {
  const byLastUse = [...records].sort((a, b) => compareLastUse(a.lastUsedAt, b.lastUsedAt));
  const lastUseRank = new Map<T, number>();
  let maxLastUseRank = 1;
  let latest = -Infinity;
  for (const r of byLastUse) {
    if (r.lastUsedAt !== undefined && r.lastUsedAt > latest) {
      latest = r.lastUsedAt;
      maxLastUseRank++;
    }
    lastUseRank.set(r, maxLastUseRank);
  }

  const byCount = [...records].sort((a, b) => a.usageCount - b.usageCount);
  const countRank = new Map<T, number>();
  let maxCountRank = 1;
  let count = 0;
  for (const r of byCount) {
    if (r.usageCount !== count) {
      count = r.usageCount;
      maxCountRank++;
    }
    countRank.set(r, maxCountRank);
  }

  const score = (r: T) => lastUseRank.get(r)! / maxLastUseRank + countRank.get(r)! / maxCountRank;
  return [...records].sort(
    (a, b) =>
      score(a) - score(b) ||
      compareLastUse(a.lastUsedAt, b.lastUsedAt) ||
      a.usageCount - b.usageCount ||
      a.createdAt - b.createdAt ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

function compareLastUse(a: number | undefined, b: number | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -1;
  if (b === undefined) return 1;
  return a - b;
}
