import { Subject } from 'rxjs';
import { type Actor, createActor, type InspectionEvent, type Observer, type SnapshotFrom } from 'xstate';
import {
  RECORD_STATES,
  type RecordContext,
  type RecordEvent,
  type RecordInput,
  type RecordMachine,
  type RecordState,
  type RecordTag,
} from '../../../machines/record.machine.js';
import type { StoredRecord } from '../../metadata/schema.js';
import { CacheError } from '../errors.js';
import { dormantStateOf, hasTag, leafState, stateFacts, stateValue } from './rules.js';
import type { RecordWriter } from './writer.js';

export type RecordActor = Actor<RecordMachine>;
type RecordSnapshot = SnapshotFrom<RecordMachine>;

/** A record with an actor: held, doing I/O, or just touched. */
export interface LiveRecord {
  readonly actor: RecordActor;
  meta: StoredRecord;
  state: RecordState;
  /** The event that caused the next transition, for transition reports. */
  cause: string;
}

export interface TransitionReport {
  id: string;
  from: RecordState;
  to: RecordState;
  event: string;
  at: number;
}

/** A record that reached `removed`, with the reason its machine kept. */
export interface RemovalReport {
  id: string;
  reason: string;
  /** The snapshot step that failed on the way, if one did. */
  ioError?: RecordContext['ioError'];
}

const STATE_CODE = new Map(RECORD_STATES.map((s, i) => [s, i]));
const CHILD_SHIFT = 16;
const pack = (state: RecordState, children: number) => STATE_CODE.get(state)! + children * CHILD_SHIFT;
const unpackState = (packed: number) => RECORD_STATES[packed % CHILD_SHIFT]!;
const unpackChildren = (packed: number) => Math.floor(packed / CHILD_SHIFT);

/**
 * Every record the manager knows: dormant ones as one packed number in a map
 * (state code and child count), live ones as an actor. After each transition
 * it hands the record's durable projection, as the machine's meta defines it,
 * to the writer.
 */
export class RecordIndex {
  private readonly dormant = new Map<string, number>();
  private readonly live = new Map<string, LiveRecord>();
  /**
   * Records per current state, kept on every entry, transition and removal so
   * status() never walks the records (the inspector polls it several times a second).
   */
  private readonly counts = new Map<RecordState, number>();
  readonly transitions = new Subject<TransitionReport>();
  readonly removals = new Subject<RemovalReport>();
  /** The id of every record whose state, holders or metadata changed. */
  readonly changes = new Subject<string>();

