import { formatAge, formatDuration, formatSize } from '../../units/index.js';
import { PlannerStateError, PolicyError } from './errors.js';
import { matchesFilters, parseFilters, type FilterSelectors } from './filters.js';
import { explainKeepBytes, needsDiskStats, type DiskStats, type KeepBytesLimit } from './keep-bytes.js';
import { EvictionQueue, orderForEviction } from './lru.js';
import { parsePruneInfo, type PruneInfo } from './prune-info.js';
import { PROTECTED_RECORD_TYPES, parentsOf, recordTypeOf, type RecordSummary } from './record.js';

/** The policy rule a removal is attributed to. */
export type PruneRule =
  | Exclude<KeepBytesLimit, 'none' | 'minFreeSpaceSatisfied'>
  | 'keepDuration'
  | 'filter'
  | 'all'
  | 'unreferenced';

export interface PruneDecision {
  id: string;
  /** Size the planner expects to free (the summary's size). */
  size: number;
  rule: PruneRule;
  /** For people: the rule, the numbers behind it and why this record went first. */
  reason: string;
}

export interface PrunePlannerInput {
  records: readonly RecordSummary[];
  policy: PruneInfo;
  /** Milliseconds since the epoch; keepDuration is measured back from here. */
  now: number;
  /** Required when the policy sets minFreeSpace. */
  disk?: DiskStats;
  /** Unshared cache bytes; defaults to the sum of the sizes of records that are not shared. */
  cacheTotal?: number;
  /**
   * When `records` is only part of the cache (the ones a policy can reach, read from an index): how
   * many present records, in the part or not, name each record as a parent. By default the children
   * are counted among `records`.
   */
  childCounts?: (id: string) => number;
}

/**
 * Decides, one record at a time, what a prune policy removes, following BuildKit's prune loop:
 *  - only unreferenced records are candidates: not `inUse` and not the parent of a record still present, so children
 *    go before their parents and a removed child frees its parent within the same prune;
 *  - without `all`, internal and frontend records and externally shared ones are kept;
 *  - with keepDuration, records last used within it are kept (never-used records are candidates);
 *  - filters narrow the candidates further;
 *  - with a size target (maxUsedSpace, minFreeSpace, reservedSpace) records go least recently used first, re-ranked
 *    after each removal, until the unshared cache total fits the keep size; without one, every candidate goes, pass
 *    by pass (a pass's removals expose their parents to the next pass).
 *
 * One deliberate difference: BuildKit stops only once the total is strictly below the keep size, so a total exactly
 * at it loses one more record (and "only minFreeSpace, enough free" loses one); here a total at the keep size fits.
 *
 * Protocol: call `next()`, then report the outcome with `removed(id)` or `skipped(id)` (e.g. the manager found a new
 * ref) before calling `next()` again. Skipped records stay present, so their parents stay referenced.
 * `nextBatch(max)` offers several decisions at once where their outcomes cannot change each other (the rest of a
 * pass); every one is then reported, in any order, before the next call.
 */
export class PrunePlanner {
  readonly policy: PruneInfo;
  readonly keepBytes: number;
  readonly limitedBy: KeepBytesLimit;
  private total: number;
  private readonly records = new Map<string, RecordSummary>();
  private readonly childCount = new Map<string, number>();
  private readonly filters: FilterSelectors[];
  /** Records that could go right now; kept up to date as removals expose parents. */
  private readonly candidates = new EvictionQueue<RecordSummary>();
  /** Decisions offered and not yet reported, by id. */
  private readonly pending = new Map<string, PruneDecision>();
  /** The rest of the current pass when there is no size target, last to offer first. */
  private pass: RecordSummary[] = [];
  private readonly now: number;
  private readonly disk: DiskStats;

