import { assign, fromPromise, setup } from 'xstate';

/**
 * The lifecycle of one cache record, and the one home of its rules. Pure: the
 * engine provides the three snapshot actors (prepare, finalize, remove) with
 * `machine.provide()`.
 *
 * What the engine needs to know about a state it reads from here, never from
 * a state's name:
 * - tags say what a state is (`mutable`, `immutable`, `held`, `dormant`,
 *   `committedContent`, `busy`);
 * - `meta.stored` is the state's durable projection in metadata;
 * - `meta.refusals` names the error code and reason of every event the state
 *   does not take (`'*'` for the rest), so errors and docs come from here.
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
  /** Why the record is being removed, once it is. */
  removalReason?: string;
  /** The failure of the record's last snapshot I/O, with the step that failed. */
  ioError?: RecordIoError;
}

/** A snapshot step that failed, kept in the context for the operation that waits on it. */
export interface RecordIoError {
  step: 'prepare' | 'finalize' | 'remove' | 'pull';
  error: unknown;
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
  | { type: 'REMOVE'; reason: string }
  | { type: 'PULL' };

export type RecordEventType = RecordEvent['type'];

/** Input of a new record; a dormant record is restored with `resolveState` instead. */
export interface RecordInput {
  id: string;
  retain: boolean;
}

/** The durable projection of a state, as metadata stores it. */
export type StoredRecordState = 'mutable' | 'frozen' | 'committed' | 'remote' | 'removing';

/** The error a refused event gets: LOCKED while the refusal may pass, INVALID when it never will. */
export type RefusalCode = 'LOCKED' | 'INVALID' | 'NOT_FOUND';

export interface Refusal {
  code: RefusalCode;
  reason: string;
}

/** What a state's `meta` says; a leaf's entries override its parent's. */
export interface RecordStateMeta {
  stored?: StoredRecordState;
  refusals?: Partial<Record<RecordEventType | '*', Refusal>>;
}

/** The tags a state may carry, and what each means to the engine. */
export type RecordTag =
  /** Content may still change: no size is cached, the snapshot is the active one. */
  | 'mutable'
  /** Content is fixed (frozen or committed). */
  | 'immutable'
  /** Held by a ref of its own (or by I/O in flight, see `busy`). */
  | 'held'
  /** No holder and no I/O: the actor may be stopped and the record kept as an index entry. */
  | 'dormant'
  /** The content lives in the committed snapshot; otherwise in the active one. */
  | 'committedContent'
  /** Snapshot I/O in flight. */
  | 'busy'
  /**
   * On the way out: the snapshot is being removed and the record goes with it, or its removal failed
   * and waits for a retry. Either way the record is never handed out again.
   */
  | 'removal'
  /** Known from a registry, content not here yet: a pull downloads and applies its chain's layers. */
  | 'lazy';

/** Placeholder I/O actors: the engine replaces them with real snapshotter calls. */
const pendingIo = fromPromise<void, { id: string }>(async () => {
  throw new Error('record machine used without engine-provided snapshot actors');
});

/** Closes a use period when the last own ref goes: BuildKit's lastUsedAt and usageCount rule. */
const closeUsePeriod = (ctx: RecordContext, at: number): Partial<RecordContext> =>
  ctx.used ? { used: false, lastUsedAt: at, usageCount: ctx.usageCount + 1 } : {};

const refuse = (code: RefusalCode, reason: string): Refusal => ({ code, reason });

/** Refusals shared by states whose record is between creation and removal steps. */
const inTransit = (what: string): RecordStateMeta['refusals'] => ({ '*': refuse('LOCKED', `it is ${what}`) });

export const recordMachine = setup({
  types: {
    context: {} as RecordContext,
    events: {} as RecordEvent,
    input: {} as RecordInput,
    tags: {} as RecordTag,
    meta: {} as RecordStateMeta,
  },
  actors: {
    prepareSnapshot: pendingIo,
    finalizeSnapshot: pendingIo,
    removeSnapshot: pendingIo,
    pullSnapshot: pendingIo,
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
    discardUncommitted: assign({ removalReason: 'mutable ref released without commit' }),
    keepRemovalReason: assign(({ event }) => (event.type === 'REMOVE' ? { removalReason: event.reason } : {})),
    commitToRef: assign({ refs: 1 }),
    takeInput: assign(({ event }) => {
      const { input } = event as unknown as { input: RecordInput };
      return { id: input.id, retain: input.retain };
    }),
    addChild: assign(({ context }) => ({ children: context.children + 1 })),
    removeChild: assign(({ context }) => ({ children: Math.max(0, context.children - 1) })),
    clearIoError: assign({ ioError: undefined }),
    keepPrepareError: assign(({ event }) => ({
      ioError: { step: 'prepare' as const, error: (event as { error?: unknown }).error },
      removalReason: `preparing its snapshot failed: ${describeError((event as { error?: unknown }).error)}`,
    })),
    keepFinalizeError: assign(({ event }) => ({
      ioError: { step: 'finalize' as const, error: (event as { error?: unknown }).error },
    })),
    keepRemoveError: assign(({ event }) => ({
      ioError: { step: 'remove' as const, error: (event as { error?: unknown }).error },
    })),
    keepPullError: assign(({ event }) => ({
      ioError: { step: 'pull' as const, error: (event as { error?: unknown }).error },
    })),
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
      tags: ['mutable', 'held', 'busy'],
      meta: { refusals: inTransit('still being created') },
      invoke: {
        id: 'prepare',
        src: 'prepareSnapshot',
        input: ({ context }) => ({ id: context.id }),
        onDone: 'mutable.held',
        onError: { target: 'removed', actions: 'keepPrepareError' },
      },
    },
    mutable: {
      description: 'Writable. Held by at most one MutableRef, or by none when retained.',
      meta: {
        stored: 'mutable',
        refusals: { '*': refuse('INVALID', 'it is mutable and has no immutable ref to act on') },
      },
      initial: 'held',
      states: {
        held: {
          tags: ['mutable', 'held'],
          meta: {
            refusals: {
              ACQUIRE: refuse('LOCKED', 'it is held by a mutable ref'),
              ACQUIRE_MUTABLE: refuse('LOCKED', 'it is already held by a mutable ref'),
              REMOVE: refuse('LOCKED', 'it is held by a mutable ref'),
            },
          },
          entry: 'takeMutable',
          on: {
            COMMIT: { target: '#record.frozen.held', actions: 'commitToRef' },
            RELEASE_MUTABLE: [
              { guard: 'retained', target: 'idle', actions: 'dropMutable' },
              { target: '#record.removing', actions: ['dropMutable', 'discardUncommitted'] },
            ],
          },
        },
        idle: {
          tags: ['mutable', 'dormant'],
          meta: {
            refusals: {
              REMOVE: refuse('LOCKED', 'records are built on it'),
              COMMIT: refuse('INVALID', 'no mutable ref holds it'),
              RELEASE_MUTABLE: refuse('INVALID', 'no mutable ref holds it'),
            },
          },
          on: {
            ACQUIRE_MUTABLE: 'held',
            // BuildKit's rule: getting an idle retained mutable record freezes it.
            ACQUIRE: { target: '#record.frozen.held', actions: 'takeRef' },
            REMOVE: { guard: 'childless', target: '#record.removing', actions: 'keepRemovalReason' },
          },
        },
      },
    },
    frozen: {
      description: 'Content fixed, snapshot not yet committed (lazy commit).',
      meta: {
        stored: 'frozen',
        refusals: { '*': refuse('INVALID', 'it is frozen: its content is fixed') },
      },
      initial: 'held',
      on: { ACQUIRE: { target: '.held', actions: 'takeRef' } },
      states: {
        held: {
          tags: ['immutable', 'held'],
          meta: {
            refusals: {
              ACQUIRE_MUTABLE: refuse('LOCKED', 'it is held by immutable refs'),
              REMOVE: refuse('LOCKED', 'it is held by immutable refs'),
            },
          },
          always: { guard: 'unreferenced', target: 'released' },
          // BuildKit finalizes only through a held ref (ref.finalize, or new on a held parent).
          on: { RELEASE: { actions: 'dropRef' }, FINALIZE: '#record.finalizing' },
        },
        released: {
          tags: ['immutable', 'dormant'],
          meta: {
            refusals: {
              REMOVE: refuse('LOCKED', 'records are built on it'),
              RELEASE: refuse('INVALID', 'no ref holds it'),
              FINALIZE: refuse('INVALID', 'no ref holds it'),
            },
          },
          on: {
            // Thaw: a frozen record no one holds may be taken back as mutable.
            ACQUIRE_MUTABLE: '#record.mutable.held',
            REMOVE: { guard: 'childless', target: '#record.removing', actions: 'keepRemovalReason' },
          },
        },
      },
    },
    finalizing: {
      tags: ['immutable', 'busy'],
      meta: {
        stored: 'frozen',
        refusals: {
          ACQUIRE_MUTABLE: refuse('INVALID', 'it is being committed and can never be mutable again'),
          '*': refuse('LOCKED', 'its snapshot is being committed'),
        },
      },
      entry: 'clearIoError',
      invoke: {
        id: 'finalize',
        src: 'finalizeSnapshot',
        input: ({ context }) => ({ id: context.id }),
        onDone: 'committed',
        onError: { target: 'frozen', actions: 'keepFinalizeError' },
      },
      on: {
        ACQUIRE: { actions: 'takeRef' },
        RELEASE: { actions: 'dropRef' },
      },
    },
    committed: {
      description: 'Finalized in the snapshotter: immutable forever.',
      meta: {
        stored: 'committed',
        refusals: {
          ACQUIRE_MUTABLE: refuse('INVALID', 'it is committed and can never be mutable again'),
          '*': refuse('INVALID', 'it is committed'),
        },
      },
      initial: 'held',
      on: { ACQUIRE: { target: '.held', actions: 'takeRef' } },
      states: {
        held: {
          tags: ['immutable', 'held', 'committedContent'],
          meta: { refusals: { REMOVE: refuse('LOCKED', 'it is held by immutable refs') } },
          always: { guard: 'unreferenced', target: 'released' },
          on: { RELEASE: { actions: 'dropRef' } },
        },
        released: {
          tags: ['immutable', 'dormant', 'committedContent'],
          meta: {
            refusals: {
              REMOVE: refuse('LOCKED', 'records are built on it'),
              RELEASE: refuse('INVALID', 'no ref holds it'),
            },
          },
          on: { REMOVE: { guard: 'childless', target: '#record.removing', actions: 'keepRemovalReason' } },
        },
      },
    },
    remote: {
      description: 'Lazy: key, chain and layer known from a registry; no content here until a pull.',
      meta: {
        stored: 'remote',
        refusals: {
          ACQUIRE_MUTABLE: refuse('INVALID', 'it is imported and can never be mutable'),
          '*': refuse('INVALID', 'it is lazy: its content is still in a registry'),
        },
      },
      initial: 'held',
      on: {
        ACQUIRE: { target: '.held', actions: 'takeRef' },
        PULL: 'pulling',
      },
      states: {
        held: {
          tags: ['immutable', 'held', 'lazy'],
          meta: { refusals: { REMOVE: refuse('LOCKED', 'it is held by immutable refs') } },
          always: { guard: 'unreferenced', target: 'released' },
          on: { RELEASE: { actions: 'dropRef' } },
        },
        released: {
          tags: ['immutable', 'dormant', 'lazy'],
          meta: {
            refusals: {
              REMOVE: refuse('LOCKED', 'records are built on it'),
              RELEASE: refuse('INVALID', 'no ref holds it'),
            },
          },
          // Nothing local to delete: prune and GC drop a lazy record like any other.
          on: { REMOVE: { guard: 'childless', target: '#record.removing', actions: 'keepRemovalReason' } },
        },
      },
    },
    pulling: {
      description: "Downloads its layer and applies it on the parent's content, then commits.",
      tags: ['immutable', 'busy', 'lazy'],
      meta: {
        stored: 'remote',
        refusals: {
          ACQUIRE_MUTABLE: refuse('INVALID', 'it is imported and can never be mutable'),
          '*': refuse('LOCKED', 'its layer is being pulled'),
        },
      },
      entry: 'clearIoError',
      invoke: {
        id: 'pull',
        src: 'pullSnapshot',
        input: ({ context }) => ({ id: context.id }),
        onDone: 'committed',
        // A failed or cancelled pull applied nothing that stays: the record is lazy again.
        onError: { target: 'remote', actions: 'keepPullError' },
      },
      on: {
        ACQUIRE: { actions: 'takeRef' },
        RELEASE: { actions: 'dropRef' },
      },
    },
    removing: {
      tags: ['busy', 'removal'],
      meta: { stored: 'removing', refusals: { '*': refuse('NOT_FOUND', 'it is being removed') } },
      entry: 'clearIoError',
      invoke: {
        id: 'remove',
        src: 'removeSnapshot',
        input: ({ context }) => ({ id: context.id }),
        onDone: 'removed',
        // The remove actor reports an error only when the snapshot is still there (it checks after a failure).
        onError: { target: 'removalFailed', actions: 'keepRemoveError' },
      },
    },
    removalFailed: {
      description:
        'Its snapshot could not be removed: kept and visible, never handed out again, until a retry removes it.',
      tags: ['removal', 'dormant'],
      meta: {
        stored: 'removing',
        refusals: { '*': refuse('NOT_FOUND', 'its snapshot could not be removed; remove it again to retry') },
      },
      on: {
        // remove() and prune retry it; start-up finishes it too, since `removing` is what is stored.
        REMOVE: { target: 'removing', actions: 'keepRemovalReason' },
        // The mutable ref whose release failed may release again, which retries the removal.
        RELEASE_MUTABLE: 'removing',
      },
    },
    removed: {
      type: 'final',
      meta: { refusals: { '*': refuse('NOT_FOUND', 'it was removed') } },
    },
  },
});

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

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
  'remote.held',
  'remote.released',
  'pulling',
  'removing',
  'removalFailed',
  'removed',
] as const;
export type RecordState = (typeof RECORD_STATES)[number];
