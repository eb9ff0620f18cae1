import type { AnyStateMachine, AnyStateNode } from 'xstate';

/**
 * Reads an XState v5 machine's runtime definition (its resolved state nodes,
 * not the config object) into a small, ordered model that the Mermaid writer
 * and the tests share. Order follows the machine definition, so the same
 * machine always yields the same model.
 */

/** One drawn arrow before merging: where it starts, where it ends, and its label. */
export interface DiagramEdge {
  /** Dotted state path of the source ('' is the machine root). */
  from: string;
  /** Dotted state path of the target; equal to `from` for a transition that stays in place. */
  to: string;
  label: string;
  /** The XState event type behind the arrow ('' for an eventless one). */
  eventType: string;
}

/** A transition declared on the root that never changes state: drawn apart, as "in every state". */
export interface AnywhereHandler {
  label: string;
}

export interface MachineModel {
  machineId: string;
  root: AnyStateNode;
  /** Every state node below the root, depth-first in definition order. */
  states: AnyStateNode[];
  edges: DiagramEdge[];
  anywhere: AnywhereHandler[];
}

/** Dotted path of a state node relative to the machine root ('' for the root). */
export function statePath(node: AnyStateNode): string {
  return node.path.join('.');
}

export function isLeaf(node: AnyStateNode): boolean {
  return Object.keys(node.states).length === 0;
}

function childrenOf(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states) as AnyStateNode[];
}

function descendants(node: AnyStateNode): AnyStateNode[] {
  return childrenOf(node).flatMap((child) => [child, ...descendants(child)]);
}

/** Every state node below the root, depth-first in definition order. */
export function allStates(machine: AnyStateMachine): AnyStateNode[] {
  return descendants(machine.root);
}

/** Dotted paths of the leaf (atomic and final) states, e.g. 'committed.released'. */
export function leafStatePaths(machine: AnyStateMachine): string[] {
  return allStates(machine).filter(isLeaf).map(statePath);
}

/** Dotted paths of every state, compound ones included. */
export function allStatePaths(machine: AnyStateMachine): string[] {
  return allStates(machine).map(statePath);
}

/** Event types the machine's author declared: internal `xstate.*` events (invoke results, delays) left out. */
export function declaredEventTypes(machine: AnyStateMachine): string[] {
  const seen = new Set<string>();
  for (const node of [machine.root, ...allStates(machine)]) {
    for (const eventType of node.transitions.keys()) {
      if (eventType !== '' && !eventType.startsWith('xstate.')) seen.add(eventType);
    }
  }
  return [...seen].sort();
}

interface GuardLike {
  type?: unknown;
  name?: unknown;
  guards?: unknown;
}

/** Readable name of a guard: named guards by name, `and`/`or`/`not` spelled out, inline functions by their name. */
export function guardLabel(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' || typeof guard === 'function') {
    const shaped = guard as GuardLike;
    if (Array.isArray(shaped.guards)) {
      const parts = shaped.guards.map((inner) => guardLabel(inner) ?? '?');
      if (shaped.name === 'not') return `!${parts[0] ?? '?'}`;
      if (shaped.name === 'and') return parts.join(' && ');
      if (shaped.name === 'or') return parts.join(' || ');
    }
    if (typeof shaped.type === 'string') return shaped.type;
    if (typeof shaped.name === 'string' && shaped.name !== '') return shaped.name;
  }
  return 'guard';
}

const DONE_ACTOR = 'xstate.done.actor.';
const ERROR_ACTOR = 'xstate.error.actor.';
const AFTER = 'xstate.after.';
const DONE_STATE = 'xstate.done.state.';

/** Event part of an arrow label: invoke results read `done: <invokeId>`, eventless ones are empty. */
export function eventLabel(eventType: string): string {
  if (eventType.startsWith(DONE_ACTOR)) return `done: ${eventType.slice(DONE_ACTOR.length)}`;
  if (eventType.startsWith(ERROR_ACTOR)) return `error: ${eventType.slice(ERROR_ACTOR.length)}`;
  if (eventType.startsWith(AFTER)) return `after ${eventType.slice(AFTER.length).split('.')[0] ?? ''}ms`;
  if (eventType.startsWith(DONE_STATE)) return 'done';
  if (eventType === '*') return 'any event';
  return eventType;
}

function transitionLabel(eventType: string, guard: unknown): string {
  const event = eventLabel(eventType);
  const guardText = guardLabel(guard);
  if (guardText === undefined) return event === '' ? 'always' : event;
  return event === '' ? `[${guardText}]` : `${event} [${guardText}]`;
}

interface TransitionLike {
  eventType: string;
  guard?: unknown;
  target?: readonly AnyStateNode[] | undefined;
}

