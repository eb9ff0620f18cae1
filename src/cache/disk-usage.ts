import { concat, defer, filter, map, Observable, tap } from 'rxjs';
import type { RecordState } from '../../machines/record.machine.js';
import type { SizeService } from '../size/size-service.js';
import type { Usage } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import { isPolicyError, matchesPruneFilters, parsePruneFilters } from './policy/index.js';
import type { RecordIndex } from './records/record-index.js';
import { hasTag } from './records/rules.js';
import { sizeKey } from './keys.js';
import { inUseSet, usageSummary, type UsageInfo } from './usage.js';

export interface DiskUsageOptions {
  /** containerd-syntax filters over id, parents, description, inuse, mutable, immutable, type, shared, private. */
  filter?: string[];
  /** Hide records used within this many ms. */
  ageLimit?: number;
  signal?: AbortSignal;
  /**
   * Fail the stream when one record cannot be sized, as BuildKit's DiskUsage does. By default the
   * stream goes on: that record's row has size 0 and `sizeError`, and a `size.failed` event is sent.
   */
  strict?: boolean;
  /** Records done out of total and bytes so far, as sizes arrive. */
  onProgress?: (progress: DiskUsageProgress) => void;
}

export interface DiskUsageProgress {
  done: number;
  total: number;
  bytes: number;
}

export interface DiskUsageDeps {
  table: RecordIndex;
  /** The manager's clock, for ageLimit. */
  now(): number;
  sizes: SizeService;
  /** Measures a record's snapshot the way the snapshotter's `usage` does. */
  measure(id: string, state: RecordState, signal: AbortSignal): Promise<Usage>;
  /** What the snapshotter recorded at commit for an immutable record's content, when it keeps that. */
  recorded(id: string, state: RecordState): Usage | undefined;
  /** Stores a computed size of an immutable record so it is reused. */
  remember(id: string, state: RecordState, usage: Usage): void;
  onProgress(progress: DiskUsageProgress): void;
  onSizeFailed(id: string, reason: string): void;
  /** Only these records (a prune's reach, read from an index); by default every record. */
  only?: readonly string[];
}

/** Records examined per turn of the event loop while scanning for known sizes. */
const SCAN_CHUNK = 250;

/** The key under which concurrent sizings of one record's current content share a walk. */
export { sizeKey };

function baseInfo(table: RecordIndex, id: string, inUse: Set<string>): UsageInfo | undefined {
  const meta = table.meta(id);
  const state = table.stateOf(id);
  if (!meta || !state || state === 'removed') return undefined;
  return {
    id,
    mutable: hasTag(state, 'mutable'),
    inUse: inUse.has(id),
    size: 0,
    createdAt: new Date(meta.createdAt),
    ...(meta.lastUsedAt === undefined ? {} : { lastUsedAt: new Date(meta.lastUsedAt) }),
    usageCount: meta.usageCount,
    parents: meta.parent === undefined ? [] : [meta.parent],
    ...(meta.description === undefined ? {} : { description: meta.description }),
    recordType: meta.recordType,
    shared: false,
    ...(meta.key === undefined ? {} : { key: meta.key }),
    ...(hasTag(state, 'lazy') && meta.layer ? { remoteSize: meta.layer.size } : {}),
  };
}

