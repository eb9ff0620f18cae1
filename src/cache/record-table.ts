import { Subject } from 'rxjs';
import { createActor, type Actor, type InspectionEvent, type Observer, type SnapshotFrom } from 'xstate';
import {
  DORMANT_STATES,
  RECORD_STATES,
  type RecordContext,
  type RecordEvent,
  type RecordInput,
  type RecordMachine,
  type RecordState,
} from '../../machines/record.machine.js';
import type { RecordMeta, StoredState } from '../metadata/schema.js';
import type { MetadataStore } from '../metadata/store.js';
import { CacheError } from './errors.js';

export type RecordActor = Actor<RecordMachine>;
type RecordSnapshot = SnapshotFrom<RecordMachine>;

export interface LiveRecord {
  actor: RecordActor;
  meta: RecordMeta;
  state: RecordState;
  /** The event that caused the next transition, for transition reports. */
  cause: string;
  /** Why the record is being removed, once it is. */
  removalReason?: string;
  /** The failure of the record's last snapshot I/O, for the operation that waits on it. */
  ioError?: unknown;
}

export interface TransitionReport {
  id: string;
  from: RecordState;
  to: RecordState;
  event: string;
  at: number;
}

/** Dotted leaf path of a snapshot's value ('committed.released'). */
export function leafState(snapshot: RecordSnapshot): RecordState {
  const value = snapshot.value;
  if (typeof value === 'string') return value as RecordState;
  const [parent, child] = Object.entries(value)[0] as [string, string];
  return `${parent}.${child}` as RecordState;
}

function stateValue(state: RecordState): string | Record<string, string> {
  const [parent, child] = state.split('.');
  return child === undefined ? parent! : { [parent!]: child };
}

function storedStateOf(state: RecordState): StoredState | undefined {
  if (state.startsWith('mutable')) return 'mutable';
  if (state.startsWith('frozen') || state === 'finalizing') return 'frozen';
  if (state.startsWith('committed')) return 'committed';
  if (state === 'removing') return 'removing';
  return undefined;
}

/** The dormant state a stored record resumes in when no process holds it. */
export function dormantStateOf(stored: StoredState): RecordState | undefined {
  return stored === 'mutable'
    ? 'mutable.idle'
    : stored === 'frozen'
      ? 'frozen.released'
      : stored === 'committed'
        ? 'committed.released'
        : undefined;
}

const STATE_CODE = new Map(RECORD_STATES.map((s, i) => [s, i]));
const CHILD_SHIFT = 16;
const pack = (state: RecordState, children: number) => STATE_CODE.get(state)! + children * CHILD_SHIFT;
const unpackState = (packed: number) => RECORD_STATES[packed % CHILD_SHIFT]!;
const unpackChildren = (packed: number) => Math.floor(packed / CHILD_SHIFT);

/**
 * Every record the manager knows: dormant ones as one packed number in a map
 * (state code and child count), live ones as an actor. Persists each record's
 * durable projection after every transition and keeps the promise of that write.
 */
export class RecordTable {
  private readonly dormant = new Map<string, number>();
  private readonly live = new Map<string, LiveRecord>();
  /** Metadata written but maybe not yet readable from LMDB. */
  private readonly unflushed = new Map<string, RecordMeta>();
  private readonly writes = new Map<string, Promise<void>>();
  readonly transitions = new Subject<TransitionReport>();
  readonly removals = new Subject<{ id: string; meta: RecordMeta; reason: string }>();
  /** The id of every record whose state, holders or metadata changed. */
  readonly changes = new Subject<string>();

