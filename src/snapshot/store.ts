import { createHash } from 'node:crypto';
import { open, type Database, type RootDatabase } from 'lmdb';
import { z } from 'zod';
import { checkLmdbFile } from '../metadata/lmdb-check.js';
import { SnapshotError } from './errors.js';
import type { Info, SnapshotKind } from './types.js';

/** One snapshot as stored; parents are referenced by id, which never changes. */
export const snapshotRecordSchema = z.object({
  id: z.number().int().positive(),
  name: z.string().min(1),
  kind: z.enum(['active', 'view', 'committed']),
  parentId: z.number().int().positive().optional(),
  labels: z.record(z.string(), z.string()),
  created: z.number(),
  updated: z.number(),
  /** Stored at commit for committed snapshots. */
  usage: z.object({ size: z.number().nonnegative(), inodes: z.number().int().nonnegative() }).optional(),
});
export type SnapshotRecord = z.infer<typeof snapshotRecordSchema>;

const idSchema = z.number().int().positive();

/** Names are indexed by digest so that a 4096-byte key fits LMDB's key size limit. */
function nameKey(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex');
}

/**
 * The shared metadata store: records by id, a name index, and a parent→child
 * index used to refuse removing a snapshot with children. Every mutation runs
 * in one abortable LMDB transaction and resolves once it is flushed to disk.
 */
export class SnapshotStore {
  private constructor(
    /** The data file, named when LMDB cannot read it. */
    private readonly path: string,
    private readonly env: RootDatabase,
    private readonly records: Database<unknown, number>,
    private readonly names: Database<unknown, string>,
    private readonly children: Database<boolean, [number, number]>,
    private readonly meta: Database<unknown, string>,
    /**
     * Ids removed whose directory may still exist (renamed to trash, being deleted): written in the
     * removal's own transaction, so start-up knows such a directory was meant to go.
     */
    private readonly trash: Database<boolean, number>,
  ) {}

  static open(path: string): SnapshotStore {
    // lmdb-js would map a damaged file and die on a signal; a bad header is refused first.
    // (A path with an extension is the data file itself to lmdb-js, not a directory.)
    const check = checkLmdbFile(path);
    if (!check.ok)
      throw new SnapshotError('FAILED_PRECONDITION', 'open', path, `snapshot metadata is damaged: ${check.reason}`);
    const env = open({ path, maxDbs: 8 });
    return new SnapshotStore(
      path,
      env,
      env.openDB<unknown, number>({ name: 'records', keyEncoding: 'uint32' }),
      env.openDB<unknown, string>({ name: 'names' }),
      env.openDB<boolean, [number, number]>({ name: 'children' }),
      env.openDB<unknown, string>({ name: 'meta' }),
      env.openDB<boolean, number>({ name: 'trash', keyEncoding: 'uint32' }),
    );
  }

  private parseRecord(id: number, raw: unknown): SnapshotRecord {
    const parsed = snapshotRecordSchema.safeParse(raw);
    if (!parsed.success || parsed.data.id !== id) {
      throw new SnapshotError(
        'FAILED_PRECONDITION',
        'metadata',
        String(id),
        `stored record for snapshot id ${id} is corrupt: ${parsed.error?.message ?? 'id mismatch'}`,
      );
    }
    return parsed.data;
  }

  getById(id: number): SnapshotRecord | undefined {
    const raw = this.damagedOnFailure(() => this.records.get(id));
    return raw === undefined ? undefined : this.parseRecord(id, raw);
  }

  getByName(name: string): SnapshotRecord | undefined {
    const rawId = this.damagedOnFailure(() => this.names.get(nameKey(name)));
    if (rawId === undefined) return undefined;
    const id = idSchema.safeParse(rawId);
    if (!id.success)
      throw new SnapshotError('FAILED_PRECONDITION', 'metadata', name, 'stored name index entry is corrupt');
    const rec = this.getById(id.data);
    return rec?.name === name ? rec : undefined;
  }

  hasChildren(id: number): boolean {
    for (const _ of this.children.getKeys({ start: [id], end: [id + 1], limit: 1 })) return true;
    return false;
  }