export function validateDiskUsageOptions(options: DiskUsageOptions): ReturnType<typeof parsePruneFilters> {
  const { ageLimit } = options;
  if (ageLimit !== undefined && !(Number.isFinite(ageLimit) && ageLimit >= 0))
    throw new CacheError('INVALID', `diskUsage: ageLimit ${String(ageLimit)} is not a non-negative number of ms`);
  try {
    return parsePruneFilters(options.filter ?? []);
  } catch (err) {
    if (isPolicyError(err)) throw new CacheError('INVALID', `diskUsage: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * Streams every selected record: those whose size is known (stored, or 0 for
 * a mutable record in use) at once, then the rest as their walks finish, with
 * bounded concurrency and one shared walk per record. Unsubscribing or the
 * signal aborting stops every walk in flight.
 */
export function diskUsage$(deps: DiskUsageDeps, options: DiskUsageOptions = {}): Observable<UsageInfo> {
  const filters = validateDiskUsageOptions(options);
  return new Observable<UsageInfo>((subscriber) => {
    const { table } = deps;
    const inUse = inUseSet(table);
    const now = deps.now();
    const unknown: { info: UsageInfo; state: RecordState }[] = [];
    const progress: DiskUsageProgress = { done: 0, total: deps.only?.length ?? table.size, bytes: 0 };
    const report = (info: UsageInfo) => {
      progress.done++;
      progress.bytes += info.size;
      const snapshot = { ...progress };
      options.onProgress?.(snapshot);
      deps.onProgress(snapshot);
    };
    /** Emits records of known size while scanning, a chunk per turn so a large cache never blocks the loop. */
    const known$ = new Observable<UsageInfo>((out) => {
      const ids = deps.only ?? [...table.ids()];
      let next = 0;
      let timer: NodeJS.Immediate | undefined;
      const step = () => {
        for (const end = Math.min(next + SCAN_CHUNK, ids.length); next < end && !out.closed; next++) {
          const id = ids[next]!;
          const info = baseInfo(table, id, inUse);
          if (!info) continue;
          if (options.ageLimit !== undefined && info.lastUsedAt && now - info.lastUsedAt.getTime() < options.ageLimit)
            continue;
          if (!matchesPruneFilters(filters, usageSummary(info))) continue;
          const stored = table.meta(id)?.usage;
          // BuildKit reports a mutable record in use as size 0: its content is still changing.
          // A lazy record has nothing here yet: size 0, and its blob's size in the registry.
          if ((info.mutable && info.inUse) || info.remoteSize !== undefined) out.next(info);
          else if (info.mutable) unknown.push({ info, state: table.stateOf(id)! });
          else {
            // Known already: stored with the record, or recorded by the snapshotter at commit (no walk).
            const known = stored ?? deps.recorded(id, table.stateOf(id)!);
            if (known) out.next({ ...info, size: known.size });
            else unknown.push({ info, state: table.stateOf(id)! });
          }
        }
        if (next < ids.length) timer = setImmediate(step);
        else {
          progress.total = progress.done + unknown.length;
          out.complete();
        }
      };
      step();
      return () => clearImmediate(timer);
    });
    const computed$ = defer(() => {
      const pending = new Map(unknown.map((u) => [sizeKey(u.info.id, u.state), u]));
      return deps.sizes
        .sizeMany$(
          unknown.map(({ info, state }) => ({
            key: sizeKey(info.id, state),
            path: { measure: (signal: AbortSignal) => deps.measure(info.id, state, signal) },
          })),
          { strict: options.strict ?? false },
        )
        .pipe(
          filter((e) => e.type === 'result'),
          map((e): UsageInfo => {
            const item = pending.get(e.key)!;
            if (e.error === undefined) {
              if (!item.info.mutable) deps.remember(item.info.id, item.state, e.usage);
              return { ...item.info, size: e.usage.size };
            }
            // Not strict: the caller still learns which size is unknown, and why, from the row itself
            // (an event alone reaches only those who subscribed to events$ before asking).
            const reason = e.error instanceof Error ? e.error.message : String(e.error);
            deps.onSizeFailed(item.info.id, reason);
            return { ...item.info, size: 0, sizeError: reason };
          }),
        );
    });
    const signal = options.signal;
    if (signal?.aborted) {
      subscriber.error(signal.reason);
      return;
    }
    const sub = concat(known$, computed$)
      .pipe(tap(report))
      .subscribe({
        next: (v) => subscriber.next(v),
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    // Aborting ends the stream with the signal's reason; unsubscribing inside stops every walk in flight.
    const onAbort = () => {
      sub.unsubscribe();
      subscriber.error(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    return () => {
      signal?.removeEventListener('abort', onAbort);
      sub.unsubscribe();
    };
  });
}
