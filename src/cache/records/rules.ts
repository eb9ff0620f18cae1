import type { SnapshotFrom } from 'xstate';
import {
  RECORD_STATES,
  recordMachine,
  type RecordEventType,
  type RecordMachine,
  type RecordState,
  type RecordStateMeta,
  type RecordTag,
  type Refusal,
  type StoredRecordState,
} from '../../../machines/record.machine.js';

/**
 * What the record machine says about each of its leaf states, read once from
 * the definition: tags, stored projection and refusals. Dormant records have
 * no actor, so the engine asks this table instead of a snapshot; live ones
 * give the same answers, because both come from the same state nodes.
 */
export interface StateFacts {
  readonly state: RecordState;
  readonly tags: ReadonlySet<RecordTag>;
  /** The state's durable projection; undefined for states that are never stored. */
  readonly stored: StoredRecordState | undefined;
  /** Why an event is refused here, leaf entries over their parent's, then the `'*'` fallback. */
  refusal(event: RecordEventType): Refusal;
}

type RecordSnapshot = SnapshotFrom<RecordMachine>;

function factsOf(state: RecordState): StateFacts {
  const path = state.split('.');
  const metas: RecordStateMeta[] = [];
  const tags = new Set<RecordTag>();
  for (let depth = 1; depth <= path.length; depth++) {
    const node = recordMachine.getStateNodeById(`record.${path.slice(0, depth).join('.')}`);
    if (node.meta) metas.push(node.meta as RecordStateMeta);
    for (const tag of node.tags) tags.add(tag as RecordTag);
  }
  // The deepest node that says something wins: a leaf refines its parent.
  const stored = metas.reduce<StoredRecordState | undefined>((acc, m) => m.stored ?? acc, undefined);
  const refusals = metas.map((m) => m.refusals ?? {}).reverse();
  return {
    state,
    tags,
    stored,
    refusal(event) {
      for (const table of refusals) {
        const own = table[event];
        if (own) return own;
      }
      for (const table of refusals) {
        const fallback = table['*'];
        if (fallback) return fallback;
      }
      return { code: 'INVALID', reason: `${event.toLowerCase()} is not allowed when ${state}` };
    },
  };
}

const FACTS = new Map<RecordState, StateFacts>(RECORD_STATES.map((s) => [s, factsOf(s)]));

/** The machine's facts about one leaf state. */
export function stateFacts(state: RecordState): StateFacts {
  const facts = FACTS.get(state);
  if (!facts) throw new Error(`unknown record state ${state}`);
  return facts;
}

export const hasTag = (state: RecordState, tag: RecordTag): boolean => stateFacts(state).tags.has(tag);

/** The dormant state a stored record resumes in when no process holds it. */
export function dormantStateOf(stored: StoredRecordState): RecordState | undefined {
  for (const facts of FACTS.values()) if (facts.tags.has('dormant') && facts.stored === stored) return facts.state;
  return undefined;
}

/** Dotted leaf path of a snapshot's value ('committed.released'). */
export function leafState(snapshot: RecordSnapshot): RecordState {
  const value = snapshot.value;
  if (typeof value === 'string') return value as RecordState;
  const [parent, child] = Object.entries(value)[0] as [string, string];
  return `${parent}.${child}` as RecordState;
}

/** The state value `resolveState` takes for a dotted leaf path. */
export function stateValue(state: RecordState): string | Record<string, string> {
  const [parent, child] = state.split('.');
  return child === undefined ? parent! : { [parent!]: child };
}
