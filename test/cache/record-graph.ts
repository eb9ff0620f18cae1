import type { AnyMachineSnapshot, AnyStateMachine, StateValue } from 'xstate';

/** A leaf state of a machine as a dotted path, with the ids of the actors it invokes. */
export interface LeafState {
  path: string;
  invokes: string[];
}

interface NodeLike {
  path: string[];
  states: Record<string, NodeLike>;
  invoke: { id: string }[];
}

/** Every leaf state of the machine, read from its state nodes (no list kept by hand). */
export function recordLeafStates(machine: AnyStateMachine): LeafState[] {
  const leaves: LeafState[] = [];
  const visit = (node: NodeLike) => {
    const children = Object.values(node.states);
    if (children.length === 0) leaves.push({ path: node.path.join('.'), invokes: node.invoke.map((i) => i.id) });
    for (const child of children) visit(child);
  };
  visit(machine.root as unknown as NodeLike);
  return leaves;
}

/** The dotted path of the one active leaf of a machine without parallel states ('committed.released'). */
export function leafStateOf(snapshot: AnyMachineSnapshot): string {
  const walk = (value: StateValue): string => {
    if (typeof value === 'string') return value;
    const [parent, child] = Object.entries(value)[0] as [string, StateValue];
    return `${parent}.${walk(child)}`;
  };
  return walk(snapshot.value);
}
