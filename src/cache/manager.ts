import { defer, from, lastValueFrom, Observable, of, reduce, switchMap, tap, toArray } from 'rxjs';
import type { RecordState } from '../../machines/record.machine.js';
import { CacheKey } from '../metadata/schema.js';
import { SizeService } from '../size/size-service.js';
import { isSnapshotError } from '../snapshot/errors.js';
import type { Usage } from '../snapshot/types.js';
import { diskUsage$, type DiskUsageOptions } from './disk-usage.js';
import { CacheError, isCacheError } from './errors.js';
import { EventHub } from './event-hub.js';
import { exportCache, type ExportOptions, type ExportProgress } from './exchange/export.js';
import { type ExchangeHost, exchangeHost } from './exchange/host.js';
import { importCache, type ImportOptions, type ImportProgress } from './exchange/import.js';
import { importHost, waitForPull } from './exchange/engine-calls.js';
import type { CacheEvent } from './events.js';
import { GcScheduler } from './gc.js';
import { ControlServer } from './control/server.js';
import { sizeKey } from './keys.js';
import { measureContent, recordedContentUsage } from './snapshot-state.js';
import { RecordObserver, type RecordsDelta, type RecordView, viewFilter } from './observe.js';
import { type CacheManagerOptions, checkOptions, type Clock, type Engine, openEngine } from './open.js';
import { NewOptionsSchema, type NewOptions, parseOptions } from './options.js';
import type { PruneInfo } from './policy/index.js';
import { type PrunedRecord, prune$, validatePolicies } from './prune.js';
import type { ReconcileReport } from './reconcile.js';
import type { TransitionReport } from './records/record-index.js';
import { hasTag } from './records/rules.js';
import { recordMetadata, refHostFor } from './ref-host.js';
import { hostOf, ImmutableRef, MutableRef, type RefHost } from './refs.js';
import type { InFlightOperation } from './supervisor/host.js';
import type { UsageInfo } from './usage.js';

export type { CacheManagerOptions } from './open.js';

/** What `status()` reports: a consistent picture of the engine at one moment. */
export interface ManagerStatus {
  /** The supervisor's state: opening, reconciling, ready, draining, closed or failed. */
  readonly status: string;
  /** Operations decided whose I/O or durable write is still running. */
  readonly queueDepth: number;
  readonly inFlight: readonly InFlightOperation[];
  readonly records: number;
  /** Records per state; dormant records are counted by their stored state. */
  readonly states: Partial<Record<RecordState, number>>;
  readonly liveActors: number;
  /** Size walks started since open, running now, and waiting for a slot. */
  readonly sizing: { readonly walksStarted: number; readonly active: number; readonly waiting: number };
}

/** Options of `records$`. */
export interface RecordsOptions {
  /** containerd-syntax filters over id, state, parent, description, type; or a predicate. */
  filter?: string[] | ((view: RecordView) => boolean);
}

/**
 * The cache manager: BuildKit's Accessor and Controller over records whose
 * lifecycles are XState actors, decided one at a time by a supervisor actor.
 * A facade: decisions live in the supervisor and the record machine, I/O in
 * the record actors, persistence in the record index.
 */
export class CacheManager {
  private readonly events: EventHub;
  /**
   * Every state change, removal, operation and repair, as it happens. Hot;
   * each subscriber has a bounded buffer and is told when it lost events.
   */
  readonly events$: Observable<CacheEvent>;
  private observer!: RecordObserver;
  private engine!: Engine;
  private closing: Promise<void> | undefined;
  private gc: GcScheduler | undefined;
  private readonly sizes = new SizeService();
  /** What this manager's refs call; not reachable from outside. */
  private readonly refHost: RefHost;
  /** Streams in flight, each with how close() ends it. */
  private readonly streams = new Set<() => void>();
  /** The owner's read-only control socket, when it could be served. */
  private control: ControlServer | undefined;

