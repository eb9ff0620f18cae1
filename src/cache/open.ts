import { join } from 'node:path';
import { recordMachine } from '../../machines/record.machine.js';
import { MetadataStore } from '../metadata/store.js';
import type { Snapshotter } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import type { CacheEvent } from './events.js';
import { openSnapshotter, snapshotterKind } from './open-snapshotter.js';
import { OpenOptionsSchema, parseOptions, type OpenOptions, type RecoverMode } from './options.js';
import { setAsideDamagedMetadata } from './recovery.js';
import { checkRoot, createRoot, tightenRoot } from './root-permissions.js';
import { acquireOwnerLock, type OwnerLock } from './owner-lock.js';
import type { PruneInfo } from './policy/index.js';
import { validatePolicies } from './prune.js';
import { loadRecords, reconcile, type ReconcileReport } from './reconcile.js';
import { RecordIndex } from './records/record-index.js';
import { RecordWriter } from './records/writer.js';
import { type Inspector, type OperationReport, Supervisor } from './supervisor/host.js';
import { recordIo } from './supervisor/record-io.js';
import { Operations } from './supervisor/operations.js';

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
}

/** Everything an open cache is made of; the CacheManager facade holds one. */
export interface Engine {
  readonly root: string;
  readonly readOnly: boolean;
  readonly snapshotter: Snapshotter;
  readonly index: RecordIndex;
  readonly supervisor: Supervisor;
  startup: ReconcileReport;
  /** Read-only caches: re-reads what the owner stored. */
  follow(): void;
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
}

const parseRest = (rest: unknown) => parseOptions(OpenOptionsSchema, rest, 'cache manager options');

export function checkOptions(options: CacheManagerOptions): CheckedOptions {
  const { inspect, gcPolicy, gcInterval, gcInitialDelay, eventBufferSize, events, ...rest } =
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
  const engine: { -readonly [K in keyof Engine]?: Engine[K] } = { root: opts.root, readOnly: opts.readOnly, startup };
  const closeAll = async () => {
    await store?.close().catch(() => {});
    if (ownSnapshotter) await snapshotter?.close().catch(() => {});
    lock?.release();
  };
  const supervisor = new Supervisor({
    readOnly: opts.readOnly,
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
    onOperation: hooks.onOperation,
    open: async () => {
      // Refused before anything is written: a root others can write to, or that another user owns.
      const exists = checkRoot(opts.root);
      if (!opts.readOnly && !exists) createRoot(opts.root);
      lock = opts.readOnly ? undefined : acquireOwnerLock(opts.root);
      // Rebuilding starts from an empty store when the old file cannot even be opened safely.
      if (opts.recover === 'rebuild-metadata') await setAsideDamagedMetadata(join(opts.root, 'metadata'));
      store = await MetadataStore.open(join(opts.root, 'metadata'), { readOnly: opts.readOnly });
      const kind = await snapshotterKind(store, opts.root, opts.snapshotter);
      ownSnapshotter = kind !== 'custom';
      snapshotter =
        typeof opts.snapshotter === 'object'
          ? opts.snapshotter
          : await openSnapshotter(kind as 'native' | 'overlay', join(opts.root, 'snapshots'));
      if (!opts.readOnly) tightenRoot(opts.root);
      const writer = new RecordWriter(store, hooks.onWriteError, hooks.onCorrupt);
      // The I/O actors read the index they belong to, so they look it up once it exists.
      const machine = recordMachine.provide({ actors: recordIo(snapshotter, () => records) });
      const records = new RecordIndex(machine, writer, opts.inspect);
      index = records;
      engine.snapshotter = snapshotter;
      engine.index = index;
      const operations = new Operations(index, Date.now);
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
        return;
      }
      const report = await reconcile(
        store,
        snapshotter,
        index,
        (entry) => hooks.onRepair({ type: 'reconcile', ...entry, at: Date.now() }),
        { root: opts.root, recover: opts.recover },
      );
      Object.assign(startup, report);
    },
    close: async () => {
      await index?.writer.allDurable();
      index?.stopAll();
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
    throw err;
  }
  return engine as Engine;
}