  constructor(input: PrunePlannerInput) {
    // Policy, filter and record problems are gathered into one error so a caller sees all of them at once.
    const issues: string[] = [];
    let policy: PruneInfo = {};
    let filters: FilterSelectors[] = [];
    try {
      policy = parsePruneInfo(input.policy);
      filters = parseFilters(policy.filter ?? []);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      issues.push(...err.issues);
    }
    this.policy = policy;
    this.filters = filters;
    if (!Number.isFinite(input.now)) issues.push(`now: ${String(input.now)} is not a finite time`);
    if (needsDiskStats(this.policy) && input.disk === undefined) issues.push('disk: required when minFreeSpace is set');
    if (input.cacheTotal !== undefined && (!Number.isSafeInteger(input.cacheTotal) || input.cacheTotal < 0)) {
      issues.push(`cacheTotal: ${input.cacheTotal} is not a non-negative whole number of bytes`);
    }
    for (const r of input.records) {
      if (this.records.has(r.id)) issues.push(`records: duplicate id ${JSON.stringify(r.id)}`);
      const name = `record ${JSON.stringify(r.id)}`;
      if (!Number.isSafeInteger(r.size) || r.size < 0)
        issues.push(`${name}: size ${r.size} is not a non-negative integer`);
      if (!Number.isSafeInteger(r.usageCount) || r.usageCount < 0)
        issues.push(`${name}: usageCount ${r.usageCount} is not a non-negative integer`);
      if (!Number.isFinite(r.createdAt)) issues.push(`${name}: createdAt ${r.createdAt} is not a finite time`);
      if (r.lastUsedAt !== undefined && !Number.isFinite(r.lastUsedAt))
        issues.push(`${name}: lastUsedAt ${r.lastUsedAt} is not a finite time`);
      this.records.set(r.id, r);
    }
    if (issues.length > 0) throw new PolicyError('prune plan input', issues);
    const { childCounts } = input;
    if (childCounts) for (const r of input.records) this.childCount.set(r.id, childCounts(r.id));
    else
      for (const r of input.records) {
        for (const p of parentsOf(r)) this.childCount.set(p, (this.childCount.get(p) ?? 0) + 1);
      }
    this.now = input.now;
    this.disk = input.disk ?? { total: 0, free: 0 };
    this.total = input.cacheTotal ?? input.records.reduce((sum, r) => (r.shared ? sum : sum + r.size), 0);
    const keep = explainKeepBytes(this.policy, this.disk, this.total);
    this.keepBytes = keep.keepBytes;
    this.limitedBy = keep.limitedBy;
    for (const r of this.records.values()) if (this.isCandidate(r)) this.candidates.add(r);
  }

  /** Unshared cache bytes left after the removals reported so far. */
  get cacheTotal(): number {
    return this.total;
  }

  /** True when the policy has a size target and removes one least-recently-used record at a time. */
  get sizeTargeted(): boolean {
    return this.limitedBy !== 'none';
  }

  next(): PruneDecision | undefined {
    this.refuseWhilePending('next');
    const decision = this.sizeTargeted ? this.nextBySize() : this.nextInPass();
    if (decision) this.pending.set(decision.id, decision);
    return decision;
  }

  /**
   * Up to `max` decisions whose outcomes are independent: the rest of the current pass (none is another's parent,
   * and a pass is fixed when it starts). With a size target each removal re-ranks what follows, so one at a time.
   */
  nextBatch(max: number): PruneDecision[] {
    this.refuseWhilePending('nextBatch');
    const first = this.next();
    if (!first || this.sizeTargeted) return first ? [first] : [];
    const batch = [first];
    while (batch.length < max && this.pass.length > 0) {
      const decision = this.nextInPass();
      if (!decision) break;
      this.pending.set(decision.id, decision);
      batch.push(decision);
    }
    return batch;
  }

  private refuseWhilePending(op: 'next' | 'nextBatch'): void {
    const [waiting] = this.pending.keys();
    if (waiting === undefined) return;
    throw new PlannerStateError(
      op,
      undefined,
      `decision for ${JSON.stringify(waiting)} not yet reported as removed or skipped`,
    );
  }

  /** The pending record is gone; `releasedSize` (default: its summary size) comes off the cache total. */
  removed(id: string, releasedSize?: number): void {
    if (releasedSize !== undefined && (!Number.isSafeInteger(releasedSize) || releasedSize < 0)) {
      throw new PlannerStateError(
        'removed',
        id,
        `released size ${releasedSize} is not a non-negative whole number of bytes`,
      );
    }
    const decision = this.takePending(id, 'removed');
    const record = this.records.get(id)!;
    this.records.delete(id);
    this.candidates.delete(record);
    for (const p of parentsOf(record)) {
      const left = (this.childCount.get(p) ?? 1) - 1;
      this.childCount.set(p, left);
      const parent = this.records.get(p);
      if (left === 0 && parent !== undefined && this.isCandidate(parent)) this.candidates.add(parent);
    }
    // Shared records were never counted in the total (BuildKit subtracts them anyway; that would undercount).
    if (!record.shared) this.total -= releasedSize ?? decision.size;
  }

  /** The pending record was not removed; it is never offered again in this prune. */
  skipped(id: string): void {
    this.takePending(id, 'skipped');
    this.candidates.delete(this.records.get(id)!);
  }

  private takePending(id: string, op: 'removed' | 'skipped'): PruneDecision {
    const decision = this.pending.get(id);
    if (decision === undefined) {
      const [waiting] = this.pending.keys();
      const expected = waiting === undefined ? 'no decision is pending' : `pending is ${JSON.stringify(waiting)}`;
      throw new PlannerStateError(op, id, `was not offered (${expected})`);
    }
    this.pending.delete(id);
    return decision;
  }