  private constructor(eventBufferSize: number, eventsEnabled: boolean) {
    this.events = new EventHub({ bufferSize: eventBufferSize, batchSize: 256, enabled: eventsEnabled });
    this.events$ = this.events.events$;
    this.refHost = refHostFor({
      engine: () => this.engine,
      root: () => this.root,
      ensureOpen: (op) => this.ensureOpen(op),
      pull: (id, signal) => this.pullRecord(id, signal),
      size$: (id) => this.size$(id),
    });
  }

  static async open(options: CacheManagerOptions): Promise<CacheManager> {
    const opts = checkOptions(options);
    const manager = new CacheManager(opts.eventBufferSize, opts.events);
    const repairs: CacheEvent[] = [];
    manager.engine = await openEngine(opts, {
      onOperation: (report) => manager.events.emitLazy(() => ({ type: 'op', ...report, at: Date.now() })),
      onRepair: (event) => repairs.push(event),
      onCorrupt: (id, error) =>
        manager.events.emit({
          type: 'record.corrupt',
          id,
          reason: error instanceof Error ? error.message : String(error),
          at: Date.now(),
        }),
      onWriteError: (id, error) =>
        manager.events.emit({ type: 'metadata.writeFailed', id, message: String(error), at: Date.now() }),
    });
    manager.wire();
    // Repairs happen before anyone can subscribe: every subscriber gets them first.
    manager.events.setReplay(repairs);
    if (opts.gcPolicies && !opts.readOnly) manager.startGc(opts.gcPolicies, opts.gcInterval, opts.gcInitialDelay);
    if (!opts.readOnly) await manager.serveControl();
    return manager;
  }

  /**
   * Serves what only the owner knows (refs, held states, transitions) to `du`, `inspect` and `watch` in other
   * processes. Optional: when the socket cannot be made (a path too long for a unix socket, say), the cache works
   * as before and readers fall back to the stored states.
   */
  private async serveControl(): Promise<void> {
    try {
      this.control = await ControlServer.listen(this);
    } catch {
      this.control = undefined;
    }
  }

  /** The path of the control socket this owner serves, or undefined (read-only, or it could not be made). */
  get controlSocket(): string | undefined {
    return this.control?.path;
  }

  private get clock(): Clock {
    return this.engine.clock;
  }

  /** The root directory this manager owns (or looks at, read-only). */
  get root(): string {
    return this.engine.root;
  }

  /** Opened to look at a root another process may own: every change is refused. */
  get readOnly(): boolean {
    return this.engine.readOnly;
  }

  /** What start-up found and repaired. */
  get startup(): ReconcileReport {
    return this.engine.startup;
  }

  /** An immutable ref to a record; freezes an idle retained mutable record (BuildKit's rule). */
  async get(id: string): Promise<ImmutableRef> {
    this.ensureOpen('get');
    await this.engine.supervisor.request<string>({ type: 'GET', id });
    return new ImmutableRef(this.refHost, id);
  }

  /** A new mutable record on top of `parent` (committed first when frozen). */
  async new(parent?: ImmutableRef | null, options?: NewOptions): Promise<MutableRef> {
    this.ensureOpen('new');
    const opts = parseOptions(NewOptionsSchema, options, 'new options');
    if (parent != null && !(parent instanceof ImmutableRef))
      throw new CacheError('INVALID', 'new: parent is not an ImmutableRef');
    if (parent && hostOf(parent) !== this.refHost)
      throw new CacheError('INVALID', `new: parent ref to record ${parent.id} belongs to another cache manager`);
    if (parent?.isReleased)
      throw new CacheError('INVALID', `new: parent ref to record ${parent.id} was already released`);
    // A child's snapshot stands on its parent's content: an imported parent is pulled first.
    if (parent && this.engine.index.is(parent.id, 'lazy')) await this.pullRecord(parent.id);
    const id = await this.engine.supervisor.request<string>({
      type: 'NEW',
      parent: parent?.id ?? null,
      options: opts,
    });
    this.events.emitLazy(() => ({
      type: 'record.created',
      id,
      ...(parent ? { parent: parent.id } : {}),
      at: Date.now(),
    }));
    return new MutableRef(this.refHost, id);
  }

