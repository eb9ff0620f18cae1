import { assign, fromPromise, setup } from 'xstate';

/**
 * The lifecycle of one cache record. Pure: the engine provides the three
 * snapshot actors (prepare, finalize, remove) with `machine.provide()`.
 *
 * A record is live (has an actor) only while something holds it or I/O runs;
 * dormant records are restored from metadata with `resolveState`.
 */

export interface RecordContext {
  id: string;
  /** A retained mutable record survives release of its MutableRef. */
  retain: boolean;
  /** Open ImmutableRefs, clones included. */
  refs: number;
  /** Records whose snapshot has this record's snapshot as parent. */
  children: number;
  /** A use period is open: a non-clone ref was taken since the last full release. */
  used: boolean;
  lastUsedAt?: number;
  usageCount: number;
}

export type RecordEvent =
  | { type: 'ACQUIRE'; clone?: boolean }
  | { type: 'ACQUIRE_MUTABLE' }
  | { type: 'COMMIT' }
  | { type: 'RELEASE'; at: number }
  | { type: 'RELEASE_MUTABLE'; at: number }
  | { type: 'FINALIZE' }
  | { type: 'CHILD_ADDED' }
  | { type: 'CHILD_REMOVED' }
  | { type: 'REMOVE'; reason: string };

/** Input of a new record; a dormant record is restored with `resolveState` instead. */
export interface RecordInput {
  id: string;
  retain: boolean;
}

/** Placeholder I/O actors: the engine replaces them with real snapshotter calls. */
const pendingIo = fromPromise<void, { id: string }>(async () => {
  throw new Error('record machine used without engine-provided snapshot actors');
});

/** Closes a use period when the last own ref goes: BuildKit's lastUsedAt and usageCount rule. */
const closeUsePeriod = (ctx: RecordContext, at: number): Partial<RecordContext> =>
  ctx.used ? { used: false, lastUsedAt: at, usageCount: ctx.usageCount + 1 } : {};

