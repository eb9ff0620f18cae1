import { join } from 'node:path';
import { defer, lastValueFrom, of, reduce, tap, toArray, type Observable } from 'rxjs';
import { MetadataStore } from '../metadata/store.js';
import type { Snapshotter, Usage } from '../snapshot/types.js';
import { CacheError, isCacheError } from './errors.js';
import { cacheErrorFromMetadata } from './metadata-errors.js';
import { mountRecord } from './mounts.js';
import { openSnapshotter, snapshotterKind } from './open-snapshotter.js';
import { acquireOwnerLock, type OwnerLock } from './owner-lock.js';
import { NewOptionsSchema, OpenOptionsSchema, parseOptions, type NewOptions, type OpenOptions } from './options.js';
import { loadRecords, reconcile, type ReconcileReport } from './reconcile.js';
import {
  ImmutableRef,
  MutableRef,
  type MountedRef,
  type MountOptions,
  type RecordMetadata,
  type RefHost,
} from './refs.js';
import { contentKey, Supervisor, type InFlightOperation, type Inspector } from './supervisor.js';
import { EventHub } from './event-hub.js';
import type { CacheEvent } from './events.js';
import { RecordObserver, viewFilter, type RecordsDelta, type RecordView } from './observe.js';
import type { TransitionReport } from './record-table.js';
import type { UsageInfo } from './usage.js';
import { diskUsage$, sizeKey, type DiskUsageOptions } from './disk-usage.js';
import { SizeService } from '../size/size-service.js';
import { GcScheduler } from './gc.js';
import type { PruneInfo } from './policy/index.js';
import { prune$, validatePolicies, type PrunedRecord } from './prune.js';
import type { RecordState } from '../../machines/record.machine.js';

export interface CacheManagerOptions extends OpenOptions {
  /** Receives XState inspection events from the supervisor and every record actor. */
  inspect?: Inspector;
  /** Policies run in the background after releases (at most once a minute) and shortly after open. */
  gcPolicy?: PruneInfo[];
  /** Background GC pacing, in ms; defaults: 60000 between runs, 1000 after open. */
  gcInterval?: number;
  gcInitialDelay?: number;
  /** Events each events$ subscriber may have waiting before it loses the oldest; default 4096. */
  eventBufferSize?: number;
  /** Set false to turn events$ off entirely (it then completes at once). */
  events?: boolean;
}

/** What `inspect()` reports: a consistent picture of the engine at one moment. */
export interface ManagerInspection {
  status: string;
  /** Operations decided whose I/O or durable write is still running. */
  queueDepth: number;
  inFlight: InFlightOperation[];
  records: number;
  /** Records per state; dormant records are counted by their stored state. */
  states: Partial<Record<RecordState, number>>;
  liveActors: number;
  /** Size walks started since open, running now, and waiting for a slot. */
  sizing: { walksStarted: number; active: number; waiting: number };
}

/**
 * The cache manager: BuildKit's Accessor and Controller over records whose
 * lifecycles are XState actors, decided one at a time by a supervisor actor.
 */
export class CacheManager implements RefHost {
  private readonly events: EventHub;
  /**
   * Every state change, removal, operation and repair, as it happens. Hot;
   * each subscriber has a bounded buffer and is told when it lost events.
   */
  readonly events$: Observable<CacheEvent>;
  private readonly observer: RecordObserver;
  startup: ReconcileReport = { records: 0, snapshots: 0, repairs: [] };
  private closing: Promise<void> | undefined;
  private gc: GcScheduler | undefined;
  private readonly sizes = new SizeService();

  private constructor(
    readonly root: string,
    private readonly snapshotter: Snapshotter,
    private readonly supervisor: Supervisor,
    eventBufferSize: number,
    eventsEnabled: boolean,
    /** Opened to look at a root another process may own: every change is refused. */
    readonly readOnly: boolean,
  ) {
    this.events = new EventHub({ bufferSize: eventBufferSize, batchSize: 256, enabled: eventsEnabled });
    this.events$ = this.events.events$;
    const { table } = supervisor;
    table.transitions.subscribe((t) => this.events.emitLazy(() => ({ type: 'record.transition', ...t })));
    table.removals.subscribe(({ id, reason }) =>
      this.events.emitLazy(() => ({ type: 'record.removed', id, reason, at: Date.now() })),
    );
    this.observer = new RecordObserver(table, (id) => this.describe(id));
  }