function transitionsOf(node: AnyStateNode): TransitionLike[] {
  const onEvents = [...node.transitions.values()].flat() as TransitionLike[];
  const eventless = (node.always ?? []) as TransitionLike[];
  return [...onEvents, ...eventless];
}

function isWithin(node: AnyStateNode, ancestor: AnyStateNode): boolean {
  for (let at: AnyStateNode | undefined = node; at; at = at.parent) if (at === ancestor) return true;
  return false;
}

/** True when a state between `leaf` (included) and `owner` (excluded) declares its own handling of the event. */
function handledBelow(leaf: AnyStateNode, owner: AnyStateNode, eventType: string): boolean {
  for (let at: AnyStateNode | undefined = leaf; at && at !== owner; at = at.parent) {
    if (eventType === '' ? false : at.transitions.has(eventType)) return true;
  }
  return false;
}

/**
 * A transition on a compound state that lands inside that same state cannot be
 * drawn from the compound box (the arrow would start at its own border); it is
 * drawn from every leaf that would take it instead, which is also what it means.
 */
function edgesOf(node: AnyStateNode, transition: TransitionLike): DiagramEdge[] {
  const label = transitionLabel(transition.eventType, transition.guard);
  const eventType = transition.eventType;
  const targets = transition.target ?? [];
  const from = statePath(node);
  if (isLeaf(node)) {
    if (targets.length === 0) return [{ from, to: from, label, eventType }];
    return targets.map((target) => ({ from, to: statePath(target), label, eventType }));
  }
  const outward = targets.filter((target) => !isWithin(target, node));
  const inward = targets.filter((target) => isWithin(target, node));
  const edges: DiagramEdge[] = outward.map((target) => ({ from, to: statePath(target), label, eventType }));
  if (inward.length > 0 || targets.length === 0) {
    const leaves = descendants(node).filter((d) => isLeaf(d) && !handledBelow(d, node, transition.eventType));
    for (const leaf of leaves) {
      const leafPath = statePath(leaf);
      if (targets.length === 0) edges.push({ from: leafPath, to: leafPath, label, eventType });
      for (const target of inward) edges.push({ from: leafPath, to: statePath(target), label, eventType });
    }
  }
  return edges;
}

/** Reads the machine into the ordered model the Mermaid writer draws. */
export function readMachine(machine: AnyStateMachine): MachineModel {
  const root = machine.root;
  const states = allStates(machine);
  const edges: DiagramEdge[] = [];
  const anywhere: AnywhereHandler[] = [];
  for (const transition of transitionsOf(root)) {
    const targets = transition.target ?? [];
    if (targets.length === 0) anywhere.push({ label: transitionLabel(transition.eventType, transition.guard) });
    else edges.push(...edgesOf(root, transition));
  }
  // Children before their compound parent: the layout engine takes the first
  // arrows it meets as the forward direction, and a compound's catch-all
  // arrows (ACQUIRE back to held) read better as the way back.
  const visit = (node: AnyStateNode): void => {
    for (const child of childrenOf(node)) visit(child);
    for (const transition of transitionsOf(node)) edges.push(...edgesOf(node, transition));
  };
  for (const child of childrenOf(root)) visit(child);
  return { machineId: machine.id, root, states, edges, anywhere };
}

/** The leaf a transition into `node` ends in: follows initial states down. */
export function initialLeaf(node: AnyStateNode): AnyStateNode {
  let at = node;
  while (!isLeaf(at)) {
    const next = at.initial?.target?.[0] as AnyStateNode | undefined;
    if (!next) break;
    at = next;
  }
  return at;
}

/**
 * The same arrows between leaf states only, for renderers that draw nested
 * states poorly (the ASCII one): an arrow from a compound state leaves each
 * of its leaves that does not handle that event itself, an arrow into a
 * compound state enters its initial leaf.
 */
export function flattenEdges(model: MachineModel): DiagramEdge[] {
  const byPath = new Map(model.states.map((node) => [statePath(node), node] as const));
  const nodeOf = (path: string): AnyStateNode => {
    const node = byPath.get(path);
    if (!node) throw new Error(`internal: no state ${JSON.stringify(path)} in machine ${model.machineId}`);
    return node;
  };
  const flat: DiagramEdge[] = [];
  for (const edge of model.edges) {
    const source = nodeOf(edge.from);
    const to = statePath(initialLeaf(nodeOf(edge.to)));
    if (isLeaf(source)) {
      flat.push({ from: edge.from, to, label: edge.label, eventType: edge.eventType });
      continue;
    }
    const eventType = edge.eventType;
    for (const leaf of descendants(source)) {
      if (isLeaf(leaf) && !handledBelow(leaf, source, eventType))
        flat.push({ from: statePath(leaf), to, label: edge.label, eventType });
    }
  }
  return flat;
}
