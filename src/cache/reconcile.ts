import { z } from 'zod';
import { type StoredRecord, StoredState } from '../metadata/schema.js';
import type { MetadataStore, MetadataWrite } from '../metadata/store.js';
import { isSnapshotError } from '../snapshot/errors.js';
import type { Info, Snapshotter } from '../snapshot/types.js';
import { activeKey, committedKey, parseSnapshotKey } from './keys.js';
import type { RecoverMode } from './options.js';
import type { RecordIndex } from './records/record-index.js';
import { needsRecovery, rebuildRecords, recoveryError, salvageRecord, salvageSnapshot } from './recovery.js';
import { dormantStateOf } from './records/rules.js';

export type ReconcileAction =
  | 'removed-orphan-snapshot'
  | 'dropped-missing-snapshot'
  | 'dropped-orphan-child'
  | 'removed-unretained-mutable'
  | 'repaired-commit'
  | 'completed-removal'
  | 'kept-corrupt-record'
  | 'unmounted-leaked-mount'
  | 'kept-busy-mount'
  | 'released-orphan-lease'
  | 'rebuilt-record'
  | 'moved-to-lost-found'
  | 'kept-undeletable-directory';

export interface ReconcileEntry {
  action: ReconcileAction;
  id?: string;
  detail: string;
}

/** What start-up found and repaired; returned by openCacheManager as `startup`. */
export interface ReconcileReport {
  records: number;
  snapshots: number;
  repairs: ReconcileEntry[];
  /**
   * `full`: every record checked against its snapshots (after a crash, or with no clean-shutdown mark);
   * `clean-shutdown`: the last owner closed cleanly, so only the records were loaded; `read-only`: loaded only.
   */
  check?: StartupCheck;
}

export type StartupCheck = 'full' | 'clean-shutdown' | 'read-only';

/** The setting a clean close leaves behind; any other value (or none) means a full check at open. */
export const CLEAN_SHUTDOWN_KEY = 'cleanShutdown';
const CleanShutdownMark = z.object({
  at: z.number(),
  records: z.number().int().nonnegative(),
  /** The snapshotter's fingerprint at close: any change to the snapshots since means a full check. */
  snapshots: z.string().min(1),
  /**
   * The metadata's last transaction before the mark was written: the mark's own write is the next one,
   * so any other id at open means something wrote the records since (a tool, another process).
   */
  metadataBefore: z.number().int(),
});
export type CleanShutdownMark = z.infer<typeof CleanShutdownMark>;

/** The mark the last owner left, if it closed cleanly and left one this version understands. */
export function cleanShutdownMark(store: MetadataStore): CleanShutdownMark | undefined {
  const parsed = CleanShutdownMark.safeParse(store.setting(CLEAN_SHUTDOWN_KEY));
  return parsed.success ? parsed.data : undefined;
}

/**
 * After a clean shutdown metadata and snapshots agreed when the last owner closed: records are loaded
 * without walking the snapshots. Anything a clean close never leaves (snapshots changed since, a
 * `removing` mark, an unretained mutable record, a corrupt value, a record count that differs from
 * the mark's) returns undefined: check fully instead.
 */
export async function loadAfterCleanShutdown(
  store: MetadataStore,
  snapshotter: Snapshotter,
  table: RecordIndex,
  mark: CleanShutdownMark,
  /** The metadata's last transaction as the open found it, before the mark was taken away. */
  metadataTransaction: number,
): Promise<number | undefined> {
  if (metadataTransaction !== mark.metadataBefore + 1) return undefined;
  if (snapshotter.fingerprint === undefined || (await snapshotter.fingerprint()) !== mark.snapshots) return undefined;
  // The indexes alone say each record's state and parent; no record is decoded unless it is mutable.
  if (!store.indexesInStep() || store.count() !== mark.records) return undefined;
  for (const _ of store.idsInState('removing')) return undefined;
  // An unretained mutable record is what a crash leaves; a clean close never does. Such records are few.
  for (const id of store.idsInState('mutable')) if (readLeniently(store, id)?.retain !== true) return undefined;
  const children = store.childCounts();
  let loaded = 0;
  for (const state of StoredState.options) {
    const dormant = dormantStateOf(state);
    if (dormant === undefined) continue;
    // Streamed from the index straight into the table: no list of a million records is built first.
    for (const id of store.idsInState(state)) {
      table.addDormant(id, dormant, children.get(id) ?? 0);
      loaded++;
    }
  }
  return loaded;
}

function readLeniently(store: MetadataStore, id: string): StoredRecord | undefined {
  try {
    return store.get(id);
  } catch {
    return undefined;
  }
}

/** Where the root is, and the recovery the caller asked for, if any. */
export interface ReconcileOptions {
  root: string;
  recover?: RecoverMode | undefined;
}

