import { chmod, lstat, mkdir, readdir, realpath, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotError } from './errors.js';
import { isFilterSyntaxError, matchFilter, parseFilters, type FieldLookup } from '../filters/index.js';
import { SnapshotStore, type SnapshotRecord } from './store.js';
import { Trash } from './trash.js';
import type {
  Info,
  Mount,
  Snapshotter,
  SnapshotOptions,
  UndeletedDirectory,
  Usage,
  UsageOptions,
  WalkFn,
} from './types.js';
import { normalizeLabels, validateKey } from './validate.js';

/** Field names a snapshot walk filter may use. */
export const SNAPSHOT_FILTER_FIELDS = ['kind', 'name', 'parent', 'labels.*'] as const;

/** Roots open in this process, by real path. */
const openRoots = new Map<string, SnapshotStore>();

/** What each implementation supplies: its on-disk layout, mounts and usage. */
export interface SnapshotDriver {
  /** Creates a snapshot's storage at `dir` (which does not exist yet). `chain` is the parent chain, nearest first. */
  build(dir: string, kind: 'active' | 'view', chain: SnapshotRecord[]): Promise<void>;
  mounts(rec: SnapshotRecord, chain: SnapshotRecord[]): Mount[];
  /** Live usage of the storage the snapshot itself owns. */
  usage(rec: SnapshotRecord, options: UsageOptions): Promise<Usage>;
  /** Directories inside a snapshot's storage that are handed out or written to (checked like the storage). */
  innerDirs?(rec: SnapshotRecord): string[];
  /** Runs before an active snapshot is committed (its storage is final afterwards). */
  beforeCommit?(rec: SnapshotRecord, chain: SnapshotRecord[]): Promise<void>;
}

export function infoLookup(info: Info): FieldLookup {
  return (path) => {
    const [head, ...rest] = path;
    if (rest.length === 0) {
      if (head === 'kind') return info.kind;
      if (head === 'name') return info.name;
      if (head === 'parent') return info.parent;
      return undefined;
    }
    if (head === 'labels' && rest.length === 1) return info.labels[rest[0]!];
    return undefined;
  };
}

/**
 * The shared snapshotter: key space, metadata, validation, walk/filters and
 * error rules. Snapshot directories live at `<root>/snapshots/<id>`; new ones
 * are built under a `new-` name and renamed into place, removed ones are
 * renamed to a `trash-` name before deletion, so a crash leaves only leftovers
 * that `cleanup()` deletes.
 */
/**
 * A walk's filters as a predicate over snapshot infos, in containerd's syntax over the fields a
 * snapshot has; a bad filter is INVALID_ARGUMENT naming it. Every snapshotter walks through this,
 * so filters mean the same for every kind.
 */
export function walkFilter(filters: readonly string[]): (info: Info) => boolean {
  let expr: ReturnType<typeof parseFilters>;
  try {
    expr = parseFilters(filters, { allowedFields: SNAPSHOT_FILTER_FIELDS });
  } catch (err) {
    if (isFilterSyntaxError(err))
      throw new SnapshotError('INVALID_ARGUMENT', 'walk', undefined, `bad filter: ${err.message}`, { cause: err });
    throw err;
  }
  return (info) => matchFilter(expr, infoLookup(info));
}

export class SnapshotterCore implements Snapshotter {
  private closed = false;
  private nextId: number;
  private readonly pending = new Set<Promise<unknown>>();
  /** Removed snapshots' directories, deleted in the background. */
  private readonly trash: Trash;
  /** Ids whose directory exists but whose record may not be written yet. */
  private readonly building = new Set<number>();
  readonly snapshotsDir: string;

  protected constructor(
    readonly root: string,
    protected readonly store: SnapshotStore,
    private readonly driver: SnapshotDriver,
  ) {
    this.snapshotsDir = join(root, 'snapshots');
    this.nextId = store.lastId() + 1;
    this.trash = new Trash(this.snapshotsDir, (ids) => this.store.forgetTrash(ids));
  }

