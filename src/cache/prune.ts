import { Observable } from 'rxjs';
import {
  diskStats,
  isPolicyError,
  parsePruneFilters,
  parsePruneInfo,
  PrunePlanner,
  type DiskStats,
  type PruneInfo,
  type PruneRule,
} from './policy/index.js';
import { needsDiskStats } from './policy/keep-bytes.js';
import { CacheError, isCacheError } from './errors.js';
import { usageSummary, type UsageInfo } from './usage.js';
import type { UndeletedDirectory } from '../snapshot/types.js';

/** A record a prune removed (or, in a dry run, would remove), with the rule that sent it. */
export interface PrunedRecord extends UsageInfo {
  rule: PruneRule;
  reason: string;
  /** Index of the policy in the prune call that removed it. */
  policy: number;
  dryRun: boolean;
}

export interface PruneHost {
  root: string;
  /** Current usage of every record (or of those named), sizes included. */
  usage(only?: readonly string[]): Promise<UsageInfo[]>;
  /**
   * Ids that may have been last used at or before `at` (never-used ones too), from the last-use index and
   * the records in memory; a superset, each checked by the planner. Undefined when there is no index.
   */
  usedUpTo?(at: number): string[] | undefined;
  /** How many present records name the record as their parent. */
  childrenOf(id: string): number;
  /** Removes one record if the supervisor still finds it unreferenced; LOCKED otherwise. */
  removeRecord(id: string, reason: string): Promise<void>;
  /** Resolves once the snapshot directories of every removal so far are deleted (they go in the background). */
  deleted(): Promise<void>;
  /** Removed snapshots' directories still on disk because deleting them failed. */
  undeleted(): readonly UndeletedDirectory[];
  /** The manager's clock, for keepDuration. */
  now(): number;
}

/** Removals asked for in one turn: their `removing` marks share one LMDB transaction, as do their deletes. */
export const PRUNE_BATCH = 128;

/**
 * Runs the policies in order, removing in batches of independent decisions.
 * Each removal is still its own supervisor operation, decided one at a time
 * (so a record that gained a ref since the plan is skipped, not removed), but
 * a batch's operations are asked for in one turn, so their durable writes are
 * committed together, and their directories are deleted concurrently, off the
 * supervisor's path. Records are emitted as their removals become durable; the
 * stream completes once their directories are deleted too. Unsubscribing
 * stops after the batch in progress.
 */
export function prune$(host: PruneHost, policies: readonly PruneInfo[]): Observable<PrunedRecord> {
  return new Observable<PrunedRecord>((subscriber) => {
    let stopped = false;
    // A dry run removes nothing, so later policies must not see what earlier ones would have removed.
    const gone = new Set<string>();
    /** Removals whose snapshot stayed on disk: skipped, so the rest of the prune goes on, and reported at the end. */
    const failed = new Map<string, CacheError>();
    /** Directories stuck before this prune are not its doing. */
    const stuckBefore = new Set(host.undeleted().map((d) => d.path));
    const run = async () => {
      for (const [index, policy] of policies.entries()) {
        if (stopped) return;
        const now = host.now();
        const reach = reachable(host, policy, now);
        const usage = (await host.usage(reach)).filter((u) => !gone.has(u.id));
        const byId = new Map(usage.map((u) => [u.id, u]));
        const disk: DiskStats | undefined = needsDiskStats(policy) ? await diskStats(host.root) : undefined;
        const planner = new PrunePlanner({
          records: usage.map(usageSummary),
          policy,
          now,
          ...(disk ? { disk } : {}),
          // Only part of the cache was read: its records' children may lie outside it.
          ...(reach ? { childCounts: (id: string) => host.childrenOf(id) } : {}),
        });
        // Building the plan and ranking the first pass are each a block of work on a large cache: let others in between.
        await new Promise((resolve) => setImmediate(resolve));
        for (let batch = planner.nextBatch(PRUNE_BATCH); batch.length > 0 && !stopped; ) {
          // Asked for together, in this turn; each answer is its own record's durable removal.
          const outcomes = await Promise.allSettled(
            batch.map((d) => (policy.dryRun ? Promise.resolve() : host.removeRecord(d.id, d.reason))),
          );
          let failure: unknown;
          for (const [i, decision] of batch.entries()) {
            const outcome = outcomes[i]!;
            if (outcome.status === 'rejected') {
              const err: unknown = outcome.reason;
              // The machine never refuses a removal as INVALID: INVALID is a snapshot that could not be
              // removed, whose record stays (removalFailed). It frees nothing, so the planner looks further.
              if (isCacheError(err, 'INVALID')) failed.set(decision.id, err);
              else if (!isCacheError(err, 'LOCKED') && !isCacheError(err, 'NOT_FOUND')) failure ??= err;
              planner.skipped(decision.id);
              continue;
            }
            planner.removed(decision.id);
            gone.add(decision.id);
            subscriber.next({
              ...byId.get(decision.id)!,
              rule: decision.rule,
              reason: decision.reason,
              policy: index,
              dryRun: policy.dryRun ?? false,
            });
          }
          if (failure !== undefined) throw failure;
          if (stopped) break;
          batch = planner.nextBatch(PRUNE_BATCH);
        }
      }
      await host.deleted();
    };
    run().then(
      () => {
        // A directory that could not be deleted still uses the disk: the prune did not free it.
        const stuck = host.undeleted().filter((d) => !stuckBefore.has(d.path));
        const [first] = failed.values();
        if (!first && stuck.length > 0) {
          const named = stuck.slice(0, 3).map((d) => `${d.path} (${d.reason})`);
          subscriber.error(
            new CacheError(
              'INVALID',
              `prune: ${stuck.length} removed record(s)' directories could not be deleted and still use disk: ` +
                `${named.join('; ')}${stuck.length > 3 ? ` and ${stuck.length - 3} more` : ''}`,
            ),
          );
          return;
        }
        if (!first) {
          subscriber.complete();
          return;
        }
        const ids = [...failed.keys()];
        const named = ids.length > 5 ? `${ids.slice(0, 5).join(', ')} and ${ids.length - 5} more` : ids.join(', ');
        subscriber.error(
          new CacheError('INVALID', `prune: ${failed.size} record(s) could not be removed and stay listed: ${named}`, {
            cause: first,
          }),
        );
      },
      (err: unknown) => subscriber.error(err),
    );
    return () => {
      stopped = true;
    };
  });
}

/**
 * The records a policy can remove, when an index can say so without reading every record: a keepDuration
 * policy with no size target only reaches records last used at or before its cutoff. A size target ranks
 * and totals the whole cache, so it reads every record (undefined).
 */
function reachable(host: PruneHost, policy: PruneInfo, now: number): string[] | undefined {
  const keepDuration = policy.keepDuration ?? 0;
  const sized = (policy.maxUsedSpace ?? 0) > 0 || (policy.minFreeSpace ?? 0) > 0 || (policy.reservedSpace ?? 0) > 0;
  if (keepDuration === 0 || sized || !host.usedUpTo) return undefined;
  return host.usedUpTo(now - keepDuration);
}

/** Checks policies (filters included) up front, as one CacheError INVALID naming each problem. */
export function validatePolicies(policies: readonly PruneInfo[], what: string): PruneInfo[] {
  try {
    return policies.map((p) => {
      const policy = parsePruneInfo(p);
      parsePruneFilters(policy.filter ?? []);
      return policy;
    });
  } catch (err) {
    if (isPolicyError(err)) throw new CacheError('INVALID', `invalid ${what}: ${err.message}`, { cause: err });
    throw err;
  }
}
