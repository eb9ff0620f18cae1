import { waitFor } from 'xstate';
import type { OperationEvent } from '../../../machines/supervisor.machine.js';
import type { RecordEvent } from '../../../machines/record.machine.js';
import type { StoredRecord } from '../../metadata/schema.js';
import { RecordId } from '../../metadata/schema.js';
import { CacheError } from '../errors.js';
import { newRecordId, sizeKey } from '../keys.js';
import type { LiveRecord, RecordIndex } from '../records/record-index.js';
import { stateFacts } from '../records/rules.js';
import { importRecords, pullChain } from './exchange-ops.js';

type OpOf<T extends OperationEvent['type']> = Extract<OperationEvent, { type: T }>;

/** Quotes an id for a message, bounded so hostile input cannot flood a log. */
export const quoteId = (id: string): string => JSON.stringify(id.length > 80 ? `${id.slice(0, 77)}...` : id);

/**
 * The decisions, one per operation. Each runs synchronously inside the
 * supervisor's turn against the record index and either answers at once or
 * returns a promise for the I/O and durable writes that follow.
 */
export class Operations {
  constructor(
    private readonly index: RecordIndex,
    private readonly now: () => number,
  ) {}

  decide(event: OperationEvent): unknown {
    switch (event.type) {
      case 'GET':
        return this.acquire(event.id, { type: 'ACQUIRE' });
      case 'CLONE':
        this.apply(event.id, { type: 'ACQUIRE', clone: true });
        return event.id;
      case 'GET_MUTABLE':
        return this.acquire(event.id, { type: 'ACQUIRE_MUTABLE' });
      case 'NEW':
        return this.create(event);
      case 'FIND':
        return this.find(event.key);
      case 'COMMIT':
        return this.acquire(event.id, { type: 'COMMIT' });
      case 'FINALIZE':
        return this.finalize(event.id);
      case 'RELEASE':
        return this.release(event);
      case 'REMOVE':
        return this.remove(event);
      case 'REMEMBER_SIZE':
        return this.rememberSize(event);
      case 'REMEMBER_LAYER':
        return this.rememberLayer(event);
      case 'PULL':
        return pullChain(this.index, event.id);
      case 'IMPORT':
        return importRecords(this.index, event.records);
    }
  }