  /**
   * Opens the root's metadata. Ids are allocated in memory, so a root may be
   * open only once at a time in this process; a second open is refused.
   */
  protected static async openStore(root: string): Promise<SnapshotStore> {
    // Everything the snapshotter keeps above the snapshots' own roots is private, whatever the umask.
    await mkdir(join(root, 'snapshots'), { recursive: true, mode: 0o700 });
    for (const dir of [root, join(root, 'snapshots')]) {
      if (!(await lstat(dir)).isDirectory())
        throw new SnapshotError('FAILED_PRECONDITION', 'open', root, `${dir} is not a directory (a symlink?)`);
      await chmod(dir, 0o700);
    }
    const real = await realpath(root);
    if (openRoots.has(real))
      throw new SnapshotError('FAILED_PRECONDITION', 'open', root, 'this root is already open; close it first');
    const file = join(root, 'metadata.lmdb');
    const store = SnapshotStore.open(file);
    for (const f of [file, `${file}-lock`]) await chmod(f, 0o600).catch(() => undefined);
    openRoots.set(real, store);
    return store;
  }

  /**
   * Refuses snapshots whose storage is not a plain directory any more: a
   * symlink swapped in would send copies, mounts and handed-out paths
   * elsewhere. Checked before each of those, with lstat (which never follows).
   */
  protected async checkStorage(op: string, key: string, recs: readonly SnapshotRecord[]): Promise<void> {
    for (const rec of recs)
      for (const path of [this.dirOf(rec.id), ...(this.driver.innerDirs?.(rec) ?? [])]) {
        const st = await lstat(path).catch(() => undefined);
        // Gone storage is a snapshot that is gone (removed meanwhile, or by hand): NOT_FOUND, as containerd says.
        if (st === undefined)
          throw new SnapshotError('NOT_FOUND', op, key, `storage of snapshot ${rec.name} is missing: ${path}`);
        if (!st.isDirectory())
          throw new SnapshotError(
            'FAILED_PRECONDITION',
            op,
            key,
            `storage of snapshot ${rec.name} at ${path} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; refused`,
          );
      }
  }

  dirOf(id: number): string {
    return join(this.snapshotsDir, String(id));
  }

