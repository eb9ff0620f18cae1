import { type Actor, createActor, fromPromise, type InspectionEvent, type Observer, waitFor } from 'xstate';
import { type OperationEvent, type SupervisorEvent, supervisorMachine } from '../../../machines/supervisor.machine.js';
import { CacheError } from '../errors.js';

export type Inspector = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** An operation as callers build it; the host adds the request id its reply waits under. */
export type OperationRequest = OperationEvent extends infer E
  ? E extends OperationEvent
    ? Omit<E, 'requestId'>
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

/** What the host needs from the engine: each a step the supervisor machine names. */
export interface SupervisorSteps {
  readOnly: boolean;
  inspect?: Inspector;
  /** Opens the stores; the decide function exists once this resolves. */
  open(): Promise<(event: OperationEvent) => unknown>;
  reconcile(): Promise<void>;
  /** Runs after every operation in flight settled: closes the stores. */
  close(): Promise<void>;
  onOperation?: (report: OperationReport) => void;
}

interface Reply {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * Hosts the supervisor actor. Operations become data-only events; their
 * replies wait here under the event's request id. The machine's `decide`
 * action, provided here, runs the engine's decision for one event and answers
 * at once or when the promise it returns settles.
 */
export class Supervisor {
  private readonly actor: Actor<typeof supervisorMachine>;
  private readonly replies = new Map<number, Reply>();
  private readonly inFlight = new Map<Promise<unknown>, InFlightOperation>();
  private nextRequest = 1;
  private decideOp: ((event: OperationEvent) => unknown) | undefined;

  constructor(private readonly steps: SupervisorSteps) {
    const machine = supervisorMachine.provide({
      actions: {
        decide: ({ event }) => this.decideAndReply(event as OperationEvent),
        refuseReadOnly: ({ event }) =>
          this.answer(event as OperationEvent, {
            error: new CacheError('INVALID', `${opName(event.type)}: the cache is open read-only`),
          }),
        refuseClosed: ({ event }) => this.answer(event as OperationEvent, { error: closedError(event.type) }),
        refuseStarting: ({ event }) =>
          this.answer(event as OperationEvent, {
            error: new CacheError('LOCKED', `${opName(event.type)}: the cache is still starting`),
          }),
      },
      actors: {
        open: fromPromise(async () => {
          this.decideOp = await steps.open();
        }),
        reconcile: fromPromise(() => steps.reconcile()),
        drain: fromPromise(() => this.drain()),
      },
    });
    this.actor = createActor(machine, {
      id: 'supervisor',
      input: { readOnly: steps.readOnly },
      ...(steps.inspect ? { inspect: steps.inspect } : {}),
    });
  }

  /** Starts the supervisor and waits for start-up; rejects with the cause when it fails. */
  async start(): Promise<void> {
    this.actor.start();
    const snapshot = await waitFor(this.actor, (s) => s.matches('ready') || s.status === 'done', {
      timeout: Infinity,
    });
    if (snapshot.matches('failed')) throw snapshot.context.cause ?? new Error('cache start-up failed');
  }

  /** The supervisor machine's state: opening, reconciling, ready, draining, closed or failed. */
  get status(): string {
    const { value } = this.actor.getSnapshot();
    return typeof value === 'string' ? value : Object.keys(value)[0]!;
  }

  get queueDepth(): number {
    return this.inFlight.size;
  }

  /** Operations still running, oldest first. */
  inFlightOperations(): InFlightOperation[] {
    return [...this.inFlight.values()];
  }

  /** Sends an operation and resolves with the decision's outcome. */
  request<T>(op: OperationRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => this.post(op, { resolve: resolve as (v: unknown) => void, reject }));
  }

  /** For operations decided without I/O (clone): the answer arrives during the send. */
  requestSync<T>(op: OperationRequest): T {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    this.post(op, {
      resolve: (value) => {
        outcome = { ok: true, value: value as T };
      },
      reject: (error) => {
        outcome = { ok: false, error };
      },
    });
    if (!outcome) throw new CacheError('LOCKED', `${opName(op.type)} could not be decided synchronously`);
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
      reply.reject(closedError(op.type));
      return;
    }
    const requestId = this.nextRequest++;
    this.replies.set(requestId, reply);
    // Every state of an active supervisor answers every operation (decide, or refuse with a reason).
    this.actor.send({ ...op, requestId } as SupervisorEvent);
  }

  private answer(event: OperationEvent, outcome: { value?: unknown; error?: unknown }): void {
    const reply = this.replies.get(event.requestId);
    if (!reply) return;
    this.replies.delete(event.requestId);
    if ('error' in outcome) reply.reject(outcome.error);
    else reply.resolve(outcome.value);
  }

  private decideAndReply(event: OperationEvent): void {
    const started = performance.now();
    const id = 'id' in event ? event.id : undefined;
    const settle = (error?: unknown) => {
      const report = this.steps.onOperation;
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
      if (!this.decideOp) throw new CacheError('LOCKED', `${opName(event.type)}: the cache is still starting`);
      outcome = this.decideOp(event);
    } catch (err) {
      this.answer(event, { error: err });
      settle(err);
      return;
    }
    if (!(outcome instanceof Promise)) {
      this.answer(event, { value: outcome });
      settle();
      return;
    }
    const tracked: Promise<void> = outcome.then(
      (value) => {
        this.inFlight.delete(tracked);
        this.answer(event, { value });
        settle();
      },
      (err: unknown) => {
        this.inFlight.delete(tracked);
        this.answer(event, { error: err });
        settle(err);
      },
    );
    this.inFlight.set(tracked, { op: event.type, ...(id === undefined ? {} : { id }), since: Date.now() });
  }

  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.keys()]);
    await this.steps.close();
  }
}

const opName = (type: string): string => type.toLowerCase().replace(/_(\w)/g, (_, c: string) => c.toUpperCase());

const closedError = (op: string): CacheError => new CacheError('CLOSED', `${opName(op)}: the cache manager is closed`);