/**
 * Brings metadata and the snapshotter back into agreement after any stop,
 * clean or not, then loads every surviving record into the table as dormant.
 * Only what a crash leaves is repaired unasked: when one side is empty while
 * the other has data, or the repairs would remove more than a small share,
 * it throws NEEDS_RECOVERY before changing anything, unless `recover` says how.
 */
export async function reconcile(
  store: MetadataStore,
  snapshotter: Snapshotter,
  table: RecordIndex,
  report: (entry: ReconcileEntry) => void,
  options: ReconcileOptions = { root: '.' },
): Promise<ReconcileReport> {
  const repairs: ReconcileEntry[] = [];
  const note = (entry: ReconcileEntry) => {
    repairs.push(entry);
    report(entry);
  };
  const snapshots = new Map<string, Info>();
  await snapshotter.walk((info) => void snapshots.set(info.name, info));
  const corruptIds = new Set<string>();
  const records = new Map<string, StoredRecord>();
  for (const meta of store.all((bad) => {
    corruptIds.add(bad.id);
    note({
      action: 'kept-corrupt-record',
      id: bad.id,
      detail: `metadata is corrupt and was left untouched: ${bad.reason}`,
    });
  }))
    records.set(meta.id, meta);

  const writes: MetadataWrite[] = [];
  if (options.recover === 'rebuild-metadata')
    for (const meta of rebuildRecords(snapshots, (id) => records.has(id) || corruptIds.has(id))) {
      records.set(meta.id, meta);
      writes.push({ put: meta });
      note({ action: 'rebuilt-record', id: meta.id, detail: `rebuilt as ${meta.state} from its snapshot` });
    }
  const doomed: { id: string; action: ReconcileAction; detail: string }[] = [];
  const halfPulled = new Set<string>();
  for (const meta of records.values()) {
    const hasActive = snapshots.get(activeKey(meta.id))?.kind === 'active';
    const hasCommitted = snapshots.get(committedKey(meta.id))?.kind === 'committed';
    if (meta.state === 'remote') {
      // Lazy: no snapshot is expected. A committed one means a pull finished just before a crash; an
      // active one is a pull cut short, removed below as a half-applied layer.
      if (hasCommitted) {
        const repaired: StoredRecord = { ...meta, state: 'committed' };
        records.set(meta.id, repaired);
        writes.push({ put: repaired });
        note({ action: 'repaired-commit', id: meta.id, detail: 'a pull finished before a crash; marked committed' });
      } else if (hasActive) halfPulled.add(meta.id);
    } else if (meta.state === 'removing')
      doomed.push({ id: meta.id, action: 'completed-removal', detail: 'a removal was interrupted; finished it' });
    else if (meta.state === 'mutable' && !meta.retain)
      doomed.push({
        id: meta.id,
        action: 'removed-unretained-mutable',
        detail: 'an unretained mutable record outlived its process',
      });
    else if (meta.state === 'frozen' && !hasActive && hasCommitted) {
      const repaired: StoredRecord = { ...meta, state: 'committed' };
      records.set(meta.id, repaired);
      writes.push({ put: repaired });
      note({
        action: 'repaired-commit',
        id: meta.id,
        detail: 'the snapshot commit finished before a crash; marked committed',
      });
    } else if (meta.state === 'committed' ? !hasCommitted : !hasActive)
      doomed.push({
        id: meta.id,
        action: 'dropped-missing-snapshot',
        detail: `its ${meta.state === 'committed' ? 'committed' : 'active'} snapshot is gone`,
      });
  }

  // A record whose parent goes must go too, as must its descendants.
  const childrenOf = new Map<string, string[]>();
  for (const meta of records.values()) {
    if (meta.parent === undefined) continue;
    const siblings = childrenOf.get(meta.parent) ?? [];
    siblings.push(meta.id);
    childrenOf.set(meta.parent, siblings);
  }
  const gone = new Set(doomed.map((d) => d.id));
  const queue = [...gone];
  for (const meta of records.values())
    if (meta.parent !== undefined && !records.has(meta.parent) && !corruptIds.has(meta.parent) && !gone.has(meta.id)) {
      gone.add(meta.id);
      queue.push(meta.id);
      doomed.push({ id: meta.id, action: 'dropped-orphan-child', detail: `its parent ${meta.parent} has no record` });
    }
  while (queue.length > 0) {
    for (const child of childrenOf.get(queue.pop()!) ?? []) {
      if (gone.has(child)) continue;
      gone.add(child);
      queue.push(child);
      doomed.push({ id: child, action: 'dropped-orphan-child', detail: 'its parent was dropped' });
    }
  }
  const owned = (key: string) => {
    const role = parseSnapshotKey(key);
    // A key that is not one of ours may belong to someone sharing the store (a containerd namespace): never ours to delete.
    if (!role) return true;
    if (corruptIds.has(role.id)) return true;
    if (role.role === 'view') return false;
    if (role.role === 'active' && halfPulled.has(role.id)) return false;
    return records.has(role.id) && !gone.has(role.id);
  };
  // Removals no record vouches for: snapshots without a record, and records whose data is gone.
  const vouched = new Set(
    doomed
      .filter((d) => d.action === 'completed-removal' || d.action === 'removed-unretained-mutable')
      .map((d) => d.id),
  );
  const unvouched = [...snapshots.values()].filter((info) => {
    const role = parseSnapshotKey(info.name);
    return role?.role !== 'view' && !owned(info.name) && !(role && (vouched.has(role.id) || halfPulled.has(role.id)));
  });
  const lost = doomed.filter((d) => d.action === 'dropped-missing-snapshot' || d.action === 'dropped-orphan-child');
  if (options.recover === undefined) {
    const problem = needsRecovery({
      records: records.size + corruptIds.size,
      snapshots: [...snapshots.keys()].filter((k) => parseSnapshotKey(k)?.role !== 'view').length,
      orphanSnapshots: unvouched.length,
      lostRecords: lost.length,
      // Roots from before the mark existed count as established once they hold records.
      established: store.established || records.size + corruptIds.size > 0,
    });
    if (problem !== undefined) throw recoveryError(options.root, problem);
  }
  await store.establish();
  // Half-made or half-removed snapshot directories from a crash go next (the snapshotter refuses
  // to delete more than a crash leaves, too).
  await snapshotter.cleanup?.();
  if (options.recover === 'lost+found') {
    // Copied out before anything is marked: a crash here leaves the root as it was.
    for (const info of unvouched) {
      const dest = await salvageSnapshot(snapshotter, options.root, info);
      const role = parseSnapshotKey(info.name);
      note({
        action: 'moved-to-lost-found',
        ...(role ? { id: role.id } : {}),
        detail: `snapshot ${info.name} copied to ${dest}`,
      });
    }
    for (const d of lost) {
      const dest = await salvageRecord(options.root, records.get(d.id)!);
      note({ action: 'moved-to-lost-found', id: d.id, detail: `record kept as ${dest}` });
    }
  }

  // Mark doomed records durably first: a crash during the snapshot removals below is finished next time.
  for (const id of gone) {
    const meta = records.get(id)!;
    if (meta.state !== 'removing') writes.push({ put: { ...meta, state: 'removing' } });
  }
  await store.write(writes);

  await removeSnapshots(
    snapshotter,
    snapshots,
    (key) => !owned(key),
    (key) => {
      const role = parseSnapshotKey(key);
      if (!role || !gone.has(role.id) || role.role === 'view')
        note({
          action: 'removed-orphan-snapshot',
          ...(role ? { id: role.id } : {}),
          detail: `snapshot ${key} had no record`,
        });
    },
  );
  // Start-up is a repair: it ends with the removed snapshots' directories deleted, not just renamed away.
  await snapshotter.deleted?.();
  for (const d of doomed) note({ action: d.action, id: d.id, detail: d.detail });
  await store.write([...gone].map((id) => ({ delete: id })));

  loadRecords(
    [...records.values()].filter((m) => !gone.has(m.id)),
    table,
  );
  return { records: records.size - gone.size, snapshots: snapshots.size, repairs, check: 'full' };
}