  /** Tracks the call so close() can wait for it, and refuses calls after close. */
  private run<T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SnapshotError('CLOSED', op, key, 'snapshotter is closed'));
    const p = fn();
    this.pending.add(p);
    const forget = () => this.pending.delete(p);
    p.then(forget, forget);
    return p;
  }

  private mustGet(op: string, key: string): SnapshotRecord {
    const rec = this.store.getByName(key);
    if (!rec) throw new SnapshotError('NOT_FOUND', op, key, 'snapshot does not exist');
    return rec;
  }

  private checkCreate(op: string, key: string, parent: string | undefined): SnapshotRecord | undefined {
    if (this.store.getByName(key))
      throw new SnapshotError('ALREADY_EXISTS', op, key, 'a snapshot with this key or name already exists');
    if (parent === undefined) return undefined;
    const p = this.store.getByName(parent);
    if (!p) throw new SnapshotError('NOT_FOUND', op, key, `parent ${JSON.stringify(parent)} does not exist`);
    if (p.kind !== 'committed')
      throw new SnapshotError(
        'INVALID_ARGUMENT',
        op,
        key,
        `parent ${JSON.stringify(parent)} is ${p.kind}, not committed`,
      );
    return p;
  }

  /** Resolves once every directory deletion started so far is done. */
  deleted(): Promise<void> {
    return this.trash.deleted();
  }

  /** Removed snapshots' directories that are still on disk because their deletion failed, and why. */
  undeleted(): UndeletedDirectory[] {
    return this.trash.undeleted();
  }

  /** Changes whenever the snapshot metadata does; read once deletions settled, it names the state left behind. */
  async fingerprint(): Promise<string> {
    await this.trash.settled();
    return `lmdb-txn:${this.store.lastTransaction()}`;
  }

  private create(
    op: 'prepare' | 'view',
    key: string,
    parent: string | undefined,
    options: SnapshotOptions | undefined,
  ): Promise<Mount[]> {
    return this.run(op, typeof key === 'string' ? key : undefined, async () => {
      validateKey(op, 'key', key);
      const parentName = parent === '' ? undefined : parent;
      if (parentName !== undefined) validateKey(op, 'parent', parentName);
      const labels = normalizeLabels(op, key, options?.labels);
      const parentRec = this.checkCreate(op, key, parentName);
      const chain = parentRec ? [parentRec, ...this.store.chain(parentRec)] : [];
      await this.checkStorage(op, key, chain);
      const id = this.nextId++;
      const tmp = join(this.snapshotsDir, `new-${id}`);
      this.building.add(id);
      try {
        try {
          await this.driver.build(tmp, op === 'prepare' ? 'active' : 'view', chain);
          await rename(tmp, this.dirOf(id));
        } catch (err) {
          await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
          // The parent may have been removed (or the key taken) while copying: report that instead.
          this.checkCreate(op, key, parentName);
          throw new SnapshotError(
            'FAILED_PRECONDITION',
            op,
            key,
            `creating snapshot storage failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
        const now = Date.now();
        const rec: SnapshotRecord = {
          id,
          name: key,
          kind: op === 'prepare' ? 'active' : 'view',
          labels,
          created: now,
          updated: now,
        };
        if (parentRec) rec.parentId = parentRec.id;
        try {
          await this.store.write((tx) => {
            const current = this.checkCreate(op, key, parentName);
            // Same name but another id: the parent was removed and recreated while we copied it.
            if (current?.id !== parentRec?.id)
              throw new SnapshotError(
                'NOT_FOUND',
                op,
                key,
                `parent ${JSON.stringify(parentName)} was removed while the snapshot was created`,
              );
            tx.put(rec);
          });
        } catch (err) {
          await this.trash.discard(this.dirOf(id));
          throw err;
        }
        await this.checkStorage(op, key, [rec, ...chain]);
        return this.driver.mounts(rec, chain);
      } finally {
        this.building.delete(id);
      }
    });
  }

  prepare(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.create('prepare', key, parent, options);
  }

  view(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.create('view', key, parent, options);
  }

  stat(key: string): Promise<Info> {
    return this.run('stat', key, async () => {
      validateKey('stat', 'key', key);
      return this.store.toInfo(this.mustGet('stat', key));
    });
  }

  mounts(key: string): Promise<Mount[]> {
    return this.run('mounts', key, async () => {
      validateKey('mounts', 'key', key);
      const rec = this.mustGet('mounts', key);
      if (rec.kind === 'committed')
        throw new SnapshotError(
          'FAILED_PRECONDITION',
          'mounts',
          key,
          'snapshot is committed; only active and view snapshots have mounts',
        );
      const chain = this.store.chain(rec);
      await this.checkStorage('mounts', key, [rec, ...chain]);
      return this.driver.mounts(rec, chain);
    });
  }

  recordedUsage(key: string): Usage | undefined {
    if (this.closed) return undefined;
    try {
      const rec = this.store.getByName(key);
      return rec?.kind === 'committed' && rec.usage ? { ...rec.usage } : undefined;
    } catch {
      // Unreadable metadata: the walk that follows reports it, with the snapshotter's own error.
      return undefined;
    }
  }

  usage(key: string, options: UsageOptions = {}): Promise<Usage> {
    return this.run('usage', key, async () => {
      validateKey('usage', 'key', key);
      const rec = this.mustGet('usage', key);
      if (rec.kind === 'committed' && rec.usage) return { ...rec.usage };
      await this.checkStorage('usage', key, [rec]);
      return this.driver.usage(rec, options);
    });
  }

  commit(name: string, key: string, options?: SnapshotOptions): Promise<void> {
    return this.run('commit', key, async () => {
      validateKey('commit', 'key', key);
      validateKey('commit', 'name', name);
      const labels = normalizeLabels('commit', name, options?.labels);
      const check = (): SnapshotRecord => {
        const rec = this.mustGet('commit', key);
        if (rec.kind !== 'active')
          throw new SnapshotError(
            'FAILED_PRECONDITION',
            'commit',
            key,
            `snapshot is ${rec.kind}; only an active snapshot can be committed`,
          );
        if (this.store.getByName(name))
          throw new SnapshotError('ALREADY_EXISTS', 'commit', name, 'a snapshot with this name or key already exists');
        return rec;
      };
      const rec = check();
      await this.checkStorage('commit', key, [rec, ...this.store.chain(rec)]);
      try {
        await this.driver.beforeCommit?.(rec, this.store.chain(rec));
      } catch (err) {
        throw new SnapshotError(
          'FAILED_PRECONDITION',
          'commit',
          key,
          `preparing the layer for commit failed (is it still mounted?): ${(err as Error).message}`,
          { cause: err },
        );
      }
      const usage = await this.driver.usage(rec, {});
      await this.store.write((tx) => {
        const current = check();
        if (current.id !== rec.id)
          throw new SnapshotError(
            'NOT_FOUND',
            'commit',
            key,
            'the active snapshot was removed while it was being committed',
          );
        const now = Date.now();
        tx.put({ ...current, name, kind: 'committed', labels, created: now, updated: now, usage });
      });
    });
  }

  remove(key: string): Promise<void> {
    return this.run('remove', key, async () => {
      validateKey('remove', 'key', key);
      const removed = await this.store.write((tx) => {
        const rec = this.mustGet('remove', key);
        if (this.store.hasChildren(rec.id))
          throw new SnapshotError('FAILED_PRECONDITION', 'remove', key, 'snapshot has children; remove them first');
        tx.delete(rec);
        return rec;
      });
      await this.trash.discard(this.dirOf(removed.id), removed.id);
    });
  }

  update(info: Pick<Info, 'name'> & Partial<Pick<Info, 'labels'>>, ...fieldpaths: string[]): Promise<Info> {
    const key = typeof info?.name === 'string' ? info.name : undefined;
    return this.run('update', key, async () => {
      if (info === null || typeof info !== 'object')
        throw new SnapshotError('INVALID_ARGUMENT', 'update', undefined, 'info must be an object');
      validateKey('update', 'name', info.name);
      const incoming = normalizeLabels('update', info.name, info.labels);
      const labelKeys: string[] = [];
      let replace = fieldpaths.length === 0;
      for (const path of fieldpaths) {
        if (path === 'labels') replace = true;
        else if (typeof path === 'string' && path.startsWith('labels.') && path.length > 'labels.'.length)
          labelKeys.push(path.slice('labels.'.length));
        else
          throw new SnapshotError(
            'INVALID_ARGUMENT',
            'update',
            info.name,
            `cannot update field path ${JSON.stringify(path)}; only "labels" and "labels.<key>"`,
          );
      }
      return this.store.write((tx) => {
        const rec = this.mustGet('update', info.name);
        const labels = replace ? { ...incoming } : { ...rec.labels };
        for (const k of labelKeys) {
          const v = incoming[k];
          if (v === undefined) delete labels[k];
          else labels[k] = v;
        }
        const next = { ...rec, labels, updated: Date.now() };
        tx.put(next);
        return this.store.toInfo(next);
      });
    });
  }

  walk(fn: WalkFn, ...filters: string[]): Promise<void> {
    // Matches are read up front, so the callback may call stat, remove or even close freely;
    // only the read is tracked, so close() from a callback does not wait for the walk itself.
    const matches = this.run('walk', undefined, async () => {
      const selected = walkFilter(filters);
      return this.store
        .all()
        .map((rec) => this.store.toInfo(rec))
        .filter(selected);
    });
    return matches.then(async (infos) => {
      for (const info of infos) await fn(info);
    });
  }

  cleanup(): Promise<void> {
    return this.run('cleanup', undefined, async () => {
      const live = this.store.ids();
      const trashed = this.store.trashIds();
      const doomed: string[] = [];
      let unknown = 0;
      for (const entry of await readdir(this.snapshotsDir)) {
        const id = /^(?:new-)?(\d+)$/.exec(entry);
        if (id && (this.building.has(Number(id[1])) || (!entry.startsWith('new-') && live.has(Number(id[1])))))
          continue;
        // A directory whose removal committed (its id is in the trash list) was meant to go: not unknown.
        if (id && !entry.startsWith('new-') && !trashed.has(Number(id[1]))) unknown++;
        doomed.push(entry);
      }
      // A crash leaves at most a few finished directories without a record (one per call in flight);
      // many of them mean the metadata lost track of them, and deleting them would delete data.
      if (unknown > 5 && unknown > live.size * 0.1)
        throw new SnapshotError(
          'FAILED_PRECONDITION',
          'cleanup',
          undefined,
          `${unknown} snapshot directories under ${this.snapshotsDir} are unknown to the metadata (which knows ` +
            `${live.size}); is ${join(this.root, 'metadata.lmdb')} damaged? nothing was removed`,
        );
      for (const entry of doomed) await this.trash.discard(join(this.snapshotsDir, entry));
      await this.deleted();
      await this.store.forgetTrash([...trashed].filter((id) => !live.has(id)));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    await this.trash.settled();
    await this.store.close();
    for (const [path, store] of openRoots) if (store === this.store) openRoots.delete(path);
  }
}