  constructor(
    private readonly machine: RecordMachine,
    readonly writer: RecordWriter,
    private readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void),
  ) {}

  /** Registers a record found in metadata at start-up. */
  addDormant(id: string, state: RecordState, children: number): void {
    this.setDormant(id, pack(state, children));
  }

  /** Records per state, as of now; O(number of states). */
  stateCounts(): Partial<Record<RecordState, number>> {
    const out: Partial<Record<RecordState, number>> = {};
    for (const [state, n] of this.counts) if (n > 0) out[state] = n;
    return out;
  }

  has(id: string): boolean {
    return this.live.has(id) || this.dormant.has(id);
  }

  get size(): number {
    return this.live.size + this.dormant.size;
  }

  get liveCount(): number {
    return this.live.size;
  }

  ids(): IterableIterator<string> {
    return [...this.live.keys(), ...this.dormant.keys()][Symbol.iterator]();
  }

  /** Records with an actor: the only ones that can be held. */
  liveIds(): IterableIterator<string> {
    return this.live.keys();
  }

  stateOf(id: string): RecordState | undefined {
    const live = this.live.get(id);
    if (live) return live.state;
    const packed = this.dormant.get(id);
    return packed === undefined ? undefined : unpackState(packed);
  }

  /** Whether the record's current state carries the machine's tag; false for unknown records. */
  is(id: string, tag: RecordTag): boolean {
    const state = this.stateOf(id);
    return state !== undefined && hasTag(state, tag);
  }

  contextOf(id: string): RecordContext | undefined {
    return this.live.get(id)?.actor.getSnapshot().context;
  }

  childrenOf(id: string): number {
    const live = this.live.get(id);
    if (live) return live.actor.getSnapshot().context.children;
    const packed = this.dormant.get(id);
    return packed === undefined ? 0 : unpackChildren(packed);
  }

  meta(id: string): StoredRecord | undefined {
    return this.live.get(id)?.meta ?? this.writer.read(id);
  }

  /** The record that holds a cache key now, or undefined; one index read, never a scan. */
  findKey(key: string): string | undefined {
    const id = this.writer.keyHolder(key);
    return id !== undefined && this.has(id) && this.meta(id)?.key === key ? id : undefined;
  }

  /**
   * Records that may have been last used at or before `at` (never-used ones too), read from the last-use
   * index and the live records: a superset, without visiting the others. Undefined when there is no index.
   */
  usedUpTo(at: number): string[] | undefined {
    const indexed = this.writer.usedUpTo(at);
    if (indexed === undefined) return undefined;
    const ids = new Set<string>(this.live.keys());
    for (const id of indexed) if (this.has(id)) ids.add(id);
    return [...ids];
  }

  liveRecord(id: string): LiveRecord | undefined {
    return this.live.get(id);
  }

  /** Starts a new record's actor in `creating`; its metadata is first written on entering `mutable`. */
  create(meta: StoredRecord): LiveRecord {
    const input: RecordInput = { id: meta.id, retain: meta.retain };
    const actor = createActor(this.machine, { input, id: `record:${meta.id}`, ...this.inspection() });
    this.writer.expect(meta.id);
    if (meta.key !== undefined) this.writer.claimKey(meta.key, meta.id);
    return this.attach(meta, actor, 'creating');
  }

  /** The live record, restoring a dormant one into an actor; NOT_FOUND when unknown. */
  revive(id: string): LiveRecord {
    const live = this.live.get(id);
    if (live) return live;
    const packed = this.dormant.get(id);
    if (packed === undefined) throw new CacheError('NOT_FOUND', `record ${id} not found`);
    const meta = this.meta(id);
    if (!meta) throw new CacheError('NOT_FOUND', `record ${id} not found in metadata`);
    const state = unpackState(packed);
    const context: RecordContext = {
      id,
      retain: meta.retain,
      refs: 0,
      used: false,
      children: unpackChildren(packed),
      usageCount: meta.usageCount,
      ...(meta.lastUsedAt === undefined ? {} : { lastUsedAt: meta.lastUsedAt }),
    };
    const snapshot = this.machine.resolveState({ value: stateValue(state), context });
    const input = { id, retain: meta.retain };
    const actor = createActor(this.machine, { snapshot, input, id: `record:${id}`, ...this.inspection() });
    this.deleteDormant(id);
    return this.attach(meta, actor, state);
  }

  /** Sends an event to a live record, remembering it as the cause of the transition. */
  send(record: LiveRecord, event: RecordEvent): void {
    record.cause = event.type;
    record.actor.send(event);
    // Later transitions of this record come from its own I/O actors finishing.
    record.cause = 'io';
  }

  /** Applies a metadata change to a record (live or dormant) and persists it. */
  updateMeta(id: string, change: (meta: StoredRecord) => StoredRecord): Promise<void> {
    const live = this.live.get(id);
    const current = this.meta(id);
    if (!current) return Promise.resolve();
    const next = change(current);
    if (live) live.meta = next;
    const write = this.writer.put(next);
    this.changes.next(id);
    return write;
  }

  /** Durably marks a record as being removed; never-stored records need no mark. */
  markRemoving(id: string): Promise<void> {
    if (!this.writer.isStored(id)) return Promise.resolve();
    return this.updateMeta(id, (meta) => ({ ...meta, state: 'removing' }));
  }

  /** Adjusts a parent's child count whether or not it is live. */
  adjustChildren(parentId: string, delta: 1 | -1): void {
    const live = this.live.get(parentId);
    if (live) {
      this.send(live, { type: delta > 0 ? 'CHILD_ADDED' : 'CHILD_REMOVED' });
      return;
    }
    const packed = this.dormant.get(parentId);
    if (packed === undefined) return;
    this.setDormant(parentId, pack(unpackState(packed), Math.max(0, unpackChildren(packed) + delta)));
    this.changes.next(parentId);
  }

  /**
   * Read-only caches: brings the dormant entries up to what the owner last
   * stored, reporting each difference as the owner's own changes would be.
   * Stored states are all a reader can see (held and released look alike).
   */
  follow(stored: Iterable<StoredRecord>): void {
    const seen = new Map<string, StoredRecord>();
    const children = new Map<string, number>();
    for (const meta of stored) {
      if (meta.state === 'removing') continue;
      seen.set(meta.id, meta);
      if (meta.parent !== undefined) children.set(meta.parent, (children.get(meta.parent) ?? 0) + 1);
    }
    const at = Date.now();
    for (const [id, meta] of seen) {
      const to = dormantStateOf(meta.state);
      if (to === undefined) continue;
      const from = this.stateOf(id);
      const packed = pack(to, children.get(id) ?? 0);
      if (this.dormant.get(id) === packed && from !== undefined) continue;
      this.setDormant(id, packed);
      if (from !== undefined && from !== to) this.transitions.next({ id, from, to, event: 'stored', at });
      this.changes.next(id);
    }
    for (const id of [...this.dormant.keys()]) {
      if (seen.has(id)) continue;
      this.deleteDormant(id);
      this.removals.next({ id, reason: 'removed by the owner' });
    }
  }

  durable(id: string): Promise<void> {
    return this.writer.durable(id);
  }

  stopAll(): void {
    for (const { actor } of this.live.values()) actor.stop();
    for (const record of this.live.values()) this.count(record.state, -1);
    this.live.clear();
  }

  private inspection() {
    return this.inspect ? { inspect: this.inspect } : {};
  }

  private attach(meta: StoredRecord, actor: RecordActor, state: RecordState): LiveRecord {
    const record: LiveRecord = { actor, meta, state, cause: 'io' };
    this.live.set(meta.id, record);
    this.count(state, 1);
    actor.subscribe({
      next: (snapshot) => this.onSnapshot(record, snapshot),
      error: () => {
        // A failing I/O actor is handled by the machine's onError; nothing escapes here.
      },
    });
    actor.start();
    return record;
  }

  private onSnapshot(record: LiveRecord, snapshot: RecordSnapshot): void {
    const to = leafState(snapshot);
    const from = record.state;
    const id = record.meta.id;
    record.state = to;
    if (to !== from && this.live.get(id) === record) {
      this.count(from, -1);
      this.count(to, 1);
    }
    if (to !== from) this.transitions.next({ id, from, to, event: record.cause, at: Date.now() });
    if (snapshot.status === 'done') {
      this.finishRemoval(record, snapshot.context);
      return;
    }
    this.persistProjection(record, snapshot);
    this.changes.next(id);
    if (snapshot.hasTag('dormant')) queueMicrotask(() => this.sleepIfDormant(record));
  }

  /** Writes the record's stored state and use counters when they changed. */
  private persistProjection(record: LiveRecord, snapshot: RecordSnapshot): void {
    const { stored } = stateFacts(record.state);
    // `removing` is written by markRemoving, which the removal awaits before touching the snapshot.
    if (stored === undefined || stored === 'removing') return;
    const { lastUsedAt, usageCount } = snapshot.context;
    const meta = record.meta;
    // Mutable content has no cached size: what was measured may change (thaw), or was never stored.
    // Nor a layer: an exported digest no longer names content that may change.
    const dropSize = snapshot.hasTag('mutable') && (meta.usage !== undefined || meta.layer !== undefined);
    const unchanged =
      this.writer.isStored(meta.id) &&
      !dropSize &&
      meta.state === stored &&
      meta.lastUsedAt === lastUsedAt &&
      meta.usageCount === usageCount;
    if (unchanged) return;
    const next: StoredRecord = {
      ...meta,
      state: stored,
      usageCount,
      ...(lastUsedAt === undefined ? {} : { lastUsedAt }),
    };
    if (dropSize) {
      delete next.usage;
      delete next.layer;
    }
    record.meta = next;
    void this.writer.put(next);
  }

  private finishRemoval(record: LiveRecord, context: RecordContext): void {
    const id = record.meta.id;
    this.deleteLive(id);
    this.deleteDormant(id);
    void this.writer.delete(id);
    if (record.meta.parent !== undefined) this.adjustChildren(record.meta.parent, -1);
    this.removals.next({
      id,
      reason: context.removalReason ?? 'removed',
      ...(context.ioError ? { ioError: context.ioError } : {}),
    });
  }

  private sleepIfDormant(record: LiveRecord): void {
    const id = record.meta.id;
    if (this.live.get(id) !== record) return;
    const snapshot = record.actor.getSnapshot();
    if (!snapshot.hasTag('dormant')) return;
    record.actor.stop();
    this.deleteLive(id);
    this.setDormant(id, pack(record.state, snapshot.context.children));
  }

  private count(state: RecordState, delta: number): void {
    this.counts.set(state, (this.counts.get(state) ?? 0) + delta);
  }

  private setDormant(id: string, packed: number): void {
    const old = this.dormant.get(id);
    if (old !== undefined) this.count(unpackState(old), -1);
    this.dormant.set(id, packed);
    this.count(unpackState(packed), 1);
  }

  private deleteDormant(id: string): void {
    const old = this.dormant.get(id);
    if (old === undefined) return;
    this.dormant.delete(id);
    this.count(unpackState(old), -1);
  }

  private deleteLive(id: string): void {
    const record = this.live.get(id);
    if (!record) return;
    this.live.delete(id);
    this.count(record.state, -1);
  }
}
