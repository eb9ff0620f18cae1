import { join } from 'node:path';
import { lastValueFrom, reduce, Subject, tap, type Observable } from 'rxjs';
import { MetadataStore } from '../metadata/store.js';
import type { Snapshotter, Usage } from '../snapshot/types.js';
import { CacheError, isCacheError } from './errors.js';
import { mountRecord } from './mounts.js';
import { openSnapshotter } from './open-snapshotter.js';
import { acquireOwnerLock, type OwnerLock } from './owner-lock.js';
import { NewOptionsSchema, OpenOptionsSchema, parseOptions, type NewOptions, type OpenOptions } from './options.js';
import { reconcile, type ReconcileEntry, type ReconcileReport } from './reconcile.js';
import { ImmutableRef, MutableRef, type MountedRef, type MountOptions, type RecordMetadata, type RefHost } from './refs.js';
import { contentKey, Supervisor, type Inspector } from './supervisor.js';
import { collectUsage, type UsageInfo } from './usage.js';
import { GcScheduler } from './gc.js';
import { isPolicyError, parseFilters, parsePruneInfo, type PruneInfo } from './policy/index.js';
import { prune$, type PrunedRecord } from './prune.js';
import type { RecordState } from '../../machines/record.machine.js';

export interface CacheManagerOptions extends OpenOptions {
  /** Receives XState inspection events from the supervisor and every record actor. */
  inspect?: Inspector;
  /** Policies run in the background after releases (at most once a minute) and shortly after open. */
  gcPolicy?: PruneInfo[];
  /** Background GC pacing, in ms; defaults: 60000 between runs, 1000 after open. */
  gcInterval?: number;
  gcInitialDelay?: number;
}

export type CacheEvent =
  | { type: 'record.transition'; id: string; from: RecordState; to: RecordState; event: string; at: number }
  | { type: 'record.removed'; id: string; reason: string; at: number }
  | { type: 'reconcile'; action: ReconcileEntry['action']; id?: string; detail: string; at: number }
  | { type: 'prune.removed'; id: string; size: number; rule: string; reason: string; dryRun: boolean; at: number }
  | { type: 'gc.done'; removed: number; freed: number; ms: number; at: number }
  | { type: 'gc.error'; message: string; at: number };

/** One record as the manager sees it now. */
export interface RecordView {
  id: string;
  state: RecordState;
  refs: number;
  children: number;
  parent: string | undefined;
  metadata: RecordMetadata;
}

/**
 * The cache manager: BuildKit's Accessor and Controller over records whose
 * lifecycles are XState actors, decided one at a time by a supervisor actor.
 */
export class CacheManager implements RefHost {
  private readonly events = new Subject<CacheEvent>();
  /** Every state change, removal and start-up repair, as it happens. */
  readonly events$: Observable<CacheEvent> = this.events.asObservable();
  startup: ReconcileReport = { records: 0, snapshots: 0, repairs: [] };
  private closing: Promise<void> | undefined;
  private gc: GcScheduler | undefined;

  private constructor(
    readonly root: string,
    private readonly snapshotter: Snapshotter,
    private readonly store: MetadataStore,
    private readonly supervisor: Supervisor,
  ) {
    const { table } = supervisor;
    table.transitions.subscribe((t) => this.events.next({ type: 'record.transition', ...t }));
    table.removals.subscribe(({ id }) => this.events.next({ type: 'record.removed', id, reason: 'removed', at: Date.now() }));
  }

  static async open(options: CacheManagerOptions): Promise<CacheManager> {
    const { inspect, gcPolicy, gcInterval, gcInitialDelay, ...rest } = options ?? ({} as CacheManagerOptions);
    const opts = parseOptions(OpenOptionsSchema, rest, 'cache manager options');
    const gcPolicies = gcPolicy === undefined ? undefined : validatePolicies(gcPolicy, 'gcPolicy');
    const lock: OwnerLock | undefined = opts.readOnly ? undefined : acquireOwnerLock(opts.root);
    let snapshotter: Snapshotter | undefined;
    let store: MetadataStore | undefined;
    try {
      const ownSnapshotter = typeof opts.snapshotter === 'string';
      snapshotter = typeof opts.snapshotter === 'string' ? await openSnapshotter(opts.snapshotter, join(opts.root, 'snapshots')) : opts.snapshotter;
      store = await MetadataStore.open(join(opts.root, 'metadata'), { readOnly: opts.readOnly });
      const pending: CacheEvent[] = [];
      let manager: CacheManager | undefined;
      const s = snapshotter;
      const st = store;
      const supervisor = new Supervisor({
        snapshotter: s,
        store: st,
        ...(inspect ? { inspect } : {}),
        reconcile: async (table) => {
          const report = await reconcile(st, s, table, (entry) => pending.push({ type: 'reconcile', ...entry, at: Date.now() }));
          if (manager) manager.startup = report;
        },
        onClosed: async () => {
          await st.close();
          if (ownSnapshotter) await s.close();
          lock?.release();
        },
      });
      manager = new CacheManager(opts.root, s, st, supervisor);
      await supervisor.start();
      for (const e of pending) manager.events.next(e);
      if (gcPolicies && !opts.readOnly) manager.startGc(gcPolicies, gcInterval ?? 60_000, gcInitialDelay ?? 1_000);
      return manager;
    } catch (err) {
      await store?.close().catch(() => {});
      if (typeof opts.snapshotter === 'string') await snapshotter?.close().catch(() => {});
      lock?.release();
      throw err;
    }
  }

