import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { DiagramOptionError, HIGHLIGHT_MARK, validateDiagramOptions } from './options.js';
import type { DrawingOptions } from './options.js';
import { eventLabel, guardLabel, isLeaf, statePath } from './walk.js';

/**
 * The terminal drawing of a machine: a vertical list of its states, nested
 * states indented under their parent, each followed by the transitions it
 * declares. Box-and-arrow layouts need far more than a terminal's width for a
 * machine of ten states, and their labels run into each other; a list stays
 * narrow and every label gets a line of its own.
 */

export interface StateListOptions extends DrawingOptions {
  /** Widest line allowed, in columns. Default 100. */
  width?: number;
}

/** Widest line of a drawing unless told otherwise: fits a terminal split in two, or a README code block. */
export const STATE_LIST_WIDTH = 100;
/** First two columns of the current state's line; every other line starts with two spaces. */
export const CURRENT_MARKER = '▶';
/** What a transition without a target prints instead of one. */
export const NO_STATE_CHANGE = '(no state change)';

/** Narrowest width that still leaves room for the deepest indent and a few words. */
const MIN_WIDTH = 40;
/** Labels are padded to one column per block up to this width, so that the arrows line up. */
const MAX_ALIGN = 36;
/** Columns a transition sits right of its state's name; its wrapped lines go this much further. */
const TRANSITION_INDENT = 4;

interface TransitionLike {
  eventType: string;
  guard?: unknown;
  target?: readonly AnyStateNode[] | undefined;
  actions?: readonly unknown[];
}

/** One listed transition: what triggers it, and where it goes. */
export interface ListedTransition {
  /** `EVENT`, `EVENT [guard]`, `done: <invoke id>`, `always [guard]`, `after 500ms`… */
  label: string;
  /** Dotted target paths joined by ', '; NO_STATE_CHANGE, with the actions it runs, when it has none. */
  target: string;
}

/** `EVENT [guard]`; an eventless transition reads `always`. */
export function transitionTrigger(eventType: string, guard: unknown): string {
  const event = eventType === '' ? 'always' : eventLabel(eventType);
  const guardText = guardLabel(guard);
  return guardText === undefined ? event : `${event} [${guardText}]`;
}

/** Name of an action as written in the machine: named ones by name, inline functions by their function name. */
function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') return action.name || 'inline action';
  if (typeof action === 'object' && action !== null && typeof (action as { type?: unknown }).type === 'string')
    return (action as { type: string }).type;
  return 'inline action';
}

/** A transition that stays in place exists for its actions, so they are named; elsewhere the target says enough. */
function targetText(machine: AnyStateMachine, transition: TransitionLike): string {
  const targets = transition.target ?? [];
  if (targets.length > 0) return targets.map((target) => statePath(target) || `${machine.id} (the machine)`).join(', ');
  const actions = (transition.actions ?? []).map(actionName);
  return actions.length === 0 ? NO_STATE_CHANGE : `${NO_STATE_CHANGE.slice(0, -1)}: ${actions.join(', ')})`;
}

/**
 * The transitions a state node declares itself, in the order XState tries
 * them: events (invoke results and delays included) as defined, then the
 * eventless ones.
 */
export function listedTransitions(machine: AnyStateMachine, node: AnyStateNode): ListedTransition[] {
  const onEvents = [...node.transitions.values()].flat() as TransitionLike[];
  const eventless = (node.always ?? []) as TransitionLike[];
  return [...onEvents, ...eventless].map((transition) => ({
    label: transitionTrigger(transition.eventType, transition.guard),
    target: targetText(machine, transition),
  }));
}

const columns = (text: string): number => [...text].length;

/**
 * Breaks a line at spaces so that none passes `width`; the lines after the
 * first start with `indent`. A word longer than a whole line is cut.
 */
