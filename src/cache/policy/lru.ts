import type { RecordSummary } from './record.js';

/**
 * Eviction order as in BuildKit's sortDeleteRecords. Each record gets two ranks: its place among the distinct
 * last-use times (never used ranks 1, the earliest time 2, ...) and among the distinct usage counts (0 ranks 1, the
 * smallest non-zero count 2, ...). Each rank is divided by the largest rank of its kind and the two shares are summed;
 * the lowest sum goes first. So a record used long ago *and* rarely goes before one that is merely old or merely rare.
 * Ranks depend on the whole candidate set, so the order must be recomputed whenever the set changes.
 *
 * BuildKit's sort is unstable; equal scores are broken here by last use, usage count, creation time and id so the
 * order is deterministic.
 */
export function evictionScores<T extends RecordSummary>(records: Iterable<T>): Map<T, number> {
  const list = [...records];
  const lastUseRank = denseRanks(list.map((r) => r.lastUsedAt).filter((t): t is number => t !== undefined));
  const countRank = denseRanks(list.map((r) => r.usageCount).filter((c) => c !== 0));
  const maxLastUse = lastUseRank.size + 1;
  const maxCount = countRank.size + 1;
  const scores = new Map<T, number>();
  for (const r of list) {
    const lastUse = r.lastUsedAt === undefined ? 1 : lastUseRank.get(r.lastUsedAt)!;
    const count = r.usageCount === 0 ? 1 : countRank.get(r.usageCount)!;
    scores.set(r, lastUse / maxLastUse + count / maxCount);
  }
  return scores;
}

/** Distinct values ascending, ranked from 2 (rank 1 is reserved for "never used" / "count 0"). */
function denseRanks(values: number[]): Map<number, number> {
  const distinct = [...new Set(values)].sort((a, b) => a - b);
  return new Map(distinct.map((v, i) => [v, i + 2]));
}

/** Records sorted by score, ties broken deterministically; sorting scored pairs avoids map lookups per comparison. */
function sortByScore<T extends RecordSummary>(records: Iterable<T>, score: (r: T) => number): T[] {
  const scored = [...records].map((record) => ({ record, score: score(record) }));
  scored.sort((a, b) => a.score - b.score || breakTie(a.record, b.record));
  return scored.map((s) => s.record);
}

function breakTie(a: RecordSummary, b: RecordSummary): number {
  return (
    compareLastUse(a.lastUsedAt, b.lastUsedAt) ||
    a.usageCount - b.usageCount ||
    a.createdAt - b.createdAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** All records, first to evict first. */
export function orderForEviction<T extends RecordSummary>(records: Iterable<T>): T[] {
  const scores = evictionScores(records);
  return sortByScore(scores.keys(), (r) => scores.get(r)!);
}

/** A multiset of numbers that keeps its distinct values sorted, for dense ranks without re-sorting. */
class DistinctValues {
  private readonly counts = new Map<number, number>();
  private readonly sorted: number[] = [];

  add(v: number): void {
    const n = this.counts.get(v) ?? 0;
    this.counts.set(v, n + 1);
    if (n === 0) this.sorted.splice(lowerBound(this.sorted, v), 0, v);
  }

  delete(v: number): void {
    const n = this.counts.get(v) ?? 0;
    if (n > 1) this.counts.set(v, n - 1);
    else if (n === 1) {
      this.counts.delete(v);
      this.sorted.splice(lowerBound(this.sorted, v), 1);
    }
  }

  get size(): number {
    return this.sorted.length;
  }

  /** Value → rank from 2, as {@link denseRanks}. */
  ranks(): Map<number, number> {
    return new Map(this.sorted.map((v, i) => [v, i + 2]));
  }
}

function lowerBound(sorted: readonly number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A changing candidate set that answers "who goes first" in linear time: the distinct last-use times and usage counts
 * are kept sorted as records come and go, so each answer needs no sort. Same order as {@link orderForEviction}.
 */
export class EvictionQueue<T extends RecordSummary> {
  private readonly members = new Set<T>();
  private readonly lastUses = new DistinctValues();
  private readonly counts = new DistinctValues();

  get size(): number {
    return this.members.size;
  }

  has(record: T): boolean {
    return this.members.has(record);
  }

  add(record: T): void {
    if (this.members.has(record)) return;
    this.members.add(record);
    if (record.lastUsedAt !== undefined) this.lastUses.add(record.lastUsedAt);
    if (record.usageCount !== 0) this.counts.add(record.usageCount);
  }

  delete(record: T): void {
    if (!this.members.delete(record)) return;
    if (record.lastUsedAt !== undefined) this.lastUses.delete(record.lastUsedAt);
    if (record.usageCount !== 0) this.counts.delete(record.usageCount);
  }

  values(): IterableIterator<T> {
    return this.members.values();
  }

  /** The record to evict first. */
  first(): T | undefined {
    const score = this.scorer();
    let best: T | undefined;
    let bestScore = Infinity;
    for (const r of this.members) {
      const s = score(r);
      if (best === undefined || s < bestScore || (s === bestScore && breakTie(r, best) < 0)) {
        best = r;
        bestScore = s;
      }
    }
    return best;
  }

  /** Every member, first to evict first (what a dry run would show). */
  ordered(): T[] {
    return sortByScore(this.members, this.scorer());
  }

  private scorer(): (r: T) => number {
    const lastUseRank = this.lastUses.ranks();
    const countRank = this.counts.ranks();
    const maxLastUse = this.lastUses.size + 1;
    const maxCount = this.counts.size + 1;
    return (r) => {
      const lastUse = r.lastUsedAt === undefined ? 1 : lastUseRank.get(r.lastUsedAt)!;
      const count = r.usageCount === 0 ? 1 : countRank.get(r.usageCount)!;
      return lastUse / maxLastUse + count / maxCount;
    };
  }
}

function compareLastUse(a: number | undefined, b: number | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -1;
  if (b === undefined) return 1;
  return a - b;
}
