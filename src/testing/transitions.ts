import { type EventFromLogic, type SnapshotFrom, transition } from 'xstate';
import { getAdjacencyMap } from 'xstate/graph';
import { recordMachine, type RecordState } from '../../machines/record.machine.js';
import { leafState } from '../cache/records/rules.js';

/**
 * The record statechart's transitions, read from xstate/graph's adjacency map: every leaf-to-leaf
 * move the machine can make from any reachable state, named as the cache reports it on `events$`
 * (`record.transition { from, to, event }`, where the end of snapshot I/O is `io`).
 */

type MachineEvent = EventFromLogic<typeof recordMachine>;
type MachineSnapshot = SnapshotFrom<typeof recordMachine>;

/** One edge of the statechart between two leaf states. */
export interface RecordTransition {
  readonly from: RecordState;
  readonly to: RecordState;
  /** The event type that causes it, or `io` for the end (or failure) of the state's snapshot I/O. */
  readonly event: string;
}

export const transitionKey = (t: RecordTransition): string => `${t.from} --${t.event}--> ${t.to}`;

/** Refs and children are bounded so the graph is finite; larger counts only repeat the same edges. */
const MAX_COUNT = 2;

/** The snapshot actor a state runs, read from the machine's state nodes. */
function invokeOf(state: RecordState): string | undefined {
  const node = recordMachine.getStateNodeById(`record.${state}`);
  return node.invoke[0]?.id;
}

/** Every event a caller or an I/O actor can send a record in this snapshot. */
export function eventsFor(snapshot: MachineSnapshot): MachineEvent[] {
  const io = invokeOf(leafState(snapshot));
  const { refs, children } = snapshot.context;
  const events: MachineEvent[] = [
    { type: 'ACQUIRE_MUTABLE' },
    { type: 'COMMIT' },
    { type: 'RELEASE_MUTABLE', at: 0 },
    { type: 'FINALIZE' },
    { type: 'REMOVE', reason: 'graph' },
    { type: 'PULL' },
  ];
  if (refs < MAX_COUNT) events.push({ type: 'ACQUIRE' }, { type: 'ACQUIRE', clone: true });
  if (refs > 0) events.push({ type: 'RELEASE', at: 0 });
  if (children < MAX_COUNT) events.push({ type: 'CHILD_ADDED' });
  if (children > 0) events.push({ type: 'CHILD_REMOVED' });
  if (io) {
    events.push({ type: `xstate.done.actor.${io}` } as unknown as MachineEvent);
    events.push({ type: `xstate.error.actor.${io}`, error: new Error('graph') } as unknown as MachineEvent);
  }
  return events;
}

const serialize = (s: MachineSnapshot) =>
  JSON.stringify([s.value, s.context.refs, s.context.children, s.context.retain, s.status]);

/**
 * Every reachable snapshot of the record machine, for retained and unretained records: from creation,
 * and from an imported record, which starts lazy (`remote.released`, as import stores it).
 */
export function reachableSnapshots(): MachineSnapshot[] {
  const all: MachineSnapshot[] = [];
  const seen = new Set<string>();
  for (const retain of [false, true]) {
    const imported = recordMachine.resolveState({
      value: { remote: 'released' },
      context: { id: 'graph', retain, refs: 0, used: false, children: 0, usageCount: 0 },
    });
    for (const fromState of [undefined, imported]) {
      const map = getAdjacencyMap(recordMachine, {
        input: { id: 'graph', retain },
        events: eventsFor as never,
        serializeState: serialize as never,
        ...(fromState ? { fromState: fromState as never } : {}),
      });
      for (const value of Object.values(map)) {
        const state = value.state as MachineSnapshot;
        const key = serialize(state);
        if (seen.has(key)) continue;
        seen.add(key);
        all.push(state);
      }
    }
  }
  return all;
}

/** Every transition of the record machine between two different leaves, each once. */
export function recordTransitions(): RecordTransition[] {
  const edges = new Map<string, RecordTransition>();
  for (const snapshot of reachableSnapshots()) {
    if (snapshot.status !== 'active') continue;
    const from = leafState(snapshot);
    for (const event of eventsFor(snapshot)) {
      if (!event.type.startsWith('xstate.') && !snapshot.can(event)) continue;
      const [next] = transition(recordMachine, snapshot, event);
      const to = leafState(next);
      if (to === from) continue;
      const edge = { from, to, event: event.type.startsWith('xstate.') ? 'io' : event.type };
      edges.set(transitionKey(edge), edge);
    }
  }
  return [...edges.values()].sort((a, b) => transitionKey(a).localeCompare(transitionKey(b)));
}
