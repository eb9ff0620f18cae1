import { join } from 'node:path';
import { recordMachine } from '../../machines/record.machine.js';
import { MetadataStore } from '../metadata/store.js';
import type { Snapshotter } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import { cacheErrorFromMetadata } from './metadata-errors.js';
import type { CacheEvent } from './events.js';
import { openSnapshotter, snapshotterChoice } from './open-snapshotter.js';
import { releaseOrphanLeases } from './leases.js';
import { OpenOptionsSchema, parseOptions, type OpenOptions, type RecoverMode } from './options.js';
import { setAsideDamagedMetadata } from './recovery.js';
import { checkRoot, createRoot, tightenRoot } from './root-permissions.js';
import { acquireOwnerLock, type OwnerLock } from './owner-lock.js';
import { removeStaleControlSocket } from './control/server.js';
import type { PruneInfo } from './policy/index.js';
import { validatePolicies } from './prune.js';
import { sweepMounts } from './mount-sweep.js';
import {
  CLEAN_SHUTDOWN_KEY,
  cleanShutdownMark,
  type CleanShutdownMark,
  loadAfterCleanShutdown,
  loadRecords,
  reconcile,
  type ReconcileEntry,
  type ReconcileReport,
} from './reconcile.js';
import { RecordIndex } from './records/record-index.js';
import { RecordWriter } from './records/writer.js';
import { type Inspector, type OperationReport, Supervisor } from './supervisor/host.js';
import { recordIo } from './supervisor/record-io.js';
import { Operations } from './supervisor/operations.js';
import { pullIo } from './exchange/pull-io.js';
import { PullSignals } from './exchange/pulls.js';

/** Options of `openCacheManager`. */
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
  /** Where every time the cache records comes from (createdAt, lastUsedAt, keepDuration, GC pacing); default Date. */
  clock?: Clock;
}

/** A source of the current time in ms since the epoch, like `Date.now`. */
export interface Clock {
  now(): number;
}

/** Everything an open cache is made of; the CacheManager facade holds one. */
export interface Engine {
  readonly root: string;
  readonly readOnly: boolean;
  readonly snapshotter: Snapshotter;
  readonly index: RecordIndex;
  readonly supervisor: Supervisor;
  startup: ReconcileReport;
  readonly clock: Clock;
  /** Who waits on each lazy record's pull, so a pull is cancelled only when all of them gave up. */
  readonly pulls: PullSignals;
  /** Read-only caches: re-reads what the owner stored. */
  follow(): void;
}

/** overlayfs options are comma-separated and lowerdir lists colon-separated: such a root cannot be named in them. */
function refuseOverlayRoot(root: string): void {
  if (/[,:\n]/.test(root))
    throw new CacheError(
      'INVALID',
      `cache root ${JSON.stringify(root)}: the overlay snapshotter cannot use a path with ',', ':' or a newline`,
    );
}

/** Options checked before anything is touched on disk. */
export interface CheckedOptions {
  root: string;
  readOnly: boolean;
  recover: RecoverMode | undefined;
  snapshotter: ReturnType<typeof parseRest>['snapshotter'];
  gcPolicies: PruneInfo[] | undefined;
  gcInterval: number;
  gcInitialDelay: number;
  eventBufferSize: number;
  events: boolean;
  inspect: Inspector | undefined;
  clock: Clock;
}

const parseRest = (rest: unknown) => parseOptions(OpenOptionsSchema, rest, 'cache manager options');

function checkClock(clock: unknown): Clock {
  if (clock === undefined) return { now: () => Date.now() };
  if (typeof clock !== 'object' || clock === null || typeof (clock as Clock).now !== 'function')
    throw new CacheError('INVALID', 'invalid cache manager options: clock is not an object with a now() function');
  return clock as Clock;
}

export function checkOptions(options: CacheManagerOptions): CheckedOptions {
  const { inspect, gcPolicy, gcInterval, gcInitialDelay, eventBufferSize, events, clock, ...rest } =
    options ?? ({} as CacheManagerOptions);
  if (eventBufferSize !== undefined && !(Number.isSafeInteger(eventBufferSize) && eventBufferSize > 0))
    throw new CacheError(
      'INVALID',
      `invalid cache manager options: eventBufferSize ${String(eventBufferSize)} is not a positive integer`,
    );
  const opts = parseRest(rest);
  if (opts.recover !== undefined && opts.readOnly)
    throw new CacheError(
      'INVALID',
      'invalid cache manager options: recover repairs the root, so it needs readOnly false',
    );
  return {
    recover: opts.recover,
    root: opts.root,
    readOnly: opts.readOnly,
    snapshotter: opts.snapshotter,
    gcPolicies: gcPolicy === undefined ? undefined : validatePolicies(gcPolicy, 'gcPolicy'),
    gcInterval: gcInterval ?? 60_000,
    gcInitialDelay: gcInitialDelay ?? 1_000,
    eventBufferSize: eventBufferSize ?? 4096,
    events: events !== false,
    inspect,
    clock: checkClock(clock),
  };
}

