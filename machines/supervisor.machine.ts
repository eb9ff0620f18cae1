import { assign, fromPromise, setup } from 'xstate';
import type { RecordState } from './record.machine.js';

/**
 * The supervisor: every cache manager operation arrives here as an event and
 * is decided one at a time, in place of BuildKit's mutex. Decisions are
 * synchronous and touch only memory; slow I/O runs in record actors and
 * reports back. Pure: the engine provides every action and actor.
 *
 * Events carry data only. The caller's reply waits in the engine, keyed by
 * the event's `requestId`, so inspection tools can serialize every event.
 */

export interface NewRecordRequest {
  description?: string;
  recordType?: string;
  retain?: boolean;
  key?: string;
}

/** A computed size of immutable content, kept so the next disk usage reuses it. */
export interface SizeMemo {
  size: number;
  inodes: number;
}

/** A record's layer as a registry holds it (digest of the blob, diffID of the tar), kept after an export. */
export interface LayerMemo {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
  source?: string;
}

/** One record of an imported cache: its parent is an index into the same list, or a record id. */
export interface ImportedRecord {
  key?: string;
  parent?: { index: number } | { id: string };
  description?: string;
  recordType: string;
  createdAt: number;
  lastUsedAt?: number;
  layer: LayerMemo;
}

/** One operation: what a caller asked for, with the id its reply waits under. */
export type OperationEvent =
  | { type: 'GET'; requestId: number; id: string }
  | { type: 'GET_MUTABLE'; requestId: number; id: string }
  | { type: 'NEW'; requestId: number; parent: string | null; options: NewRecordRequest }
  | { type: 'FIND'; requestId: number; key: string }
  | { type: 'COMMIT'; requestId: number; id: string }
  | { type: 'FINALIZE'; requestId: number; id: string }
  | { type: 'CLONE'; requestId: number; id: string }
  | { type: 'RELEASE'; requestId: number; id: string; mutable: boolean }
  | { type: 'REMOVE'; requestId: number; id: string; reason: string }
  | { type: 'REMEMBER_SIZE'; requestId: number; id: string; state: RecordState; usage: SizeMemo }
  | { type: 'REMEMBER_LAYER'; requestId: number; id: string; layer: LayerMemo }
  | { type: 'PULL'; requestId: number; id: string }
  | { type: 'IMPORT'; requestId: number; records: ImportedRecord[] };

export type OperationType = OperationEvent['type'];

export type SupervisorEvent = OperationEvent | { type: 'CLOSE' };

export interface SupervisorContext {
  /** Opened to look at a root another process may own: every operation that would change it is refused. */
  readOnly: boolean;
  /** Why start-up failed; reaches the caller of openCacheManager. */
  cause?: unknown;
}

export interface SupervisorInput {
  readOnly: boolean;
}

const pendingIo = fromPromise<void>(async () => {
  throw new Error('supervisor machine used without engine-provided actors');
});

export const OPERATION_TYPES = [
  'GET',
  'GET_MUTABLE',
  'NEW',
  'FIND',
  'COMMIT',
  'FINALIZE',
  'CLONE',
  'RELEASE',
  'REMOVE',
  'REMEMBER_SIZE',
  'REMEMBER_LAYER',
  'PULL',
  'IMPORT',
] as const satisfies readonly OperationType[];

/**
 * Every operation changes the cache: even `get` moves a record's state and
 * use counters. A read-only supervisor therefore refuses them all, here, in
 * one place, whichever path the call came by.
 */
const everyOperation = <A extends string>(action: A) =>
  Object.fromEntries(OPERATION_TYPES.map((op) => [op, { actions: action }])) as Record<OperationType, { actions: A }>;
const decideAll = everyOperation('decide');
const refuseReadOnlyAll = everyOperation('refuseReadOnly');
const refuseAll = everyOperation('refuseClosed');
const refuseStarting = everyOperation('refuseStarting');

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: {
    open: pendingIo,
    reconcile: pendingIo,
    drain: pendingIo,
  },
  guards: {
    readOnly: ({ context }) => context.readOnly,
  },
  actions: {
    /** Engine-provided: takes one decision for an operation event. */
    decide: () => {},
    /** Engine-provided: answers an operation on a read-only cache with INVALID. */
    refuseReadOnly: () => {},
    /** Engine-provided: answers an operation with CLOSED. */
    refuseClosed: () => {},
    /** Engine-provided: answers an operation sent before start-up finished. */
    refuseStarting: () => {},
    keepCause: assign({ cause: ({ event }) => (event as { error?: unknown }).error }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ readOnly: input.readOnly }),
  initial: 'opening',
  states: {
    opening: {
      description: 'Opens the metadata store and the snapshotter.',
      invoke: {
        id: 'open',
        src: 'open',
        onDone: 'reconciling',
        onError: { target: 'failed', actions: 'keepCause' },
      },
      on: refuseStarting,
    },
    reconciling: {
      description: 'Brings metadata and snapshots into agreement before any operation (read-only: loads only).',
      invoke: {
        id: 'reconcile',
        src: 'reconcile',
        onDone: 'ready',
        onError: { target: 'failed', actions: 'keepCause' },
      },
      on: refuseStarting,
    },
    ready: {
      description: 'Takes operations until CLOSE.',
      initial: 'choosing',
      on: { CLOSE: 'draining' },
      states: {
        choosing: {
          always: [{ guard: 'readOnly', target: 'readOnly' }, { target: 'writable' }],
        },
        writable: {
          description: 'Decides one operation at a time.',
          on: decideAll,
        },
        readOnly: {
          description: 'Refuses every operation with INVALID: nothing is written.',
          on: refuseReadOnlyAll,
        },
      },
    },
    draining: {
      description: 'Lets operations in flight finish and closes the stores; new ones get CLOSED.',
      invoke: { id: 'drain', src: 'drain', onDone: 'closed', onError: 'closed' },
      on: refuseAll,
    },
    closed: { type: 'final' },
    failed: {
      type: 'final',
      description: 'Start-up failed; the cause is in the context.',
    },
  },
});

export type SupervisorMachine = typeof supervisorMachine;