  /** An immutable ref to a record; freezes an idle retained mutable record (BuildKit's rule). */
  async get(id: string): Promise<ImmutableRef> {
    await this.supervisor.request<string>({ type: 'GET', id });
    return new ImmutableRef(this, id);
  }

  /** A new mutable record on top of `parent` (finalized first when frozen). */
  async new(parent?: ImmutableRef | null, options?: NewOptions): Promise<MutableRef> {
    const opts = parseOptions(NewOptionsSchema, options, 'new options');
    if (parent != null && !(parent instanceof ImmutableRef)) throw new CacheError('INVALID', 'new: parent is not an ImmutableRef');
    if (parent?.isReleased) throw new CacheError('INVALID', `new: parent ref to record ${parent.id} was already released`);
    const id = await this.supervisor.request<string>({ type: 'NEW', parent: parent?.id ?? null, options: opts });
    return new MutableRef(this, id);
  }

  /** Takes a mutable record back: an idle retained one, or a frozen one no one holds (thaw). */
  async getMutable(id: string): Promise<MutableRef> {
    await this.supervisor.request<string>({ type: 'GET_MUTABLE', id });
    return new MutableRef(this, id);
  }

  /** Every record with its size; the sizing issue makes this a stream. */
  async diskUsage(): Promise<UsageInfo[]> {
    this.ensureOpen('diskUsage');
    return collectUsage(this.supervisor.table, (id, state, signal) => this.computeSize(id, state, signal));
  }

  /** The record's current state, holders and metadata; NOT_FOUND when unknown. */
  describe(id: string): RecordView {
    this.ensureOpen('describe');
    const { table } = this.supervisor;
    const state = table.stateOf(id);
    if (state === undefined) throw new CacheError('NOT_FOUND', `record ${id} not found`);
    const metadata = this.metadataOf(id);
    return { id, state, refs: table.contextOf(id)?.refs ?? 0, children: table.childrenOf(id), parent: metadata.parent, metadata };
  }

  /** Supervisor status, in-flight operations and live actors. */
  inspect(): { status: string; inFlight: number; records: number; liveActors: number } {
    const { table } = this.supervisor;
    return { status: this.supervisor.status, inFlight: this.supervisor.queueDepth, records: table.size, liveActors: table.liveCount };
  }

  /**
   * Removes unreferenced records by BuildKit's policies, in order, emitting each
   * record as it goes (with the rule and reason). Unsubscribing stops after the
   * removal in progress. `dryRun` emits the same records and removes none.
   */
  prune(...policies: PruneInfo[]): Observable<PrunedRecord> {
    this.ensureOpen('prune');
    const valid = validatePolicies(policies.length ? policies : [{}], 'prune policy');
    return prune$(
      { root: this.root, usage: () => this.diskUsage(), removeRecord: (id, reason) => this.remove(id, reason) },
      valid,
    ).pipe(tap((r) => this.events.next({ type: 'prune.removed', id: r.id, size: r.size, rule: r.rule, reason: r.reason, dryRun: r.dryRun, at: Date.now() })));
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
    this.gc = new GcScheduler(async () => {
      const started = Date.now();
      try {
        const { removed, freed } = await lastValueFrom(
          this.prune(...policies).pipe(reduce((acc, r) => ({ removed: acc.removed + 1, freed: acc.freed + r.size }), { removed: 0, freed: 0 })),
        );
        this.events.next({ type: 'gc.done', removed, freed, ms: Date.now() - started, at: Date.now() });
      } catch (err) {
        if (!isCacheError(err, 'CLOSED')) this.events.next({ type: 'gc.error', message: String(err), at: Date.now() });
      }
    }, { interval, initialDelay });
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

  async sizeOf(id: string, options: { signal?: AbortSignal }): Promise<Usage> {
    this.ensureOpen('size');
    const state = this.supervisor.table.stateOf(id);
    if (state === undefined) throw new CacheError('NOT_FOUND', `size: record ${id} not found`);
    return this.computeSize(id, state, options.signal);
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
    return this.supervisor.request<void>({ type: 'REMOVE', id, reason });
  }

  private async computeSize(id: string, state: RecordState, signal?: AbortSignal): Promise<Usage> {
    const meta = this.supervisor.table.meta(id);
    if (meta?.usage && !state.startsWith('mutable')) return meta.usage;
    const usage = await this.snapshotter.usage(contentKey(id, state), signal ? { signal } : {});
    if (!state.startsWith('mutable') && this.supervisor.table.stateOf(id) === state)
      await this.supervisor.table.updateMeta(id, (m) => ({ ...m, usage }));
    return usage;
  }

  private ensureOpen(op: string): void {
    if (this.closing || this.supervisor.status === 'closed') throw new CacheError('CLOSED', `${op}: the cache manager is closed`);
  }
}

function validatePolicies(policies: readonly PruneInfo[], what: string): PruneInfo[] {
  try {
    return policies.map((p) => {
      const policy = parsePruneInfo(p);
      parseFilters(policy.filter ?? []);
      return policy;
    });
  } catch (err) {
    if (isPolicyError(err)) throw new CacheError('INVALID', `invalid ${what}: ${err.message}`, { cause: err });
    throw err;
  }
}

export function openCacheManager(options: CacheManagerOptions): Promise<CacheManager> {
  return CacheManager.open(options);
}