  static async open(options: CacheManagerOptions): Promise<CacheManager> {
    const { inspect, gcPolicy, gcInterval, gcInitialDelay, eventBufferSize, events, ...rest } =
      options ?? ({} as CacheManagerOptions);
    if (eventBufferSize !== undefined && !(Number.isSafeInteger(eventBufferSize) && eventBufferSize > 0))
      throw new CacheError(
        'INVALID',
        `invalid cache manager options: eventBufferSize ${String(eventBufferSize)} is not a positive integer`,
      );
    const opts = parseOptions(OpenOptionsSchema, rest, 'cache manager options');
    const gcPolicies = gcPolicy === undefined ? undefined : validatePolicies(gcPolicy, 'gcPolicy');
    const lock: OwnerLock | undefined = opts.readOnly ? undefined : acquireOwnerLock(opts.root);
    let snapshotter: Snapshotter | undefined;
    let store: MetadataStore | undefined;
    try {
      store = await MetadataStore.open(join(opts.root, 'metadata'), { readOnly: opts.readOnly });
      const kind = await snapshotterKind(store, opts.root, opts.snapshotter);
      const ownSnapshotter = kind !== 'custom';
      snapshotter =
        typeof opts.snapshotter === 'object'
          ? opts.snapshotter
          : await openSnapshotter(kind as 'native' | 'overlay', join(opts.root, 'snapshots'));
      const pending: CacheEvent[] = [];
      let manager: CacheManager | undefined;
      const s = snapshotter;
      const st = store;
      const supervisor = new Supervisor({
        snapshotter: s,
        store: st,
        onOperation: (report) => manager?.events.emitLazy(() => ({ type: 'op', ...report, at: Date.now() })),
        ...(inspect ? { inspect } : {}),
        reconcile: async (table) => {
          // A read-only opener must not repair anything: the owner may be mid-operation.
          if (opts.readOnly) {
            const records = loadRecords(
              st.all(() => {}),
              table,
            );
            if (manager) manager.startup = { records, snapshots: 0, repairs: [] };
            return;
          }
          const report = await reconcile(st, s, table, (entry) =>
            pending.push({ type: 'reconcile', ...entry, at: Date.now() }),
          );
          if (manager) manager.startup = report;
        },
        onClosed: async () => {
          await st.close();
          if (ownSnapshotter) await s.close();
          lock?.release();
        },
      });
      manager = new CacheManager(opts.root, s, supervisor, eventBufferSize ?? 4096, events !== false, opts.readOnly);
      await supervisor.start();
      // Repairs happen before anyone can subscribe: every subscriber gets them first.
      manager.events.setReplay(pending);
      if (gcPolicies && !opts.readOnly) manager.startGc(gcPolicies, gcInterval ?? 60_000, gcInitialDelay ?? 1_000);
      return manager;
    } catch (err) {
      await store?.close().catch(() => {});
      if (typeof opts.snapshotter !== 'object') await snapshotter?.close().catch(() => {});
      lock?.release();
      throw cacheErrorFromMetadata(err);
    }
  }

  /** An immutable ref to a record; freezes an idle retained mutable record (BuildKit's rule). */
  async get(id: string): Promise<ImmutableRef> {
    this.ensureWritable('get');
    await this.supervisor.request<string>({ type: 'GET', id });
    return new ImmutableRef(this, id);
  }

  /** A new mutable record on top of `parent` (finalized first when frozen). */
  async new(parent?: ImmutableRef | null, options?: NewOptions): Promise<MutableRef> {
    this.ensureWritable('new');
    const opts = parseOptions(NewOptionsSchema, options, 'new options');
    if (parent != null && !(parent instanceof ImmutableRef))
      throw new CacheError('INVALID', 'new: parent is not an ImmutableRef');
    if (parent?.isReleased)
      throw new CacheError('INVALID', `new: parent ref to record ${parent.id} was already released`);
    const id = await this.supervisor.request<string>({ type: 'NEW', parent: parent?.id ?? null, options: opts });
    this.events.emitLazy(() => ({
      type: 'record.created',
      id,
      ...(parent ? { parent: parent.id } : {}),
      at: Date.now(),
    }));
    return new MutableRef(this, id);
  }

  /** Takes a mutable record back: an idle retained one, or a frozen one no one holds (thaw). */
  async getMutable(id: string): Promise<MutableRef> {
    this.ensureWritable('getMutable');
    await this.supervisor.request<string>({ type: 'GET_MUTABLE', id });
    return new MutableRef(this, id);
  }