  /** Sends a record event if the machine accepts it, else the machine's refusal as a typed error. */
  private apply(id: string, event: RecordEvent): LiveRecord {
    // Every id in the index was checked when it was made or read; only an unknown one needs checking.
    if (!this.index.has(id)) {
      const parsed = RecordId.safeParse(id);
      if (!parsed.success)
        throw new CacheError('INVALID', `record id ${quoteId(id)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
    }
    const record = this.index.revive(id);
    if (!record.actor.getSnapshot().can(event)) {
      const { code, reason } = stateFacts(record.state).refusal(event.type);
      throw new CacheError(code, `record ${id}: ${event.type.toLowerCase()} refused: ${reason}`);
    }
    this.index.send(record, event);
    return record;
  }

  private async acquire(id: string, event: RecordEvent): Promise<string> {
    this.apply(id, event);
    await this.index.durable(id);
    return id;
  }

  /**
   * A ref to the record holding `key`, or undefined. Only immutable content is found (frozen, committed,
   * or known in a registry): a record still being built under the key is not a result yet.
   */
  private find(key: string): Promise<string | undefined> | undefined {
    const id = this.index.findKey(key);
    if (id === undefined) return undefined;
    if (!this.index.is(id, 'immutable')) return undefined;
    return this.acquire(id, { type: 'ACQUIRE' });
  }

  private async create(event: OpOf<'NEW'>): Promise<string> {
    const { parent } = event;
    const { key } = event.options;
    // One record per key. Refused rather than moved: the holder may be in use, and a builder that wants
    // the old result looks the key up first (as BuildKit's solver does before it runs a step).
    const holder = key === undefined ? undefined : this.index.findKey(key);
    if (holder !== undefined)
      throw new CacheError('INVALID', `new: cache key ${quoteId(key!)} already belongs to record ${holder}`);
    if (parent !== null) {
      const parentRecord = this.index.liveRecord(parent);
      if (!parentRecord || parentRecord.actor.getSnapshot().context.refs === 0)
        throw new CacheError('INVALID', `new: parent ${quoteId(parent)} is not held by a live ref`);
      // BuildKit commits a lazily committed parent before a child may build on it.
      const snapshot = parentRecord.actor.getSnapshot();
      if (!snapshot.hasTag('committedContent') && snapshot.can({ type: 'FINALIZE' }))
        this.index.send(parentRecord, { type: 'FINALIZE' });
      this.index.adjustChildren(parent, 1);
    }
    const meta: StoredRecord = {
      id: newRecordId(),
      ...(parent === null ? {} : { parent }),
      state: 'mutable',
      retain: event.options.retain ?? false,
      ...(event.options.description === undefined ? {} : { description: event.options.description }),
      recordType: event.options.recordType ?? 'regular',
      ...(key === undefined ? {} : { key }),
      createdAt: this.now(),
      usageCount: 0,
    };
    const record = this.index.create(meta);
    const settled = await waitFor(record.actor, (s) => !s.hasTag('busy'), { timeout: Infinity });
    if (settled.status === 'done')
      throw new CacheError('INVALID', `new: preparing a snapshot for record ${meta.id} failed`, {
        cause: settled.context.ioError?.error,
      });
    await this.index.durable(meta.id);
    return meta.id;
  }

  private async finalize(id: string): Promise<void> {
    const record = this.index.revive(id);
    const snapshot = record.actor.getSnapshot();
    if (snapshot.hasTag('committedContent')) return;
    if (!snapshot.hasTag('busy')) this.apply(id, { type: 'FINALIZE' });
    const settled = await waitFor(record.actor, (s) => !s.hasTag('busy'), { timeout: Infinity });
    if (!settled.hasTag('committedContent'))
      throw new CacheError('INVALID', `finalize: committing the snapshot of record ${id} failed`, {
        cause: settled.context.ioError?.error,
      });
    await this.index.durable(id);
  }

  private async release(event: OpOf<'RELEASE'>): Promise<void> {
    const at = this.now();
    const record = this.apply(event.id, event.mutable ? { type: 'RELEASE_MUTABLE', at } : { type: 'RELEASE', at });
    // Releasing the last hold of an unretained mutable record removes it: wait until it is gone.
    if (record.actor.getSnapshot().hasTag('removal')) await this.removed(record);
    await this.index.durable(event.id);
  }

  private async remove(event: OpOf<'REMOVE'>): Promise<void> {
    const record = this.apply(event.id, { type: 'REMOVE', reason: event.reason });
    await this.removed(record);
    await this.index.durable(event.id);
  }

  /**
   * Waits for a record's removal; rejects with the cause when its snapshot could not be removed,
   * and the record then stays, visible, in the state the machine gives a failed removal.
   */
  private async removed(record: LiveRecord): Promise<void> {
    const settled = await waitFor(record.actor, (s) => !s.hasTag('busy'), { timeout: Infinity });
    if (settled.status === 'done') return;
    const { id } = record.meta;
    throw new CacheError(
      'INVALID',
      `remove: the snapshot of record ${id} could not be removed; remove, prune or a restart retries it`,
      { cause: settled.context.ioError?.error },
    );
  }

  /** Keeps where a committed record's layer is in a registry, so the next export needs no tar. */
  private rememberLayer(event: OpOf<'REMEMBER_LAYER'>): Promise<void> | undefined {
    const state = this.index.stateOf(event.id);
    if (state === undefined || stateFacts(state).tags.has('mutable')) return undefined;
    return this.index.updateMeta(event.id, (m) => ({ ...m, layer: { ...event.layer } }));
  }

  /** Keeps a computed size of immutable content, unless the record's content changed meanwhile. */
  private rememberSize(event: OpOf<'REMEMBER_SIZE'>): Promise<void> | undefined {
    const now = this.index.stateOf(event.id);
    if (now === undefined || stateFacts(now).tags.has('mutable')) return undefined;
    if (sizeKey(event.id, now) !== sizeKey(event.id, event.state)) return undefined;
    return this.index.updateMeta(event.id, (m) => ({ ...m, usage: event.usage }));
  }
}