export const recordMachine = setup({
  types: {
    context: {} as RecordContext,
    events: {} as RecordEvent,
    input: {} as RecordInput,
  },
  actors: {
    prepareSnapshot: pendingIo,
    finalizeSnapshot: pendingIo,
    removeSnapshot: pendingIo,
  },
  guards: {
    unreferenced: ({ context }) => context.refs === 0,
    retained: ({ context }) => context.retain,
    childless: ({ context }) => context.children === 0,
  },
  actions: {
    takeRef: assign(({ context, event }) => ({
      refs: context.refs + 1,
      used: context.used || !(event.type === 'ACQUIRE' && event.clone),
    })),
    dropRef: assign(({ context, event }) => {
      const refs = Math.max(0, context.refs - 1);
      const at = event.type === 'RELEASE' ? event.at : Date.now();
      return { refs, ...(refs === 0 ? closeUsePeriod(context, at) : {}) };
    }),
    takeMutable: assign({ used: true }),
    dropMutable: assign(({ context, event }) =>
      closeUsePeriod(context, event.type === 'RELEASE_MUTABLE' ? event.at : Date.now()),
    ),
    commitToRef: assign({ refs: 1 }),
    takeInput: assign(({ event }) => {
      const { input } = event as unknown as { input: RecordInput };
      return { id: input.id, retain: input.retain };
    }),
    addChild: assign(({ context }) => ({ children: context.children + 1 })),
    removeChild: assign(({ context }) => ({ children: Math.max(0, context.children - 1) })),
  },
}).createMachine({
  id: 'record',
  // A static context filled from input on entry: a context factory would make XState build an assign
  // action while the supervisor is deciding, which its development build reports as a misuse.
  context: { id: '', retain: false, refs: 0, used: true, children: 0, usageCount: 0 },
  entry: 'takeInput',
  initial: 'creating',
  on: {
    CHILD_ADDED: { actions: 'addChild' },
    CHILD_REMOVED: { actions: 'removeChild' },
  },
  states: {
    creating: {
      invoke: {
        id: 'prepare',
        src: 'prepareSnapshot',
        input: ({ context }) => ({ id: context.id }),
        onDone: 'mutable.held',
        onError: 'removed',
      },
    },
    mutable: {
      description: 'Writable. Held by at most one MutableRef, or by none when retained.',
      initial: 'held',
      states: {
        held: {
          entry: 'takeMutable',
          on: {
            COMMIT: { target: '#record.frozen.held', actions: 'commitToRef' },
            RELEASE_MUTABLE: [
              { guard: 'retained', target: 'idle', actions: 'dropMutable' },
              { target: '#record.removing', actions: 'dropMutable' },
            ],
          },
        },
        idle: {
          on: {
            ACQUIRE_MUTABLE: 'held',
            ACQUIRE: { target: '#record.frozen.held', actions: 'takeRef' },
            REMOVE: { guard: 'childless', target: '#record.removing' },
          },
        },
      },
    },
    frozen: {
      description: 'Content fixed, snapshot not yet committed (lazy commit).',
      initial: 'held',
      on: {
        ACQUIRE: { target: '.held', actions: 'takeRef' },
        FINALIZE: 'finalizing',
      },
      states: {
        held: {
          always: { guard: 'unreferenced', target: 'released' },
          on: { RELEASE: { actions: 'dropRef' } },
        },
        released: {
          on: {
            ACQUIRE_MUTABLE: '#record.mutable.held',
            REMOVE: { guard: 'childless', target: '#record.removing' },
          },
        },
      },
    },
    finalizing: {
      invoke: {
        id: 'finalize',
        src: 'finalizeSnapshot',
        input: ({ context }) => ({ id: context.id }),
        onDone: 'committed',
        onError: 'frozen',
      },
      on: {
        ACQUIRE: { actions: 'takeRef' },
        RELEASE: { actions: 'dropRef' },
      },
    },
    committed: {
      description: 'Finalized in the snapshotter: immutable forever.',
      initial: 'held',
      on: { ACQUIRE: { target: '.held', actions: 'takeRef' } },
      states: {
        held: {
          always: { guard: 'unreferenced', target: 'released' },
          on: { RELEASE: { actions: 'dropRef' } },
        },
        released: {
          on: { REMOVE: { guard: 'childless', target: '#record.removing' } },
        },
      },
    },
    removing: {
      invoke: {
        id: 'remove',
        src: 'removeSnapshot',
        input: ({ context }) => ({ id: context.id }),
        onDone: 'removed',
        onError: 'removed',
      },
    },
    removed: { type: 'final' },
  },
});

export type RecordMachine = typeof recordMachine;

/** The leaf state names a record can be in, as dotted paths ('committed.released'). */
export const RECORD_STATES = [
  'creating',
  'mutable.held',
  'mutable.idle',
  'frozen.held',
  'frozen.released',
  'finalizing',
  'committed.held',
  'committed.released',
  'removing',
  'removed',
] as const;
export type RecordState = (typeof RECORD_STATES)[number];

/** States in which the record has no holder and no I/O, so its actor may be stopped. */
export const DORMANT_STATES: ReadonlySet<RecordState> = new Set([
  'mutable.idle',
  'frozen.released',
  'committed.released',
]);

export type RejectionCode = 'LOCKED' | 'INVALID';

/**
 * Why an event is not accepted in a state: the rules behind each missing
 * transition, so the engine reports them without guessing.
 */
export function rejectionOf(state: RecordState, event: RecordEvent['type']): { code: RejectionCode; reason: string } {
  const committedLike = state.startsWith('committed') || state === 'finalizing';
  switch (event) {
    case 'ACQUIRE':
      if (state === 'mutable.held') return { code: 'LOCKED', reason: 'it is held by a mutable ref' };
      break;
    case 'ACQUIRE_MUTABLE':
      if (committedLike) return { code: 'INVALID', reason: 'it is committed and can never be mutable again' };
      if (state === 'mutable.held') return { code: 'LOCKED', reason: 'it is already held by a mutable ref' };
      if (state === 'frozen.held') return { code: 'LOCKED', reason: 'it is held by immutable refs' };
      break;
    case 'REMOVE':
      return { code: 'LOCKED', reason: `it is ${state} and may have refs or children` };
    default:
      break;
  }
  if (state === 'creating' || state === 'removing' || state === 'removed')
    return { code: 'LOCKED', reason: `it is ${state}` };
  return { code: 'INVALID', reason: `${event} is not allowed when ${state}` };
}