  constructor(
    private readonly machine: RecordMachine,
    private readonly store: MetadataStore,
    private readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void),
  ) {}

  /** Registers a record found in metadata at start-up. */
  addDormant(id: string, state: RecordState, children: number): void {
    this.dormant.set(id, pack(state, children));
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

  contextOf(id: string): RecordContext | undefined {
    return this.live.get(id)?.actor.getSnapshot().context;
  }

  childrenOf(id: string): number {
    const live = this.live.get(id);
    if (live) return live.actor.getSnapshot().context.children;
    const packed = this.dormant.get(id);
    return packed === undefined ? 0 : unpackChildren(packed);
  }

  meta(id: string): RecordMeta | undefined {
    return this.live.get(id)?.meta ?? this.unflushed.get(id) ?? this.store.get(id);
  }

  liveRecord(id: string): LiveRecord | undefined {
    return this.live.get(id);
  }

  /** Starts a new record's actor in `creating`; its metadata is first written on entering `mutable`. */
  create(meta: RecordMeta): LiveRecord {
    const input: RecordInput = { id: meta.id, retain: meta.retain };
    const actor = createActor(this.machine, {
      input,
      id: `record:${meta.id}`,
      ...(this.inspect ? { inspect: this.inspect } : {}),
    });
    this.unstored.add(meta.id);
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
    const actor = createActor(this.machine, {
      snapshot,
      input: { id, retain: meta.retain },
      id: `record:${id}`,
      ...(this.inspect ? { inspect: this.inspect } : {}),
    });
    this.dormant.delete(id);
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
  updateMeta(id: string, change: (meta: RecordMeta) => RecordMeta): Promise<void> {
    const live = this.live.get(id);
    const current = this.meta(id);
    if (!current) return Promise.resolve();
    const next = change(current);
    if (live) live.meta = next;
    const write = this.persist(id, next);
    this.changes.next(id);
    return write;
  }

  /** Durably marks a record as being removed; never-stored records need no mark. */
  markRemoving(id: string): Promise<void> {
    if (this.unstored.has(id)) return Promise.resolve();
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
    this.dormant.set(parentId, pack(unpackState(packed), Math.max(0, unpackChildren(packed) + delta)));
    this.changes.next(parentId);
  }

  /** Resolves once every write issued so far for the record is durable. */
  durable(id: string): Promise<void> {
    return this.writes.get(id) ?? Promise.resolve();
  }

  /** Resolves when every pending write of every record is durable. */
  async allDurable(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  stopAll(): void {
    for (const { actor } of this.live.values()) actor.stop();
    this.live.clear();
  }

  private attach(meta: RecordMeta, actor: RecordActor, state: RecordState): LiveRecord {
    const record: LiveRecord = { actor, meta, state, cause: 'io' };
    this.live.set(meta.id, record);
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
    if (to !== from) this.transitions.next({ id, from, to, event: record.cause, at: Date.now() });
    if (to === 'removed') {
      this.finishRemoval(record);
      return;
    }
    this.persistProjection(record, snapshot);
    this.changes.next(id);
    if (DORMANT_STATES.has(to)) queueMicrotask(() => this.sleepIfDormant(record));
  }

  /** Writes the record's stored state and use counters when they changed. */
  private persistProjection(record: LiveRecord, snapshot: RecordSnapshot): void {
    const stored = storedStateOf(record.state);
    // `removing` is written by markRemoving, which the removal awaits before touching the snapshot.
    if (stored === undefined || stored === 'removing') return;
    const { lastUsedAt, usageCount } = snapshot.context;
    const meta = record.meta;
    const id = meta.id;
    const unchanged =
      !this.unstored.has(id) &&
      meta.state === stored &&
      meta.lastUsedAt === lastUsedAt &&
      meta.usageCount === usageCount;
    if (unchanged) return;
    const next: RecordMeta = {
      ...meta,
      state: stored,
      usageCount,
      ...(lastUsedAt === undefined ? {} : { lastUsedAt }),
    };
    // Thawing and committing change what the content may become: a cached size no longer holds.
    if ((stored === 'mutable' && meta.state !== 'mutable') || (meta.state === 'mutable' && stored === 'frozen'))
      delete next.usage;
    record.meta = next;
    void this.persist(id, next);
  }

  /** Records created in this process whose metadata was never written (still `creating`). */
  private readonly unstored = new Set<string>();

  private persist(id: string, meta: RecordMeta): Promise<void> {
    this.unflushed.set(id, meta);
    this.unstored.delete(id);
    const write = this.store.write([{ put: meta }]).finally(() => {
      if (this.writes.get(id) === write) {
        this.writes.delete(id);
        this.unflushed.delete(id);
      }
    });
    this.writes.set(id, write);
    return write;
  }

  private finishRemoval(record: LiveRecord): void {
    const id = record.meta.id;
    this.live.delete(id);
    this.dormant.delete(id);
    this.unflushed.delete(id);
    const wasStored = !this.unstored.delete(id);
    if (wasStored) {
      const previous = this.writes.get(id) ?? Promise.resolve();
      const write = previous
        .then(() => this.store.write([{ delete: id }]))
        .finally(() => {
          if (this.writes.get(id) === write) this.writes.delete(id);
        });
      this.writes.set(id, write);
    }
    if (record.meta.parent !== undefined) this.adjustChildren(record.meta.parent, -1);
    this.removals.next({ id, meta: record.meta, reason: record.removalReason ?? 'removed' });
  }

  private sleepIfDormant(record: LiveRecord): void {
    const id = record.meta.id;
    if (this.live.get(id) !== record || !DORMANT_STATES.has(record.state)) return;
    const { children } = record.actor.getSnapshot().context;
    record.actor.stop();
    this.live.delete(id);
    this.dormant.set(id, pack(record.state, children));
  }
}
