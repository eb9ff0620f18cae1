import { fromPromise, setup } from 'xstate';

/**
 * The supervisor: every manager operation arrives here as an event and is
 * decided one at a time, in place of BuildKit's mutex. Decisions are
 * synchronous and touch only memory; slow I/O runs in record actors and
 * reports back. Pure: the engine provides every action and actor.
 */

/** How the engine answers the caller of one operation. */
export interface Reply {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export interface NewOptionsEvent {
  description?: string;
  recordType?: string;
  retain?: boolean;
}

export type OperationEvent =
  | { type: 'GET'; id: string; reply: Reply }
  | { type: 'GET_MUTABLE'; id: string; reply: Reply }
  | { type: 'NEW'; parent: string | null; options: NewOptionsEvent; reply: Reply }
  | { type: 'COMMIT'; id: string; reply: Reply }
  | { type: 'FINALIZE'; id: string; reply: Reply }
  | { type: 'CLONE'; id: string; reply: Reply }
  | { type: 'RELEASE'; id: string; mutable: boolean; reply: Reply }
  | { type: 'REMOVE'; id: string; reason: string; reply: Reply };

export type ManagerEvent = OperationEvent | { type: 'CLOSE' };

/** Operations in flight are the engine's to track: counting them here would cost a macrostep each. */
export type ManagerContext = Record<string, never>;

const pendingIo = fromPromise<void>(async () => {
  throw new Error('manager machine used without engine-provided actors');
});

const OPERATIONS = ['GET', 'GET_MUTABLE', 'NEW', 'COMMIT', 'FINALIZE', 'CLONE', 'RELEASE', 'REMOVE'] as const;

const decideAll = Object.fromEntries(OPERATIONS.map((op) => [op, { actions: 'decide' }])) as Record<
  (typeof OPERATIONS)[number],
  { actions: 'decide' }
>;
const rejectAll = Object.fromEntries(OPERATIONS.map((op) => [op, { actions: 'rejectClosed' }])) as Record<
  (typeof OPERATIONS)[number],
  { actions: 'rejectClosed' }
>;

export const managerMachine = setup({
  types: {
    context: {} as ManagerContext,
    events: {} as ManagerEvent,
  },
  actors: {
    reconcile: pendingIo,
    drain: pendingIo,
  },
  actions: {
    /** Engine-provided: takes one decision for an operation event. */
    decide: () => {},
    /** Engine-provided: answers an operation with CLOSED. */
    rejectClosed: () => {},
  },
}).createMachine({
  id: 'manager',
  context: {},
  initial: 'opening',
  states: {
    opening: {
      description: 'Reconciles metadata with the snapshotter before taking operations.',
      invoke: { id: 'reconcile', src: 'reconcile', onDone: 'ready', onError: 'failed' },
    },
    ready: {
      on: { ...decideAll, CLOSE: 'closing' },
    },
    closing: {
      description: 'Lets in-flight operations finish; new ones get CLOSED.',
      invoke: { id: 'drain', src: 'drain', onDone: 'closed', onError: 'closed' },
      on: rejectAll,
    },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type ManagerMachine = typeof managerMachine;