  /**
   * A ref to the immutable record made under `key`, or undefined when no record holds it (or the one that
   * does is still mutable). One index read: LMDB keeps key -> id.
   */
  async find(key: string): Promise<ImmutableRef | undefined> {
    this.ensureOpen('find');
    const parsed = CacheKey.safeParse(key);
    if (!parsed.success)
      throw new CacheError('INVALID', `find: cache key ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
    const id = await this.engine.supervisor.request<string | undefined>({ type: 'FIND', key: parsed.data });
    return id === undefined ? undefined : new ImmutableRef(this.refHost, id);
  }

  /** Takes a mutable record back: an idle retained one, or a frozen one no one holds (thaw). */
  async getMutable(id: string): Promise<MutableRef> {
    this.ensureOpen('getMutable');
    await this.engine.supervisor.request<string>({ type: 'GET_MUTABLE', id });
    return new MutableRef(this.refHost, id);
  }

  /** Removes one unreferenced record (the building block of prune); resolves once its directory is deleted too. */
  async remove(id: string, reason = 'removed'): Promise<void> {
    this.ensureOpen('remove');
    await this.engine.supervisor.request<void>({ type: 'REMOVE', id, reason });
    await this.snapshotDeletions();
  }

  /** Snapshot directories go in the background once their removal is durable; this waits for them. */
  private snapshotDeletions(): Promise<void> {
    return this.engine.snapshotter.deleted?.() ?? Promise.resolve();
  }

  /**
   * Every record with its size, streamed: known sizes at once, computed ones
   * as their walks finish (bounded, shared, on worker threads). Unsubscribing
   * or aborting the signal stops every walk in flight.
   */
  diskUsage$(options: DiskUsageOptions = {}): Observable<UsageInfo> {
    return this.usage$(options);
  }

  /** Disk usage of every record, or only of those named (a prune's reach). */
  private usage$(options: DiskUsageOptions, only?: readonly string[]): Observable<UsageInfo> {
    this.ensureOpen('diskUsage');
    const { index, snapshotter } = this.engine;
    return this.endedByClose(
      'diskUsage',
      'error',
      diskUsage$(
        {
          table: index,
          now: () => this.clock.now(),
          sizes: this.sizes,
          measure: (id, state, signal) => measureContent(snapshotter, id, state, signal),
          recorded: (id, state) => recordedContentUsage(snapshotter, id, state),
          remember: (id, state, usage) => this.rememberSize(id, state, usage),
          onProgress: (p) => this.events.emitLazy(() => ({ type: 'size.progress', ...p, at: Date.now() })),
          onSizeFailed: (id, reason) =>
            this.events.emitLazy(() => ({ type: 'size.failed', id, reason, at: Date.now() })),
          ...(only ? { only } : {}),
        },
        options,
      ),
    );
  }

  /** The same stream collected into an array. */
  async diskUsage(options: DiskUsageOptions = {}): Promise<UsageInfo[]> {
    return lastValueFrom(this.diskUsage$(options).pipe(toArray()));
  }

  /** One record's usage; concurrent callers share one walk, and a known immutable size is reused. */
  size$(id: string): Observable<Usage> {
    return this.endedByClose(
      'size',
      'error',
      defer(() => {
        this.ensureOpen('size');
        if (this.engine.index.is(id, 'lazy'))
          return from(this.pullRecord(id)).pipe(switchMap(() => this.localSize$(id)));
        return this.localSize$(id);
      }),
    );
  }

  /** A record's size from what is on disk (or remembered). */
  private localSize$(id: string): Observable<Usage> {
    return defer(() => {
      const { index, snapshotter } = this.engine;
      const state = index.stateOf(id);
      if (state === undefined) throw new CacheError('NOT_FOUND', `size: record ${id} not found`);
      const stored = index.meta(id)?.usage;
      if (stored && !hasTag(state, 'mutable')) return of(stored);
      const measure = (signal: AbortSignal) =>
        measureContent(snapshotter, id, state, signal).catch((err: unknown) => {
          if (signal.aborted) throw err;
          throw new CacheError(
            isSnapshotError(err, 'NOT_FOUND') ? 'NOT_FOUND' : 'INVALID',
            `size: measuring record ${id} failed: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          );
        });
      return this.sizes
        .size$(sizeKey(id, state), { measure })
        .pipe(tap((usage) => this.rememberSize(id, state, usage)));
    });
  }

  /** Pulls a lazy record's chain, sharing a pull in flight; `signal` only ends this caller's wait. */
  private pullRecord(id: string, signal?: AbortSignal): Promise<void> {
    this.ensureOpen('pull');
    return waitForPull(this.engine, id, signal);
  }

  /**
   * Reads a cache from an OCI registry and makes a lazy record per entry (key, chain, metadata and
   * layer known; nothing downloaded). A key that already has a record here keeps the local record.
   */
  import(options: ImportOptions): Observable<ImportProgress> {
    this.ensureOpen('import');
    if (this.readOnly) throw new CacheError('INVALID', `import: the cache at ${this.root} is open read-only`);
    const host = importHost(this.engine, this.exchangeHost(), (event) => this.events.emitLazy(event));
    return this.endedByClose('import', 'error', importCache(host, options));
  }

  /** The record's current state, holders and metadata; NOT_FOUND when unknown. */
  describe(id: string): RecordView {
    this.ensureOpen('describe');
    const { index } = this.engine;
    const state = index.stateOf(id);
    if (state === undefined) throw new CacheError('NOT_FOUND', `record ${id} not found`);
    const meta = index.meta(id);
    const metadata = recordMetadata(this.engine.index, id);
    return {
      id,
      state,
      refs: index.contextOf(id)?.refs ?? 0,
      children: index.childrenOf(id),
      parent: metadata.parent,
      size: meta?.usage?.size,
      metadata,
    };
  }

  /** One record's view: now, then on every change; completes when the record is removed. */
  watch(id: string): Observable<RecordView> {
    this.ensureOpen('watch');
    return this.endedByClose('watch', 'complete', this.observer.watch(id));
  }

  /** The whole cache as a live view: one snapshot, then upserts and removals. */
  records$(options: RecordsOptions = {}): Observable<RecordsDelta> {
    this.ensureOpen('records$');
    const { filter } = options;
    const matches = typeof filter === 'function' || filter === undefined ? filter : viewFilter(filter);
    return this.endedByClose('records$', 'complete', this.observer.records$(matches));
  }

  /** The last transitions of a record used since open (at most 32), oldest first. */
  history(id: string): TransitionReport[] {
    this.ensureOpen('history');
    return this.observer.history(id);
  }

  /**
   * A read-only cache shows the root as it was when opened; this re-reads what
   * the owner has stored since, and `records$`, `watch` and `events$` report
   * the differences. INVALID on a cache this process owns.
   */
  refresh(): void {
    this.ensureOpen('refresh');
    if (!this.readOnly) throw new CacheError('INVALID', 'refresh: only a read-only cache follows another owner');
    this.engine.follow();
  }

  /** Supervisor status, queue, in-flight operations, records per state and live actors. */
  status(): ManagerStatus {
    const { index, supervisor } = this.engine;
    // Kept on transitions by the index: O(1) in the number of records.
    const states = index.stateCounts();
    const { walksStarted, active, waiting } = this.sizes.stats();
    return {
      status: supervisor.status,
      queueDepth: supervisor.queueDepth,
      inFlight: supervisor.inFlightOperations(),
      records: index.size,
      states,
      liveActors: index.liveCount,
      sizing: { walksStarted, active, waiting },
    };
  }

  /**
   * Removes unreferenced records by BuildKit's policies, in order, emitting each
   * record as it goes (with the rule and reason). Unsubscribing stops after the
   * removal in progress. `dryRun` emits the same records and removes none.
   */
  prune(...policies: PruneInfo[]): Observable<PrunedRecord> {
    this.ensureOpen('prune');
    const valid = validatePolicies(policies.length ? policies : [{}], 'prune policy');
    if (this.readOnly && valid.some((p) => !p.dryRun))
      throw new CacheError('INVALID', `prune: the cache at ${this.root} is open read-only`);
    const run = prune$(
      {
        root: this.root,
        usage: (only) => lastValueFrom(this.usage$({}, only).pipe(toArray())),
        usedUpTo: (at) => this.engine.index.usedUpTo(at),
        childrenOf: (id) => this.engine.index.childrenOf(id),
        removeRecord: (id, reason) => this.engine.supervisor.request<void>({ type: 'REMOVE', id, reason }),
        deleted: () => this.snapshotDeletions(),
        undeleted: () => this.engine.snapshotter.undeleted?.() ?? [],
        now: () => this.clock.now(),
      },
      valid,
    );
    return this.endedByClose('prune', 'error', run).pipe(
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

  /**
   * Pushes records to an OCI registry: each record's own diff as one layer, an OCI image manifest and a
   * cachekit config naming every record's key, parent and metadata. Emits each layer (uploaded, already
   * there, or mounted), then the manifest; completes once the manifest is in the registry.
   */
  export(options: ExportOptions): Observable<ExportProgress> {
    this.ensureOpen('export');
    if (this.readOnly) throw new CacheError('INVALID', `export: the cache at ${this.root} is open read-only`);
    return this.endedByClose('export', 'error', exportCache(this.exchangeHost(), options));
  }

  private exchangeHost(): ExchangeHost {
    const { index, snapshotter } = this.engine;
    return exchangeHost({
      root: this.root,
      snapshotter,
      index,
      get: (id) => this.get(id),
      rememberLayer: (id, layer) => this.engine.supervisor.request<void>({ type: 'REMEMBER_LAYER', id, layer }),
    });
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      // Other processes stop asking first: they then fall back to the stored states.
      await this.control?.close();
      // Streams end first, so none reads from stores that are about to close.
      for (const end of [...this.streams]) end();
      await this.gc?.stop();
      await this.engine.supervisor.close();
      this.events.complete();
    })();
    await this.closing;
  }

  /**
   * Ends `source` when the manager closes: a computation (disk usage, prune,
   * size) with a CLOSED error, since its result would be incomplete; a live
   * view (watch, records$) by completing, since it was complete up to then.
   */
  private endedByClose<T>(op: string, how: 'error' | 'complete', source: Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      if (this.closing) {
        subscriber.error(new CacheError('CLOSED', `${op}: the cache manager is closed`));
        return;
      }
      // Plain callbacks, not the subscriber itself: unsubscribing the inner stream must leave ours open to end.
      const inner = source.subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      const end = () => {
        inner.unsubscribe();
        if (how === 'complete') subscriber.complete();
        else subscriber.error(new CacheError('CLOSED', `${op}: the cache manager was closed before it finished`));
      };
      this.streams.add(end);
      return () => {
        this.streams.delete(end);
        inner.unsubscribe();
      };
    });
  }

  private wire(): void {
    const { index } = this.engine;
    index.transitions.subscribe((t) => this.events.emitLazy(() => ({ type: 'record.transition', ...t })));
    index.removals.subscribe(({ id, reason }) =>
      this.events.emitLazy(() => ({ type: 'record.removed', id, reason, at: Date.now() })),
    );
    this.observer = new RecordObserver(index, (id) => this.describe(id));
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
      { interval, initialDelay, now: () => this.clock.now() },
    );
    this.engine.index.transitions.subscribe((t) => {
      if (t.event === 'RELEASE' || t.event === 'RELEASE_MUTABLE') this.gc?.poke();
    });
  }

  /** Keeps a computed size of immutable content; the supervisor decides (and skips it read-only). */
  private rememberSize(id: string, state: RecordState, usage: Usage): void {
    if (hasTag(state, 'mutable') || this.closing) return;
    this.engine.supervisor
      .request<void>({ type: 'REMEMBER_SIZE', id, state, usage: { size: usage.size, inodes: usage.inodes } })
      .catch(() => {
        // A read-only cache refuses it, and a record may go meanwhile: a size memo is only an optimisation.
      });
  }

  private ensureOpen(op: string): void {
    if (this.closing || this.engine.supervisor.status === 'closed')
      throw new CacheError('CLOSED', `${op}: the cache manager is closed`);
  }
}

/** Opens (and, unless read-only, creates and repairs) the cache at `options.root`. */
export function openCacheManager(options: CacheManagerOptions): Promise<CacheManager> {
  return CacheManager.open(options);
}
