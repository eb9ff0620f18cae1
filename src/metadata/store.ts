import { existsSync, mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { MetadataError } from './errors.js';
import { cacheKeyOf, damagedOnFailure, describeIssue, parseStored, Undecodable } from './stored-values.js';
import {
  fieldOfIndexKey,
  fieldRange,
  idOfIndexKey,
  INDEX_NAMES,
  INDEX_VERSION,
  indexKeysOf,
  type IndexKeys,
  type IndexName,
  usedUpToRange,
} from './indexes.js';
import { assertMetadataFile } from './metadata-file.js';
import { migrationPath } from './migrations.js';
import { StoredRecord, type StoredState, SCHEMA_VERSION, SchemaVersion } from './schema.js';

export type MetadataWrite = { put: StoredRecord } | { delete: string };

export interface CorruptEntry {
  id: string;
  reason: string;
}

const VERSION_KEY = 'schemaVersion';
/**
 * Set once a start-up has accepted the store as the root's own. Its absence is what tells a store
 * that was lost (deleted, replaced) from one that merely holds no records right now.
 */
const ESTABLISHED_KEY = 'established';
/** The index version the indexes were last built for; any other value rebuilds them at open. */
const INDEX_VERSION_KEY = 'indexVersion';

/**
 * Record metadata in LMDB: one entry per record, every value checked by zod on
 * read. Writes of one operation share a transaction, and their promise resolves
 * only once the transaction is flushed to disk.
 */
export class MetadataStore {
  private constructor(
    /** The store's directory, named in every error. */
    readonly path: string,
    private readonly env: RootDatabase,
    private readonly records: Database<unknown, string>,
    private readonly settings: Database<unknown, string>,
    /** Cache key -> record id: `findKey` reads one entry instead of scanning the records. */
    private readonly keys: Database<unknown, string>,
    /** The secondary indexes (see indexes.ts), kept in the same transactions as the records. */
    private readonly indexes: Record<IndexName, Database<unknown, string>>,
    readonly readOnly: boolean,
  ) {}

  /**
   * Records written (or deleted, null) in a transaction not yet committed: LMDB shows the old value
   * until then, and a second write in the same turn must unindex what the first one indexed.
   */
  private readonly inFlight = new Map<string, StoredRecord | null>();

  static async open(path: string, options: { readOnly?: boolean } = {}): Promise<MetadataStore> {
    assertMetadataFile(path);
    const readOnly = options.readOnly ?? false;
    if (!readOnly) mkdirSync(path, { recursive: true });
    else if (!existsSync(path))
      throw new MetadataError('NOT_FOUND', path, `no cache metadata at ${path}: not a cachekit root, or never opened`);
    // overlappingSync off: a commit's promise then means "on disk", which is what callers wait for.
    const env = open({ path, overlappingSync: false, readOnly, maxDbs: 8 });
    const meta = env.openDB<unknown, string>({ name: 'meta' });
    const records = env.openDB<unknown, string>({ name: 'records' });
    const keys = env.openDB<unknown, string>({ name: 'keys' });
    const indexes = Object.fromEntries(
      INDEX_NAMES.map((name) => [name, env.openDB<unknown, string>({ name })]),
    ) as Record<IndexName, Database<unknown, string>>;
    const store = new MetadataStore(path, env, records, meta, keys, indexes, readOnly);
    const stored = meta.get(VERSION_KEY);
    if (stored === undefined) {
      if (readOnly) {
        // A read-write open writes the version first: without one this was never a cachekit store.
        await env.close();
        throw new MetadataError(
          'NOT_FOUND',
          path,
          `no schema version in ${path}: not a cachekit root, or never opened`,
        );
      }
      await meta.put(VERSION_KEY, SCHEMA_VERSION);
    } else {
      const parsed = SchemaVersion.safeParse(stored);
      if (!parsed.success)
        throw new MetadataError(
          'UNSUPPORTED_VERSION',
          path,
          `metadata at ${path}: stored schema version ${JSON.stringify(stored)} is not a positive integer`,
        );
      if (parsed.data > SCHEMA_VERSION)
        throw new MetadataError(
          'UNSUPPORTED_VERSION',
          path,
          `metadata at ${path}: schema version ${parsed.data} is newer than this cachekit understands (${SCHEMA_VERSION})`,
        );
      if (parsed.data < SCHEMA_VERSION && !readOnly) {
        const steps = migrationPath(parsed.data);
        await env.transaction(() => {
          const view = {
            get: (k: string) => records.get(k),
            put: (k: string, v: unknown) => void records.put(k, v),
            keys: () => records.getKeys() as Iterable<string>,
          };
          for (const step of steps) step(view);
          void meta.put(VERSION_KEY, SCHEMA_VERSION);
        });
      }
    }
    if (!readOnly && !store.indexed) store.rebuildIndexes();
    return store;
  }

  /** Whether the indexes are built for this version; a read-only opener of an older store scans instead. */
  get indexed(): boolean {
    return this.settings.get(INDEX_VERSION_KEY) === INDEX_VERSION;
  }

  /**
   * Rebuilds every index from the records, in one durable transaction: at the first open by a
   * version with new indexes, and whenever the entry counts show an index out of step.
   */
  rebuildIndexes(): void {
    if (this.readOnly) throw this.readOnlyError('rebuilding the indexes');
    this.env.transactionSync(() => {
      for (const name of INDEX_NAMES) this.indexes[name].clearSync();
      // A corrupt record gets no entries: the counts then differ, and every start-up checks in full.
      for (const record of this.all(() => {}))
        for (const [name, entry] of Object.entries(indexKeysOf(record)) as [IndexName, string][])
          this.indexes[name].putSync(entry, true);
      this.settings.putSync(INDEX_VERSION_KEY, INDEX_VERSION);
    });
  }

  /**
   * Whether the indexes hold one entry per record (byParent aside, which only records with a parent
   * have): a cheap consistency check (LMDB keeps entry counts) before a start-up trusts them alone.
   */
  indexesInStep(): boolean {
    if (!this.indexed) return false;
    const records = this.entryCount(this.records);
    return this.entryCount(this.indexes.byState) === records && this.entryCount(this.indexes.byLastUse) === records;
  }

  /** Ids of records last used at or before `at`, and of those never used, oldest use first; not checked. */
  *idsUsedUpTo(at: number): Generator<string> {
    const range = usedUpToRange(at);
    for (const key of this.damagedOnFailure(() => this.indexes.byLastUse.getKeys(range)))
      yield idOfIndexKey(key as string);
  }

  /** Ids of the records naming `parent` as their parent, as indexed; the caller checks each. */
  childIds(parent: string): string[] {
    const range = fieldRange(parent);
    return this.damagedOnFailure(() => [...this.indexes.byParent.getKeys(range)].map((k) => idOfIndexKey(k as string)));
  }

  /** Ids of the records in a stored state, read from the state index alone (no record is decoded). */
  *idsInState(state: StoredState): Generator<string> {
    for (const key of this.damagedOnFailure(() => this.indexes.byState.getKeys(fieldRange(state))))
      yield idOfIndexKey(key as string);
  }

  /** How many records name each parent, from the parent index alone; parents without children are absent. */
  childCounts(): Map<string, number> {
    const children = new Map<string, number>();
    this.damagedOnFailure(() => {
      for (const key of this.indexes.byParent.getKeys()) {
        const parent = fieldOfIndexKey(key as string);
        children.set(parent, (children.get(parent) ?? 0) + 1);
      }
    });
    return children;
  }

  private entryCount(db: Database<unknown, string>): number {
    return (db.getStats() as { entryCount: number }).entryCount;
  }

  /** The record, validated; undefined when absent; a MetadataError CORRUPT when the stored value is corrupt. */
  get(id: string): StoredRecord | undefined {
    const raw = this.decoded(id);
    if (raw === undefined) return undefined;
    if (raw instanceof Undecodable)
      throw new MetadataError('CORRUPT', this.path, `record ${id}: stored metadata is corrupt: ${raw.reason}`, { id });
    return parseStored(this.path, id, raw);
  }

  /** The stored value, or Undecodable when its bytes are not a value at all (overwritten on disk). */
  private decoded(id: string): unknown {
    try {
      return this.damagedOnFailure(() => this.records.get(id));
    } catch (err) {
      if (err instanceof MetadataError) throw err;
      return new Undecodable(`it cannot be decoded (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  /**
   * The id of the record stored under a cache key, or undefined. The index entry is only a pointer: the
   * caller checks that the record it names still carries the key.
   */
  findKey(key: string): string | undefined {
    const raw = this.damagedOnFailure(() => this.keys.get(key));
    return typeof raw === 'string' ? raw : undefined;
  }

  /** Every record, validated; corrupt entries are reported to `onCorrupt` instead of thrown. */
  *all(onCorrupt: (entry: CorruptEntry) => void): Generator<StoredRecord> {
    const check = (key: string, value: unknown): StoredRecord | undefined => {
      if (value instanceof Undecodable) {
        onCorrupt({ id: key, reason: value.reason });
        return undefined;
      }
      const result = StoredRecord.safeParse(value);
      if (result.success && result.data.id === key) return result.data;
      onCorrupt({
        id: key,
        reason: result.success
          ? `stored id ${result.data.id} differs from its key`
          : result.error.issues.map(describeIssue).join('; '),
      });
      return undefined;
    };
    // One decoding range is the fast path; a value whose bytes do not decode stops it with a throw,
    // and from there each value is read on its own, so that one counts as one corrupt record.
    const range = this.damagedOnFailure(() => this.records.getRange()[Symbol.iterator]());
    let last: string | undefined;
    for (;;) {
      let next: IteratorResult<{ key: string; value: unknown }>;
      try {
        next = this.damagedOnFailure(() => range.next());
      } catch (err) {
        if (err instanceof MetadataError) throw err;
        break;
      }
      if (next.done) return;
      last = next.value.key;
      const record = check(last, next.value.value);
      if (record) yield record;
    }
    const keys = this.damagedOnFailure(() =>
      this.records.getKeys(last === undefined ? {} : { start: last })[Symbol.iterator](),
    );
    for (
      let next = this.damagedOnFailure(() => keys.next());
      !next.done;
      next = this.damagedOnFailure(() => keys.next())
    ) {
      const key = next.value;
      if (key === last) continue;
      const value = this.decoded(key);
      if (value === undefined) continue;
      const record = check(key, value);
      if (record) yield record;
    }
  }

  /** A cache-wide setting (such as which snapshotter the root uses), unchecked. */
  setting(key: string): unknown {
    return this.settings.get(key);
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    if (this.readOnly) throw this.readOnlyError(`setting ${key}`);
    await this.settings.put(key, value);
  }

  /** Whether an earlier start-up accepted this store; a lost and recreated one has not. */
  get established(): boolean {
    return this.settings.get(ESTABLISHED_KEY) === true;
  }

  /** Marks the store as the root's own; durable when it resolves. */
  async establish(): Promise<void> {
    if (!this.established) await this.putSetting(ESTABLISHED_KEY, true);
  }

  /** Reads from now on see the latest commit, including other processes' (lmdb-js may keep an older snapshot). */
  refresh(): void {
    this.env.resetReadTxn();
  }

  /**
   * The id of the last committed write transaction: any write by any process moves it, so a value saved
   * beside it tells whether anything was written since (as the snapshotter's fingerprint does for snapshots).
   */
  lastTransaction(): number {
    const { lastTxnId } = this.env.getStats() as { lastTxnId?: unknown };
    return typeof lastTxnId === 'number' ? lastTxnId : -1;
  }

  /** Records stored; O(1) (LMDB keeps the count). */
  count(): number {
    return this.entryCount(this.records);
  }

  private damagedOnFailure<T>(read: () => T): T {
    return damagedOnFailure(this.path, read);
  }

  /** Applies the writes in one transaction; resolves once it is durable. */
  async write(writes: readonly MetadataWrite[]): Promise<void> {
    if (writes.length === 0) return;
    if (this.readOnly) throw this.readOnlyError(`${writes.length} record write(s)`);
    for (const w of writes) if ('put' in w) StoredRecord.parse(w.put);
    // Writes queued in one event turn commit in one transaction (lmdb-js eventTurnBatching), so these
    // land together; a plain put avoids the round trip to the write thread that transaction() costs.
    await Promise.all(writes.flatMap((w) => ('put' in w ? this.putRecord(w.put) : this.deleteRecord(w.delete))));
  }

  /** The record, its key index entry and its secondary index entries; what it no longer has loses its entry. */
  private putRecord(record: StoredRecord): Promise<boolean>[] {
    const before = this.previous(record.id);
    const pending = [this.records.put(record.id, record)];
    const oldKey = cacheKeyOf(before);
    if (oldKey !== undefined && oldKey !== record.key && this.keys.get(oldKey) === record.id)
      pending.push(this.keys.remove(oldKey));
    if (record.key !== undefined) pending.push(this.keys.put(record.key, record.id));
    pending.push(...this.reindex(indexKeysOf(before), indexKeysOf(record)));
    return this.inFlightUntil(record.id, record, pending);
  }

  private deleteRecord(id: string): Promise<boolean>[] {
    const before = this.previous(id);
    const pending = [this.records.remove(id)];
    const key = cacheKeyOf(before);
    if (key !== undefined && this.keys.get(key) === id) pending.push(this.keys.remove(key));
    pending.push(...this.reindex(indexKeysOf(before), {}));
    return this.inFlightUntil(id, null, pending);
  }

  /** Removes the entries that changed and adds their replacements. */
  private reindex(before: IndexKeys, after: IndexKeys): Promise<boolean>[] {
    const pending: Promise<boolean>[] = [];
    for (const name of INDEX_NAMES) {
      const [was, now] = [before[name], after[name]];
      if (was === now) continue;
      if (was !== undefined) pending.push(this.indexes[name].remove(was));
      if (now !== undefined) pending.push(this.indexes[name].put(now, true));
    }
    return pending;
  }

  /** The last value written for the record, committed or not, read leniently (a corrupt one may not decode). */
  private previous(id: string): unknown {
    if (this.inFlight.has(id)) return this.inFlight.get(id) ?? undefined;
    try {
      return this.records.get(id);
    } catch {
      return undefined;
    }
  }

  private inFlightUntil(id: string, value: StoredRecord | null, pending: Promise<boolean>[]): Promise<boolean>[] {
    this.inFlight.set(id, value);
    const done = () => {
      if (this.inFlight.get(id) === value) this.inFlight.delete(id);
    };
    void Promise.allSettled(pending).then(done);
    return pending;
  }

  /** Test and recovery hook: stores a raw value under an id, unchecked. */
  async putRaw(id: string, value: unknown): Promise<void> {
    await this.records.put(id, value);
  }

  private readOnlyError(what: string): MetadataError {
    return new MetadataError('READ_ONLY', this.path, `metadata at ${this.path} is open read-only: ${what} refused`);
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