  /** Whether a present record may go now; only the child count changes during a prune. */
  private isCandidate(r: RecordSummary): boolean {
    if (r.inUse || (this.childCount.get(r.id) ?? 0) > 0) return false;
    if (this.policy.all !== true && (PROTECTED_RECORD_TYPES.has(recordTypeOf(r)) || r.shared)) return false;
    const keepDuration = this.policy.keepDuration ?? 0;
    // Only a use strictly after the cutoff keeps a record, as in BuildKit; never-used records have no use to count.
    if (keepDuration !== 0 && r.lastUsedAt !== undefined && r.lastUsedAt > this.now - keepDuration) return false;
    return matchesFilters(this.filters, r);
  }

  private nextBySize(): PruneDecision | undefined {
    if (this.total <= this.keepBytes) return undefined;
    const first = this.candidates.first();
    if (first === undefined) return undefined;
    const rule = this.limitedBy as PruneRule;
    return {
      id: first.id,
      size: first.size,
      rule,
      reason: `${this.spaceReason()}; ${this.usageReason(first)}${this.selectionSuffix(first)}`,
    };
  }

  private nextInPass(): PruneDecision | undefined {
    // Every record of a pass is reported removed or skipped before the pass ends, so what remains in the candidate
    // set then is exactly what the pass exposed.
    if (this.pass.length === 0) this.pass = orderForEviction(this.candidates.values()).reverse();
    const record = this.pass.pop();
    if (record === undefined) return undefined;
    const keepDuration = this.policy.keepDuration ?? 0;
    if (keepDuration !== 0) {
      const age =
        record.lastUsedAt === undefined
          ? 'never used'
          : `last used ${formatAge(this.now - record.lastUsedAt)} ago > ${formatDuration(keepDuration)}`;
      return {
        id: record.id,
        size: record.size,
        rule: 'keepDuration',
        reason: `keepDuration: ${age}${this.selectionSuffix(record)}`,
      };
    }
    const matched = this.matchedFilter(record);
    if (matched !== undefined) {
      return {
        id: record.id,
        size: record.size,
        rule: 'filter',
        reason: `filter: matches ${JSON.stringify(matched)}${this.allSuffix(record)}`,
      };
    }
    if (this.policy.all === true)
      return {
        id: record.id,
        size: record.size,
        rule: 'all',
        reason: `all: unreferenced ${recordTypeOf(record)} record`,
      };
    return {
      id: record.id,
      size: record.size,
      rule: 'unreferenced',
      reason: `prune: unreferenced ${recordTypeOf(record)} record`,
    };
  }

  private spaceReason(): string {
    const total = formatSize(this.total);
    const keep = formatSize(this.keepBytes);
    switch (this.limitedBy) {
      case 'minFreeSpace':
        return `minFreeSpace: disk free ${formatSize(this.disk.free)} < ${formatSize(this.policy.minFreeSpace ?? 0)}, cache ${total} > keep ${keep}${this.keepBytes === 0 ? ' (shortfall exceeds the cache)' : ''}`;
      case 'reservedSpace':
        return `reservedSpace: cache ${total} > keep ${keep} (reserved floor)`;
      default:
        return `${this.limitedBy}: cache ${total} > keep ${keep}`;
    }
  }

  private usageReason(r: RecordSummary): string {
    const last = r.lastUsedAt === undefined ? 'never used' : `last used ${formatAge(this.now - r.lastUsedAt)} ago`;
    return `least recently used (${last}, used ${r.usageCount} time${r.usageCount === 1 ? '' : 's'})`;
  }

  private selectionSuffix(r: RecordSummary): string {
    const parts: string[] = [];
    const keepDuration = this.policy.keepDuration ?? 0;
    if (this.sizeTargeted && keepDuration !== 0) parts.push(`unused for over ${formatDuration(keepDuration)}`);
    const matched = this.matchedFilter(r);
    if (matched !== undefined) parts.push(`matches filter ${JSON.stringify(matched)}`);
    return parts.length === 0 ? '' : `; ${parts.join('; ')}`;
  }

  private allSuffix(r: RecordSummary): string {
    return this.policy.all === true ? `; all: ${recordTypeOf(r)} record` : '';
  }

  private matchedFilter(r: RecordSummary): string | undefined {
    const texts = this.policy.filter ?? [];
    const index = this.filters.findIndex((selectors) => matchesFilters([selectors], r));
    return index < 0 ? undefined : texts[index];
  }
}

/** Every decision a policy makes when each removal succeeds and frees its summary's size, in order. */
export function planPrune(
  records: readonly RecordSummary[],
  policy: PruneInfo,
  now: number,
  disk?: DiskStats,
  cacheTotal?: number,
): PruneDecision[] {
  const input: PrunePlannerInput = { records, policy, now };
  if (disk !== undefined) input.disk = disk;
  if (cacheTotal !== undefined) input.cacheTotal = cacheTotal;
  const planner = new PrunePlanner(input);
  const plan: PruneDecision[] = [];
  for (let d = planner.next(); d !== undefined; d = planner.next()) {
    plan.push(d);
    planner.removed(d.id);
  }
  return plan;
}
