import type { StoredRecord } from '../../metadata/schema.js';
import type { MetadataStore } from '../../metadata/store.js';

/**
 * Writes records to metadata and keeps, per record, the promise of its last
 * write, so an operation can wait until exactly its record is durable. Until
 * a write lands, the record is read from here: LMDB may not show it yet.
 *
 * Writes issued in one event turn share one LMDB transaction (lmdb-js batches
 * a turn's puts), which is how operations decided in the same turn share one
 * fsync while each still resolves only once its own writes are on disk.
 */
export class RecordWriter {
  /** Metadata written but maybe not yet readable from LMDB. */
  private readonly unflushed = new Map<string, StoredRecord>();
  private readonly writes = new Map<string, Promise<void>>();
  /** Cache keys of records whose write has not landed (LMDB's key index may not show them yet), both ways. */
  private readonly unflushedKeys = new Map<string, string>();
  private readonly keyOfUnflushed = new Map<string, string>();
  /** Records made in this process whose metadata was never written (still `creating`). */
  private readonly unstored = new Set<string>();

  constructor(
    private readonly store: MetadataStore,
    /** Told of every failed write, including those no operation waits for. */
    private readonly onWriteError: (id: string, error: unknown) => void = () => {},
    private readonly onCorrupt: (id: string, error: unknown) => void = () => {},
  ) {}

  /**
   * The record as last written, or as stored; undefined when unknown or when
   * its stored value is corrupt. A corrupt record is reported, once, and then
   * skipped by every reader (disk usage, records$, prune, GC, its children),
   * so one bad value never breaks the whole cache.
   */
  read(id: string): StoredRecord | undefined {
    const pending = this.unflushed.get(id);
    if (pending) return pending;
    try {
      return this.store.get(id);
    } catch (error) {
      if (!this.corrupt.has(id)) {
        this.corrupt.add(id);
        this.onCorrupt(id, error);
      }
      return undefined;
    }
  }

  /**
   * The record that may hold a cache key: a pending write first, then LMDB's key index. Only a pointer:
   * the caller checks that the record it names still exists and carries the key.
   */
  keyHolder(key: string): string | undefined {
    return this.unflushedKeys.get(key) ?? this.store.findKey(key);
  }

  /**
   * Records that may have been last used at or before `at`: the last-use index, plus every record whose
   * write has not landed (the index may not show it yet). Undefined when the store has no index.
   */
  usedUpTo(at: number): Iterable<string> | undefined {
    if (!this.store.indexed) return undefined;
    return [...this.store.idsUsedUpTo(at), ...this.unflushed.keys(), ...this.unstored];
  }

  /** Announces the key of a record before its first write, so no second record can take it meanwhile. */
  claimKey(key: string, id: string): void {
    this.unflushedKeys.set(key, id);
    this.keyOfUnflushed.set(id, key);
  }

  /** Records whose stored value failed its schema, reported once each. */
  private readonly corrupt = new Set<string>();

  /** A record that exists only in memory until its first write. */
  expect(id: string): void {
    this.unstored.add(id);
  }

  isStored(id: string): boolean {
    return !this.unstored.has(id);
  }

  put(record: StoredRecord): Promise<void> {
    const { id } = record;
    this.unflushed.set(id, record);
    if (record.key !== undefined) this.claimKey(record.key, id);
    this.unstored.delete(id);
    return this.track(id, this.store.write([{ put: record }]));
  }

  /** Deletes a stored record after its earlier writes; a never-stored one needs nothing. */
  delete(id: string): Promise<void> {
    this.dropKeyOf(id);
    this.unflushed.delete(id);
    if (this.unstored.delete(id)) return this.durable(id);
    const previous = this.durable(id);
    return this.track(
      id,
      previous.then(() => this.store.write([{ delete: id }])),
    );
  }

  /** Resolves once every write issued so far for the record is durable. */
  durable(id: string): Promise<void> {
    return this.writes.get(id) ?? Promise.resolve();
  }

  /** Resolves when every pending write of every record is durable. */
  async allDurable(): Promise<void> {
    await Promise.allSettled(this.writes.values());
  }

  private dropKeyOf(id: string): void {
    const key = this.keyOfUnflushed.get(id);
    if (key === undefined) return;
    this.keyOfUnflushed.delete(id);
    if (this.unflushedKeys.get(key) === id) this.unflushedKeys.delete(key);
  }

  private track(id: string, pending: Promise<void>): Promise<void> {
    const write: Promise<void> = pending.finally(() => {
      if (this.writes.get(id) !== write) return;
      this.writes.delete(id);
      this.dropKeyOf(id);
      this.unflushed.delete(id);
    });
    this.writes.set(id, write);
    // The operation waiting on this record sees the failure through durable(); none is ever left unhandled.
    write.catch((error: unknown) => this.onWriteError(id, error));
    return write;
  }
}