export interface OpenHooks {
  onOperation(report: OperationReport): void;
  onRepair(event: CacheEvent): void;
  onWriteError(id: string, error: unknown): void;
  onCorrupt(id: string, error: unknown): void;
}

/**
 * Opens a root as the supervisor's start-up steps: `opening` takes the owner
 * lock and opens metadata and the snapshotter, `reconciling` repairs (or, read
 * only, just loads) the records. A failure in either reaches the caller with
 * its cause, and whatever was opened is closed again.
 */
export async function openEngine(opts: CheckedOptions, hooks: OpenHooks): Promise<Engine> {
  let lock: OwnerLock | undefined;
  let store: MetadataStore | undefined;
  let snapshotter: Snapshotter | undefined;
  let ownSnapshotter = false;
  let index: RecordIndex | undefined;
  const startup: ReconcileReport = { records: 0, snapshots: 0, repairs: [] };
  // A clean-shutdown mark is left only by an owner that served from a consistent start and lost no write.
  let started = false;
  let writeFailed = false;
  const engine: { -readonly [K in keyof Engine]?: Engine[K] } = {
    root: opts.root,
    readOnly: opts.readOnly,
    startup,
    clock: opts.clock,
    pulls: new PullSignals(),
  };
  const closeAll = async () => {
    await store?.close().catch(() => {});
    if (ownSnapshotter) await snapshotter?.close().catch(() => {});
    // While the lock is still held: no later owner's socket can be the one removed.
    if (lock) {
      try {
        removeStaleControlSocket(opts.root);
      } catch {
        // The next owner removes it, under the lock.
      }
    }
    lock?.release();
  };
  /**
   * Every operation has settled and every write is durable: metadata and snapshots agree, so the
   * next open may skip the full check. Skipped when anything went wrong since open.
   */
  const leaveCleanShutdownMark = async () => {
    if (opts.readOnly || !started || writeFailed || !store || !snapshotter?.fingerprint) return;
    try {
      const snapshots = await snapshotter.fingerprint();
      const mark: CleanShutdownMark = {
        at: Date.now(),
        records: store.count(),
        snapshots,
        metadataBefore: store.lastTransaction(),
      };
      await store.putSetting(CLEAN_SHUTDOWN_KEY, mark);
    } catch {
      // No mark: the next open checks everything, as after a crash.
    }
  };
  const supervisor = new Supervisor({
    readOnly: opts.readOnly,
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
    onOperation: hooks.onOperation,
    open: async () => {
      if (opts.snapshotter === 'overlay') refuseOverlayRoot(opts.root);
      // Refused before anything is written: a root others can write to, or that another user owns.
      const exists = checkRoot(opts.root);
      if (!opts.readOnly && !exists) createRoot(opts.root);
      lock = opts.readOnly ? undefined : acquireOwnerLock(opts.root);
      // An overlay probe that a killed opener left mounted would make the snapshotter's own probe fail:
      // only the lock holder may take it down, and it must do so before the snapshotter opens.
      if (lock) await sweepMounts(join(opts.root, 'snapshots', 'probe'));
      // A socket left by an owner that was killed; safe to remove only now that no one else can own the root.
      if (lock) removeStaleControlSocket(opts.root);
      // Rebuilding starts from an empty store when the old file cannot even be opened safely.
      if (opts.recover === 'rebuild-metadata') await setAsideDamagedMetadata(join(opts.root, 'metadata'));
      store = await MetadataStore.open(join(opts.root, 'metadata'), { readOnly: opts.readOnly });
      const choice = await snapshotterChoice(store, opts.root, opts.snapshotter);
      if (choice.kind === 'overlay') refuseOverlayRoot(opts.root);
      ownSnapshotter = choice.kind !== 'custom';
      snapshotter = await openSnapshotter(choice, join(opts.root, 'snapshots'), { readOnly: opts.readOnly });
      if (!opts.readOnly) tightenRoot(opts.root);
      const onWriteError = (id: string, error: unknown) => {
        writeFailed = true;
        hooks.onWriteError(id, error);
      };
      const writer = new RecordWriter(store, onWriteError, hooks.onCorrupt);
      // The I/O actors read the index they belong to, so they look it up once it exists.
      const pullSnapshot = pullIo(snapshotter, () => records, opts.root, engine.pulls!);
      const machine = recordMachine.provide({ actors: { ...recordIo(snapshotter, () => records), pullSnapshot } });
      const records = new RecordIndex(machine, writer, opts.inspect);
      index = records;
      engine.snapshotter = snapshotter;
      engine.index = index;
      const operations = new Operations(index, () => opts.clock.now());
      return (event) => operations.decide(event);
    },
    reconcile: async () => {
      if (!store || !snapshotter || !index) throw new Error('reconcile before open');
      // A read-only opener must not repair anything: the owner may be mid-operation.
      if (opts.readOnly) {
        startup.records = loadRecords(
          store.all(() => {}),
          index,
        );
        startup.check = 'read-only';
        return;
      }
      const swept = await sweepMounts(join(opts.root, 'mounts'));
      const mark = cleanShutdownMark(store);
      const metadataTransaction = store.lastTransaction();
      // The mark goes, durably, before any record is served: a crash from here on means a full check next time.
      if (store.setting(CLEAN_SHUTDOWN_KEY) !== undefined) await store.putSetting(CLEAN_SHUTDOWN_KEY, null);
      const loaded =
        mark && opts.recover === undefined
          ? await loadAfterCleanShutdown(store, snapshotter, index, mark, metadataTransaction)
          : undefined;
      if (loaded !== undefined) {
        // Leftover directories are not records: one readdir, no record checked.
        await snapshotter.cleanup?.();
        const stuck = undeletableRepairs(snapshotter);
        for (const entry of stuck) hooks.onRepair({ type: 'reconcile', ...entry, at: Date.now() });
        Object.assign(startup, { records: loaded, check: 'clean-shutdown', repairs: stuck });
        started = true;
        return;
      }
      const report = await reconcile(
        store,
        snapshotter,
        index,
        (entry) => hooks.onRepair({ type: 'reconcile', ...entry, at: Date.now() }),
        { root: opts.root, recover: opts.recover },
      );
      // Entry counts out of step (entries of a record that was corrupt when deleted, say): the indexes
      // are rebuilt from the records just checked, so the next clean start-up can trust them.
      if (!store.indexesInStep()) store.rebuildIndexes();
      for (const entry of await releaseOrphanLeases(snapshotter)) {
        report.repairs.push(entry);
        hooks.onRepair({ type: 'reconcile', ...entry, at: Date.now() });
      }
      const sweepRepairs: ReconcileEntry[] = [
        ...swept.unmounted.map((path) => ({
          action: 'unmounted-leaked-mount' as const,
          detail: `${path} was left mounted by an earlier owner; unmounted it`,
        })),
        ...swept.failed.map(({ path, reason }) => ({
          action: 'kept-busy-mount' as const,
          detail: `${path} is still mounted and could not be unmounted: ${reason}`,
        })),
        ...undeletableRepairs(snapshotter),
      ];
      for (const entry of sweepRepairs) hooks.onRepair({ type: 'reconcile', ...entry, at: Date.now() });
      Object.assign(startup, report, { repairs: [...sweepRepairs, ...report.repairs] });
      started = true;
    },
    close: async () => {
      await index?.writer.allDurable();
      index?.stopAll();
      await leaveCleanShutdownMark();
      await closeAll();
    },
  });
  engine.supervisor = supervisor;
  engine.follow = () => {
    if (!store || !index || !opts.readOnly) return;
    store.refresh();
    index.follow(store.all(() => {}));
  };
  try {
    await supervisor.start();
  } catch (err) {
    await closeAll();
    throw cacheErrorFromMetadata(err);
  }
  return engine as Engine;
}

/** Snapshot directories start-up could not delete: kept and named, never dropped silently. */
function undeletableRepairs(snapshotter: Snapshotter): ReconcileEntry[] {
  return (snapshotter.undeleted?.() ?? []).map(({ path, reason }) => ({
    action: 'kept-undeletable-directory' as const,
    detail: `${path} could not be deleted: ${reason}`,
  }));
}