/** Registers stored records as dormant, with their child counts; `removing` ones are left out. */
export function loadRecords(records: Iterable<StoredRecord>, table: RecordIndex): number {
  const kept = [...records].filter((m) => m.state !== 'removing');
  const children = new Map<string, number>();
  for (const meta of kept)
    if (meta.parent !== undefined) children.set(meta.parent, (children.get(meta.parent) ?? 0) + 1);
  for (const meta of kept) table.addDormant(meta.id, dormantStateOf(meta.state)!, children.get(meta.id) ?? 0);
  return kept.length;
}

/** Removes the selected snapshots leaves first, since a snapshot with children cannot go. */
async function removeSnapshots(
  snapshotter: Snapshotter,
  all: Map<string, Info>,
  selected: (key: string) => boolean,
  removed: (key: string) => void,
): Promise<void> {
  const pending = new Set([...all.keys()].filter(selected));
  while (pending.size > 0) {
    const parents = new Set<string>();
    for (const key of pending) {
      const parent = all.get(key)?.parent;
      if (parent !== undefined && pending.has(parent)) parents.add(parent);
    }
    const leaves = [...pending].filter((k) => !parents.has(k));
    for (const key of leaves) {
      pending.delete(key);
      try {
        await snapshotter.remove(key);
        removed(key);
      } catch (err) {
        // A snapshot still parenting a kept one cannot go; leaving it is the safe outcome.
        if (!isSnapshotError(err, 'NOT_FOUND') && !isSnapshotError(err, 'FAILED_PRECONDITION')) throw err;
      }
    }
  }
}