function wrap(text: string, width: number, indent: string): string[] {
  if (columns(text) <= width) return [text];
  // However deep the nesting, a wrapped line keeps half the width for words.
  const next = indent.slice(0, Math.floor(width / 2));
  const leading = /^ */.exec(text)?.[0] ?? '';
  const lines: string[] = [];
  let line = leading;
  let empty = true;
  for (const word of text.slice(leading.length).split(/ +/)) {
    const joined = empty ? `${line}${word}` : `${line} ${word}`;
    if (columns(joined) <= width) {
      line = joined;
      empty = false;
      continue;
    }
    if (!empty) lines.push(line);
    line = next;
    let rest = [...word];
    while (columns(line) + rest.length > width) {
      const room = width - columns(line);
      lines.push(line + rest.slice(0, room).join(''));
      rest = rest.slice(room);
    }
    line += rest.join('');
    empty = false;
  }
  lines.push(line);
  return lines;
}

function childrenOf(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states) as AnyStateNode[];
}

function isInitialChild(node: AnyStateNode): boolean {
  const parent = node.parent;
  if (!parent || parent.type === 'parallel') return false;
  return (parent.initial?.target ?? []).includes(node);
}

function flagsOf(node: AnyStateNode): string[] {
  const flags: string[] = [];
  if (isInitialChild(node)) flags.push('initial');
  if (node.type === 'final') flags.push('final');
  if (node.type === 'parallel') flags.push('parallel');
  return flags;
}

function legend(machine: AnyStateMachine, width: number): string[] {
  const text = [
    `Statechart of machine "${machine.id}": every state, nested ones indented under their parent, with the`,
    'transitions it declares, in the order XState tries them. A transition under a compound state is',
    'taken from every state inside it that does not handle the event itself. The current state, if any,',
    // In parentheses, so that however the text wraps no legend line starts with the marker itself.
    `is marked (${CURRENT_MARKER}) in the first column.`,
  ].join(' ');
  return wrap(text, width, '');
}

/** Draws the machine as a list of states and their transitions, at most `width` columns wide. */
export function machineToStateList(machine: AnyStateMachine, options: StateListOptions = {}): string {
  validateDiagramOptions(machine, options);
  const width = options.width ?? STATE_LIST_WIDTH;
  if (!Number.isSafeInteger(width) || width < MIN_WIDTH)
    throw new DiagramOptionError('width', width, `must be an integer of at least ${MIN_WIDTH} columns`);

  const lines = [...legend(machine, width), ''];
  const writeNode = (node: AnyStateNode, depth: number): void => {
    const path = statePath(node);
    const current = options.highlight !== undefined && path === options.highlight && depth > 0;
    const indent = '  '.repeat(depth);
    const count = options.counts?.[path];
    const flags = depth === 0 ? ['machine'] : flagsOf(node);
    const name = depth === 0 ? machine.id : path;
    const header = [
      name,
      count === undefined ? '' : ` (${count})`,
      flags.length === 0 ? '' : ` (${flags.join(', ')})`,
      current ? HIGHLIGHT_MARK : '',
    ].join('');
    const marker = current ? `${CURRENT_MARKER} ` : '  ';
    lines.push(...wrap(`${marker}${indent}${header}`, width, `  ${indent}  `));

    const transitions = listedTransitions(machine, node);
    const lead = `  ${indent}${' '.repeat(TRANSITION_INDENT)}`;
    const column = Math.min(MAX_ALIGN, Math.max(0, ...transitions.map((t) => columns(t.label))));
    for (const { label, target } of transitions) {
      const aligned = `${lead}${label.padEnd(column)} -> ${target}`;
      const plain = `${lead}${label} -> ${target}`;
      const more = `${lead}${' '.repeat(TRANSITION_INDENT)}`;
      // Padding only while it fits; a transition too long for one line puts its target on the next.
      if (columns(aligned) <= width) lines.push(aligned);
      else if (columns(plain) <= width) lines.push(plain);
      else lines.push(...wrap(`${lead}${label}`, width, more), ...wrap(`${more}-> ${target}`, width, more));
    }
    if (transitions.length === 0 && isLeaf(node) && node.type !== 'final')
      lines.push(...wrap(`${lead}(no transitions)`, width, lead));
    for (const child of childrenOf(node)) writeNode(child, depth + 1);
  };
  writeNode(machine.root, 0);
  return `${lines.map((line) => line.trimEnd()).join('\n')}\n`;
}