  /**
   * Every record with its size, streamed: known sizes at once, computed ones
   * as their walks finish (bounded, shared, on worker threads). Unsubscribing
   * or aborting the signal stops every walk in flight.
   */
  diskUsage$(options: DiskUsageOptions = {}): Observable<UsageInfo> {
    this.ensureOpen('diskUsage');
    const { table } = this.supervisor;
    return diskUsage$(
      {
        table,
        sizes: this.sizes,
        measure: (id, state, signal) => this.snapshotter.usage(contentKey(id, state), { signal }),
        remember: (id, state, usage) => this.rememberSize(id, state, usage),
        onProgress: (p) => this.events.emitLazy(() => ({ type: 'size.progress', ...p, at: Date.now() })),
        onSizeFailed: (id, reason) => this.events.emitLazy(() => ({ type: 'size.failed', id, reason, at: Date.now() })),
      },
      options,
    );
  }

  /** The same stream collected into an array. */
  async diskUsage(options: DiskUsageOptions = {}): Promise<UsageInfo[]> {
    return lastValueFrom(this.diskUsage$(options).pipe(toArray()));
  }

  /** One record's usage; concurrent callers share one walk, and a known immutable size is reused. */
  size$(id: string): Observable<Usage> {
    return defer(() => {
      this.ensureOpen('size');
      const state = this.supervisor.table.stateOf(id);
      if (state === undefined) throw new CacheError('NOT_FOUND', `size: record ${id} not found`);
      const stored = this.supervisor.table.meta(id)?.usage;
      if (stored && !state.startsWith('mutable')) return of(stored);
      return this.sizes
        .size$(sizeKey(id, state), { measure: (signal) => this.snapshotter.usage(contentKey(id, state), { signal }) })
        .pipe(tap((usage) => this.rememberSize(id, state, usage)));
    });
  }

  /** The record's current state, holders and metadata; NOT_FOUND when unknown. */
  describe(id: string): RecordView {
    this.ensureOpen('describe');
    const { table } = this.supervisor;
    const state = table.stateOf(id);
    if (state === undefined) throw new CacheError('NOT_FOUND', `record ${id} not found`);
    const meta = table.meta(id);
    const metadata = this.metadataOf(id);
    return {
      id,
      state,
      refs: table.contextOf(id)?.refs ?? 0,
      children: table.childrenOf(id),
      parent: metadata.parent,
      size: meta?.usage?.size,
      metadata,
    };
  }

  /** One record's view: now, then on every change; completes when the record is removed. */
  watch(id: string): Observable<RecordView> {
    this.ensureOpen('watch');
    return this.observer.watch(id);
  }

  /** The whole cache as a live view: one snapshot, then upserts and removals. */
  records$(options: { filter?: string[] | ((view: RecordView) => boolean) } = {}): Observable<RecordsDelta> {
    this.ensureOpen('records$');
    const { filter } = options;
    return this.observer.records$(typeof filter === 'function' || filter === undefined ? filter : viewFilter(filter));
  }

  /** The last transitions of a record used since open (at most 32), oldest first. */
  history(id: string): TransitionReport[] {
    this.ensureOpen('history');
    return this.observer.history(id);
  }

  /** Supervisor status, queue, in-flight operations, records per state and live actors. */
  inspect(): ManagerInspection {
    const { table } = this.supervisor;
    const states: Partial<Record<RecordState, number>> = {};
    for (const id of table.ids()) {
      const state = table.stateOf(id)!;
      states[state] = (states[state] ?? 0) + 1;
    }
    return {
      status: this.supervisor.status,
      queueDepth: this.supervisor.queueDepth,
      inFlight: this.supervisor.inFlightOperations(),
      records: table.size,
      states,
      liveActors: table.liveCount,
      sizing: (({ walksStarted, active, waiting }) => ({ walksStarted, active, waiting }))(this.sizes.stats()),
    };
  }

