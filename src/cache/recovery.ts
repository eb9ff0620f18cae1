import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { checkLmdbFile } from '../metadata/lmdb-check.js';
import type { StoredRecord } from '../metadata/schema.js';
import { withMount } from '../snapshot/mount.js';
import type { Info, Snapshotter } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import { parseSnapshotKey } from './keys.js';
import type { RecoverMode } from './options.js';

const execFileAsync = promisify(execFile);

/** A repair may remove at most this share of a side without asking... */
const SHARE = 0.1;
/** ...or this many, whichever is more: a crash leaves a few half-made records, never many. */
const FEW = 5;

/** How far metadata and snapshotter disagree, counted before any repair. */
export interface Disagreement {
  /** Records stored, corrupt ones included. */
  records: number;
  /** Snapshots that hold data (views hold none). */
  snapshots: number;
  /** Snapshots start-up would remove although no record says they are disposable. */
  orphanSnapshots: number;
  /** Records start-up would drop because their snapshot (or their parent) is gone. */
  lostRecords: number;
  /** Active snapshots without a record: what a crash while `new` prepared them leaves behind. */
  halfMade?: number;
}

const tooMany = (n: number, total: number) => n > FEW && n > total * SHARE;

/** Why the repairs must not run unattended, or undefined when they are what a crash leaves. */
export function needsRecovery(d: Disagreement): string | undefined {
  // A crash during the very first `new`s leaves a few active snapshots and no record yet: not a lost metadata file.
  const halfMadeOnly = d.halfMade !== undefined && d.halfMade === d.snapshots && d.halfMade <= FEW;
  if (d.records === 0 && d.snapshots > 0 && !halfMadeOnly)
    return `the cache metadata has no records but the snapshotter holds ${d.snapshots} snapshots`;
  if (d.snapshots === 0 && d.lostRecords > 0)
    return `the snapshotter holds no snapshots but ${d.lostRecords} of ${d.records} records need one`;
  if (tooMany(d.orphanSnapshots, d.snapshots))
    return `${d.orphanSnapshots} of ${d.snapshots} snapshots have no record and would be removed`;
  if (tooMany(d.lostRecords, d.records))
    return `${d.lostRecords} of ${d.records} records have lost their snapshot or parent and would be dropped`;
  return undefined;
}

/** The error that stops start-up before it changes anything, with both ways out. */
export function recoveryError(root: string, problem: string): CacheError {
  return new CacheError(
    'NEEDS_RECOVERY',
    `cache root ${root} needs recovery: ${problem}; nothing was changed. ` +
      `Rebuild the records from the snapshots with \`cachekit recover --root ${root} --mode rebuild-metadata\` ` +
      `(option recover: 'rebuild-metadata'), or keep the consistent records and move the rest to ` +
      `${join(root, 'lost+found')} with --mode lost+found (recover: 'lost+found')`,
  );
}

/**
 * Records for snapshots that have none, from what each snapshot says about
 * itself: its key (`active/<id>`, `committed/<id>`), its parent's key and its
 * creation time. An active snapshot may have been mutable or frozen; it comes
 * back as a retained mutable record, the one state start-up never removes.
 */
export function rebuildRecords(snapshots: Map<string, Info>, known: (id: string) => boolean): StoredRecord[] {
  const rebuilt = new Map<string, StoredRecord>();
  for (const info of snapshots.values()) {
    const role = parseSnapshotKey(info.name);
    if (!role || role.role === 'view' || known(role.id)) continue;
    if (rebuilt.get(role.id)?.state === 'committed') continue;
    const parentRole = info.parent === undefined ? undefined : parseSnapshotKey(info.parent);
    const committed = role.role === 'committed';
    const meta: StoredRecord = {
      id: role.id,
      state: committed ? 'committed' : 'mutable',
      retain: !committed,
      recordType: 'regular',
      description: `rebuilt from snapshot ${info.name}`,
      createdAt: Math.max(0, Math.trunc(info.created.getTime())),
      usageCount: 0,
    };
    if (parentRole?.role === 'committed') meta.parent = parentRole.id;
    rebuilt.set(role.id, meta);
  }
  return [...rebuilt.values()];
}

async function freshPath(path: string): Promise<string> {
  let candidate = path;
  while (existsSync(candidate)) candidate = `${path}.${randomBytes(3).toString('hex')}`;
  await mkdir(dirname(candidate), { recursive: true, mode: 0o700 });
  return candidate;
}

/**
 * Copies a snapshot's content, as mounted, to `<root>/lost+found/<key>`. A
 * committed snapshot is mounted through a temporary view. Copying (rather than
 * leaving the snapshot behind with a note) lets start-up remove the snapshot
 * afterwards, so the next open finds nothing to repair, while the content stays
 * readable with plain tools, independent of the snapshotter.
 */
export async function salvageSnapshot(snapshotter: Snapshotter, root: string, info: Info): Promise<string> {
  const lostFound = join(root, 'lost+found');
  await mkdir(lostFound, { recursive: true, mode: 0o700 });
  await chmod(lostFound, 0o700);
  const dest = await freshPath(join(lostFound, info.name));
  let viewKey: string | undefined;
  try {
    let mounts = info.kind === 'committed' ? undefined : await snapshotter.mounts(info.name);
    if (!mounts) {
      viewKey = `lost+found-view/${randomBytes(6).toString('hex')}`;
      mounts = await snapshotter.view(viewKey, info.name);
    }
    await withMount(mounts, (dir) =>
      execFileAsync('cp', ['-a', '--sparse=auto', '--reflink=auto', '--no-target-directory', dir, dest]),
    );
  } finally {
    if (viewKey !== undefined) await snapshotter.remove(viewKey).catch(() => undefined);
  }
  return dest;
}

/** Keeps a dropped record's metadata as `<root>/lost+found/records/<id>.json`. */
export async function salvageRecord(root: string, meta: StoredRecord): Promise<string> {
  const dir = join(root, 'lost+found', 'records');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dest = await freshPath(join(dir, `${meta.id}.json`));
  await writeFile(dest, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
  return dest;
}

export type { RecoverMode };

/** Moves a metadata directory whose data file fails the header check to `<dir>.damaged-<time>`. */
export async function setAsideDamagedMetadata(dir: string): Promise<string | undefined> {
  const check = checkLmdbFile(join(dir, 'data.mdb'));
  if (check.ok) return undefined;
  const aside = `${dir}.damaged-${Date.now()}`;
  await rename(dir, aside);
  return aside;
}
