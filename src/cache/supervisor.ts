import { createActor, fromPromise, waitFor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { managerMachine, type ManagerEvent, type OperationEvent, type Reply } from '../../machines/manager.machine.js';
import { recordMachine, rejectionOf, type RecordEvent, type RecordState } from '../../machines/record.machine.js';
import type { RecordMeta } from '../metadata/schema.js';
import { RecordId } from '../metadata/schema.js';
import type { MetadataStore } from '../metadata/store.js';
import { isSnapshotError } from '../snapshot/errors.js';
import type { Snapshotter } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import { activeKey, committedKey, newRecordId } from './keys.js';
import { RecordTable, type LiveRecord } from './record-table.js';

export type Inspector = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

type OpType = OperationEvent['type'];
type OpOf<T extends OpType> = Extract<OperationEvent, { type: T }>;
/** An operation event as callers build it; the supervisor adds the reply. */
export type OperationRequest = OperationEvent extends infer E
  ? E extends OperationEvent
    ? Omit<E, 'reply'>
    : never
  : never;

/** One decided operation, reported when it settles. */
export interface OperationReport {
  op: string;
  id?: string;
  ms: number;
  outcome: 'ok' | 'error';
  code?: string;
}

/** An operation whose I/O or durable write is still running. */
export interface InFlightOperation {
  op: string;
  id?: string;
  since: number;
}

export interface SupervisorDeps {
  snapshotter: Snapshotter;
  store: MetadataStore;
  inspect?: Inspector;
  onOperation?: (report: OperationReport) => void;
  reconcile: (table: RecordTable) => Promise<void>;
  onClosed: () => Promise<void>;
}

/** Snapshot key of the record's current content. */
export function contentKey(id: string, state: RecordState): string {
  return state.startsWith('committed') || state === 'removing' ? committedKey(id) : activeKey(id);
}

const RECORD_LABEL = 'cachekit.record';

/**
 * Hosts the supervisor actor. Every operation becomes an event; the actor's
 * `decide` action (provided here) takes one decision at a time against the
 * record table, and returns at once or with a promise for the I/O and the
 * durable write that follow.
 */
export class Supervisor {
  readonly table: RecordTable;
  private readonly actor: Actor<typeof managerMachine>;
  private readonly inFlight = new Map<Promise<unknown>, InFlightOperation>();

  constructor(private readonly deps: SupervisorDeps) {
    const io = this.recordIo();
    const machine = recordMachine.provide({ actors: io });
    this.table = new RecordTable(machine, deps.store, deps.inspect);
    const manager = managerMachine.provide({
      actions: {
        decide: ({ event }) => this.decideAndReply(event as OperationEvent),
        rejectClosed: ({ event }) => (event as OperationEvent).reply.reject(this.closedError(event.type)),
      },
      actors: {
        reconcile: fromPromise(() => deps.reconcile(this.table)),
        drain: fromPromise(() => this.drain()),
      },
    });
    this.actor = createActor(manager, { id: 'supervisor', ...(deps.inspect ? { inspect: deps.inspect } : {}) });
  }

  /** Starts the supervisor and waits for reconciliation; rejects when it fails. */
  async start(): Promise<void> {
    this.actor.start();
    const snapshot = await waitFor(this.actor, (s) => s.value !== 'opening');
    if (snapshot.value === 'failed') throw snapshot.error ?? new Error('cache start-up failed');
  }

  get status(): string {
    return String(this.actor.getSnapshot().value);
  }

  get queueDepth(): number {
    return this.inFlight.size;
  }

  /** Sends an operation and resolves with the decision's outcome. */
  request<T>(op: OperationRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => this.post(op, { resolve: resolve as (v: unknown) => void, reject }));
  }

  /** For operations decided without I/O (clone): the answer arrives during the send. */
  requestSync<T>(op: OperationRequest): T {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    this.post(op, {
      resolve: (value) => (outcome = { ok: true, value: value as T }),
      reject: (error) => (outcome = { ok: false, error }),
    });
    if (!outcome) throw new CacheError('LOCKED', `${op.type} could not be decided synchronously`);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  async close(): Promise<void> {
    if (this.actor.getSnapshot().status === 'done') return;
    this.actor.send({ type: 'CLOSE' });
    await waitFor(this.actor, (s) => s.status === 'done', { timeout: Infinity });
  }

  private post(op: OperationRequest, reply: Reply): void {
    if (this.actor.getSnapshot().status !== 'active') {
      reply.reject(this.closedError(op.type));
      return;
    }
    this.actor.send({ ...op, reply } as ManagerEvent);
  }

  private closedError(op: string): CacheError {
    return new CacheError('CLOSED', `${op.toLowerCase()}: the cache manager is closed`);
  }

  /** Operations still running, oldest first. */
  inFlightOperations(): InFlightOperation[] {
    return [...this.inFlight.values()];
  }

  private decideAndReply(event: OperationEvent): void {
    const started = performance.now();
    const id = 'id' in event ? event.id : undefined;
    const settle = (error?: unknown) => {
      const report = this.deps.onOperation;
      if (!report) return;
      const code = error instanceof CacheError ? error.code : undefined;
      report({
        op: event.type,
        ...(id === undefined ? {} : { id }),
        ms: performance.now() - started,
        outcome: error === undefined ? 'ok' : 'error',
        ...(code ? { code } : {}),
      });
    };
    let outcome: unknown;
    try {
      outcome = this.decide(event);
    } catch (err) {
      event.reply.reject(err);
      settle(err);
      return;
    }
    if (!(outcome instanceof Promise)) {
      event.reply.resolve(outcome);
      settle();
      return;
    }
    const tracked: Promise<void> = outcome.then(
      (value) => {
        this.inFlight.delete(tracked);
        event.reply.resolve(value);
        settle();
      },
      (err: unknown) => {
        this.inFlight.delete(tracked);
        event.reply.reject(err);
        settle(err);
      },
    );
    this.inFlight.set(tracked, { op: event.type, ...(id === undefined ? {} : { id }), since: Date.now() });
  }

  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.keys()]);
    await this.table.allDurable();
    this.table.stopAll();
    await this.deps.onClosed();
  }

  private decide(event: OperationEvent): unknown {
    switch (event.type) {
      case 'GET':
        return this.acquire(event.id, { type: 'ACQUIRE' });
      case 'CLONE':
        return this.clone(event);
      case 'GET_MUTABLE':
        return this.acquire(event.id, { type: 'ACQUIRE_MUTABLE' });
      case 'NEW':
        return this.create(event);
      case 'COMMIT':
        return this.commit(event);
      case 'FINALIZE':
        return this.finalize(event.id);
      case 'RELEASE':
        return this.release(event);
      case 'REMOVE':
        return this.remove(event);
    }
  }

  /** Sends a record event if the machine accepts it, else the rule's typed error. */
  private apply(id: string, event: RecordEvent): LiveRecord {
    // Every id in the table was checked when it was made or read; only an unknown one needs checking.
    if (!this.table.has(id)) {
      const parsed = RecordId.safeParse(id);
      if (!parsed.success)
        throw new CacheError(
          'INVALID',
          `record id ${JSON.stringify(id)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`,
        );
    }
    const record = this.table.revive(id);
    if (!record.actor.getSnapshot().can(event)) {
      const { code, reason } = rejectionOf(record.state, event.type);
      throw new CacheError(code, `record ${id}: ${event.type.toLowerCase()} refused: ${reason}`);
    }
    this.table.send(record, event);
    return record;
  }

  private async acquire(id: string, event: RecordEvent): Promise<string> {
    this.apply(id, event);
    await this.table.durable(id);
    return id;
  }

  private clone(event: OpOf<'CLONE'>): string {
    this.apply(event.id, { type: 'ACQUIRE', clone: true });
    return event.id;
  }

  private async create(event: OpOf<'NEW'>): Promise<string> {
    const { parent } = event;
    if (parent !== null) {
      const parentRecord = this.table.liveRecord(parent);
      if (!parentRecord || parentRecord.actor.getSnapshot().context.refs === 0)
        throw new CacheError('INVALID', `new: parent ${parent} is not held by a live ref`);
      // BuildKit finalizes a frozen parent before a child may build on it.
      if (parentRecord.state.startsWith('frozen')) this.table.send(parentRecord, { type: 'FINALIZE' });
      this.table.adjustChildren(parent, 1);
    }
    const meta: RecordMeta = {
      id: newRecordId(),
      ...(parent === null ? {} : { parent }),
      state: 'mutable',
      retain: event.options.retain ?? false,
      ...(event.options.description === undefined ? {} : { description: event.options.description }),
      recordType: event.options.recordType ?? 'regular',
      createdAt: Date.now(),
      usageCount: 0,
    };
    const record = this.table.create(meta);
    const settled = await waitFor(record.actor, (s) => !s.matches('creating'), { timeout: Infinity });
    if (settled.status === 'done')
      throw new CacheError('INVALID', `new: preparing a snapshot for record ${meta.id} failed`, {
        cause: record.ioError,
      });
    await this.table.durable(meta.id);
    return meta.id;
  }

  private async commit(event: OpOf<'COMMIT'>): Promise<string> {
    this.apply(event.id, { type: 'COMMIT' });
    await this.table.durable(event.id);
    return event.id;
  }

  private async finalize(id: string): Promise<void> {
    const record = this.table.revive(id);
    if (record.state.startsWith('committed')) return;
    if (record.state !== 'finalizing') this.apply(id, { type: 'FINALIZE' });
    const settled = await waitFor(record.actor, (s) => !s.matches('finalizing'), { timeout: Infinity });
    if (!settled.matches('committed'))
      throw new CacheError('INVALID', `finalize: committing the snapshot of record ${id} failed`, {
        cause: record.ioError,
      });
    await this.table.durable(id);
  }

  private async release(event: OpOf<'RELEASE'>): Promise<void> {
    const at = Date.now();
    const live = this.table.liveRecord(event.id);
    if (live && event.mutable) live.removalReason = 'mutable ref released without commit';
    const record = this.apply(event.id, event.mutable ? { type: 'RELEASE_MUTABLE', at } : { type: 'RELEASE', at });
    if (record.state === 'removing') await waitFor(record.actor, (s) => s.status === 'done', { timeout: Infinity });
    await this.table.durable(event.id);
  }

  private async remove(event: OpOf<'REMOVE'>): Promise<void> {
    const record = this.apply(event.id, { type: 'REMOVE', reason: event.reason });
    record.removalReason = event.reason;
    await waitFor(record.actor, (s) => s.status === 'done', { timeout: Infinity });
    await this.table.durable(event.id);
  }

  /** The snapshot I/O each record actor invokes; results return to the actor as done/error events. */
  private recordIo() {
    const { snapshotter } = this.deps;
    // The error goes back to the actor as its onError event; the waiting operation reads it from the record.
    const failed = (id: string, err: unknown): never => {
      const live = this.table.liveRecord(id);
      if (live) live.ioError = err;
      throw err;
    };
    return {
      prepareSnapshot: fromPromise<void, { id: string }>(async ({ input }) => {
        const meta = this.table.meta(input.id);
        try {
          if (meta?.parent !== undefined) await this.committedParent(meta.parent);
          await snapshotter.prepare(
            activeKey(input.id),
            meta?.parent === undefined ? undefined : committedKey(meta.parent),
            {
              labels: { [RECORD_LABEL]: input.id },
            },
          );
        } catch (err) {
          const live = this.table.liveRecord(input.id);
          if (live)
            live.removalReason = `preparing its snapshot failed: ${err instanceof Error ? err.message : String(err)}`;
          failed(input.id, err);
        }
      }),
      finalizeSnapshot: fromPromise<void, { id: string }>(async ({ input }) => {
        try {
          await snapshotter.commit(committedKey(input.id), activeKey(input.id), {
            labels: { [RECORD_LABEL]: input.id },
          });
        } catch (err) {
          failed(input.id, err);
        }
      }),
      removeSnapshot: fromPromise<void, { id: string }>(async ({ input }) => {
        // The `removing` mark is durable before the snapshot goes, so start-up can finish a crash.
        await this.table.markRemoving(input.id);
        for (const key of [activeKey(input.id), committedKey(input.id)]) {
          try {
            await snapshotter.remove(key);
          } catch (err) {
            if (!isSnapshotError(err, 'NOT_FOUND')) throw err;
          }
        }
      }),
    };
  }

  /** Waits for a parent being finalized to reach `committed`. */
  private async committedParent(parentId: string): Promise<void> {
    const parent = this.table.liveRecord(parentId);
    if (!parent) return;
    const settled = await waitFor(parent.actor, (s) => !s.matches('finalizing'), { timeout: Infinity });
    if (!settled.matches('committed')) throw new CacheError('INVALID', `parent ${parentId} could not be committed`);
  }
}