  /** The parent chain of a record, nearest first. */
  chain(rec: SnapshotRecord): SnapshotRecord[] {
    const out: SnapshotRecord[] = [];
    let pid = rec.parentId;
    while (pid !== undefined) {
      const p = this.getById(pid);
      if (!p) throw new SnapshotError('FAILED_PRECONDITION', 'metadata', rec.name, `parent id ${pid} is missing`);
      out.push(p);
      pid = p.parentId;
    }
    return out;
  }

  all(): SnapshotRecord[] {
    const out: SnapshotRecord[] = [];
    const entries = this.damagedOnFailure(() => [...this.records.getRange()]);
    for (const { key, value } of entries) out.push(this.parseRecord(key, value));
    return out;
  }

  /** A read LMDB itself fails (MDB_PAGE_NOTFOUND, ...): the file is damaged past its header, a typed error. */
  private damagedOnFailure<T>(read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof Error && /MDB_/.test(err.message))
        throw new SnapshotError(
          'FAILED_PRECONDITION',
          'metadata',
          this.path,
          `snapshot metadata is damaged: ${err.message}`,
          {
            cause: err,
          },
        );
      throw err;
    }
  }

  ids(): Set<number> {
    return new Set(this.records.getKeys());
  }

  /** The id of the last committed write transaction: it changes whenever anything here is written. */
  lastTransaction(): number {
    const { lastTxnId } = this.env.getStats() as { lastTxnId?: unknown };
    return typeof lastTxnId === 'number' ? lastTxnId : -1;
  }

  /** Ids whose removal committed while their directory may not be deleted yet. */
  trashIds(): Set<number> {
    return new Set(this.damagedOnFailure(() => [...this.trash.getKeys()]));
  }

  /** Forgets trash ids whose directories are deleted; durable with the next commit (nothing waits for it). */
  forgetTrash(ids: Iterable<number>): Promise<void> {
    let last: Promise<unknown> = Promise.resolve();
    for (const id of ids) last = this.trash.remove(id);
    return last.then(() => undefined);
  }

  /** The highest id ever allocated, so ids are never reused across restarts. */
  lastId(): number {
    const v = this.meta.get('lastId');
    return typeof v === 'number' ? v : 0;
  }

  toInfo(rec: SnapshotRecord): Info {
    const info: Info = {
      kind: rec.kind as SnapshotKind,
      name: rec.name,
      labels: { ...rec.labels },
      created: new Date(rec.created),
      updated: new Date(rec.updated),
    };
    if (rec.parentId !== undefined) {
      const parent = this.getById(rec.parentId);
      if (!parent)
        throw new SnapshotError('FAILED_PRECONDITION', 'metadata', rec.name, `parent id ${rec.parentId} is missing`);
      info.parent = parent.name;
    }
    return info;
  }

  /**
   * Runs `fn` in one write transaction; a throw aborts every write it made.
   * Resolves with fn's result once the transaction is durable.
   */
  async write<T>(fn: (tx: WriteOps) => T): Promise<T> {
    let result: T | undefined;
    const ops: WriteOps = {
      put: (rec) => {
        const prev = this.getById(rec.id);
        if (prev && prev.name !== rec.name) this.names.remove(nameKey(prev.name));
        this.records.put(rec.id, snapshotRecordSchema.parse(rec));
        this.names.put(nameKey(rec.name), rec.id);
        if (rec.parentId !== undefined) this.children.put([rec.parentId, rec.id], true);
        if (rec.id > this.lastId()) this.meta.put('lastId', rec.id);
      },
      delete: (rec) => {
        this.records.remove(rec.id);
        this.names.remove(nameKey(rec.name));
        if (rec.parentId !== undefined) this.children.remove([rec.parentId, rec.id]);
        this.trash.put(rec.id, true);
      },
    };
    await this.env.childTransaction(() => {
      result = fn(ops);
    });
    await this.env.flushed;
    return result as T;
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}

export interface WriteOps {
  put(rec: SnapshotRecord): void;
  delete(rec: SnapshotRecord): void;
}