  /**
   * Removes unreferenced records by BuildKit's policies, in order, emitting each
   * record as it goes (with the rule and reason). Unsubscribing stops after the
   * removal in progress. `dryRun` emits the same records and removes none.
   */
  prune(...policies: PruneInfo[]): Observable<PrunedRecord> {
    this.ensureWritable('prune');
    const valid = validatePolicies(policies.length ? policies : [{}], 'prune policy');
    return prune$(
      { root: this.root, usage: () => this.diskUsage(), removeRecord: (id, reason) => this.remove(id, reason) },
      valid,
    ).pipe(
      tap((r) =>
        this.events.emitLazy(() => ({
          type: 'prune.removed',
          id: r.id,
          size: r.size,
          rule: r.rule,
          reason: r.reason,
          dryRun: r.dryRun,
          at: Date.now(),
        })),
      ),
    );
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      await this.gc?.stop();
      await this.supervisor.close();
      this.events.complete();
    })();
    await this.closing;
  }

  private startGc(policies: PruneInfo[], interval: number, initialDelay: number): void {
    this.gc = new GcScheduler(
      async () => {
        const started = Date.now();
        try {
          const { removed, freed } = await lastValueFrom(
            this.prune(...policies).pipe(
              reduce((acc, r) => ({ removed: acc.removed + 1, freed: acc.freed + r.size }), { removed: 0, freed: 0 }),
            ),
          );
          this.events.emit({ type: 'gc.done', removed, freed, ms: Date.now() - started, at: Date.now() });
        } catch (err) {
          if (!isCacheError(err, 'CLOSED'))
            this.events.emit({ type: 'gc.error', message: String(err), at: Date.now() });
        }
      },
      { interval, initialDelay },
    );
    this.supervisor.table.transitions.subscribe((t) => {
      if (t.event === 'RELEASE' || t.event === 'RELEASE_MUTABLE') this.gc?.poke();
    });
  }

  // RefHost: what refs call back into.

  metadataOf(id: string): RecordMetadata {
    const meta = this.supervisor.table.meta(id);
    if (!meta) throw new CacheError('NOT_FOUND', `record ${id} not found`);
    return {
      description: meta.description,
      recordType: meta.recordType,
      createdAt: new Date(meta.createdAt),
      lastUsedAt: meta.lastUsedAt === undefined ? undefined : new Date(meta.lastUsedAt),
      usageCount: meta.usageCount,
      parent: meta.parent,
    };
  }

  async mountRecord(id: string, options: MountOptions): Promise<MountedRef> {
    this.ensureOpen('mount');
    const state = this.supervisor.table.stateOf(id);
    if (state === undefined) throw new CacheError('NOT_FOUND', `mount: record ${id} not found`);
    return mountRecord(this.snapshotter, join(this.root, 'mounts'), id, contentKey(id, state), options);
  }

  sizeOf(id: string, options: { signal?: AbortSignal }): Promise<Usage> {
    const { signal } = options;
    return new Promise<Usage>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sub = this.size$(id).subscribe({ next: resolve, error: reject });
      signal?.addEventListener(
        'abort',
        () => {
          sub.unsubscribe();
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  release(id: string, mutable: boolean): Promise<void> {
    return this.supervisor.request<void>({ type: 'RELEASE', id, mutable });
  }

  async commit(id: string): Promise<ImmutableRef> {
    await this.supervisor.request<string>({ type: 'COMMIT', id });
    return new ImmutableRef(this, id);
  }

  finalize(id: string): Promise<void> {
    return this.supervisor.request<void>({ type: 'FINALIZE', id });
  }

  clone(id: string): ImmutableRef {
    this.supervisor.requestSync<string>({ type: 'CLONE', id });
    return new ImmutableRef(this, id);
  }

  /** Removes one unreferenced record (the building block of prune). */
  remove(id: string, reason = 'removed'): Promise<void> {
    this.ensureWritable('remove');
    return this.supervisor.request<void>({ type: 'REMOVE', id, reason });
  }

  /** Keeps a computed size of immutable content, unless the record changed meanwhile. */
  private rememberSize(id: string, state: RecordState, usage: Usage): void {
    const { table } = this.supervisor;
    const now = table.stateOf(id);
    if (this.readOnly || state.startsWith('mutable') || now === undefined || sizeKey(id, now) !== sizeKey(id, state))
      return;
    void table.updateMeta(id, (m) => ({ ...m, usage })).catch(() => {});
  }

  private ensureOpen(op: string): void {
    if (this.closing || this.supervisor.status === 'closed')
      throw new CacheError('CLOSED', `${op}: the cache manager is closed`);
  }

  private ensureWritable(op: string): void {
    this.ensureOpen(op);
    if (this.readOnly) throw new CacheError('INVALID', `${op}: the cache at ${this.root} is open read-only`);
  }
}

export function openCacheManager(options: CacheManagerOptions): Promise<CacheManager> {
  return CacheManager.open(options);
}
