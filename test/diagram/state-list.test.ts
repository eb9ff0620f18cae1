import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { RECORD_STATES, recordMachine } from '../../machines/record.machine.js';
import {
  DiagramOptionError,
  MACHINE_DIAGRAMS,
  allStatePaths,
  generateDiagramFiles,
  machineToStateList,
} from '../../src/diagram/index.js';
import { recordStateText } from '../../src/inspector/record-text.js';

/**
 * The terminal drawing read the way a person reads it: find a state's line,
 * take the lines under it up to the next state, and read each transition as
 * one line (a long one may have been wrapped).
 */

const WIDTH = 100;
const MARKER = '▶';
const machines = MACHINE_DIAGRAMS.map((spec) => [spec.name, spec.machine] as const);

const columns = (line: string): number => [...line].length;

/** Every state node below the root, depth-first, read from the definition's `states` objects. */
function statesOf(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states as Record<string, AnyStateNode>).flatMap((child) => [child, ...statesOf(child)]);
}

const depthOf = (path: string): number => (path === '' ? 0 : path.split('.').length);

/** The line that names a state: its dotted path (the machine id for the root) at its depth. */
function headerPattern(machine: AnyStateMachine, path: string): RegExp {
  const name = path === '' ? machine.id : path;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^(${MARKER} | {2}) {${2 * depthOf(path)}}${escaped}( |$)`);
}

/** Each state's transitions as written under it, wrapped lines joined, runs of spaces made one. */
function blocks(machine: AnyStateMachine, text: string): Map<string, string[]> {
  const lines = text.split('\n');
  const paths = ['', ...statesOf(machine.root).map((node) => node.path.join('.'))];
  const starts = paths.map((path) => {
    const at = lines.findIndex((line) => headerPattern(machine, path).test(line));
    expect(at, `line of state ${JSON.stringify(path)}`).toBeGreaterThanOrEqual(0);
    return { path, at };
  });
  const order = [...starts].sort((a, b) => a.at - b.at);
  const result = new Map<string, string[]>();
  order.forEach(({ path, at }, index) => {
    const end = order[index + 1]?.at ?? lines.length;
    const transitionIndent = 2 + 2 * depthOf(path) + 4;
    const joined: string[] = [];
    for (const line of lines.slice(at + 1, end)) {
      if (line.trim() === '') continue;
      const indent = line.length - line.trimStart().length;
      if (indent > transitionIndent && joined.length > 0) joined[joined.length - 1] += ` ${line.trim()}`;
      else joined.push(line.trim());
    }
    result.set(
      path,
      joined.map((line) => line.replace(/\s+/g, ' ')),
    );
  });
  return result;
}

interface Expected {
  trigger: string;
  /** Dotted path, or undefined for a transition that stays in place. */
  target: string | undefined;
}

/** A target as the machine's author writes it: `sibling`, `.child` or `#machine.path`, made a dotted path. */
function resolveTarget(machine: AnyStateMachine, owner: string[], target: string): string {
  if (target.startsWith(`#${machine.id}.`)) return target.slice(machine.id.length + 2);
  if (target.startsWith('.')) return [...owner, target.slice(1)].join('.');
  return [...owner.slice(0, -1), target].join('.');
}

type Written = string | { target?: string; guard?: unknown } | undefined;

/** The transitions of a state as its config object writes them: `on`, `invoke` results, `always`. */
function expectedTransitions(machine: AnyStateMachine, node: AnyStateNode): Expected[] {
  const config = node.config as {
    on?: Record<string, Written | Written[]>;
    always?: Written | Written[];
    invoke?: { id: string; onDone?: Written; onError?: Written };
  };
  const expected: Expected[] = [];
  const add = (event: string, written: Written | Written[]): void => {
    for (const one of Array.isArray(written) ? written : [written]) {
      const shaped = typeof one === 'string' ? { target: one } : (one ?? {});
      const guard = typeof shaped.guard === 'string' ? ` [${shaped.guard}]` : '';
      const target = shaped.target === undefined ? undefined : resolveTarget(machine, node.path, shaped.target);
      expected.push({ trigger: `${event}${guard}`, target });
    }
  };
  for (const [event, written] of Object.entries(config.on ?? {})) add(event, written);
  if (config.invoke?.onDone !== undefined) add(`done: ${config.invoke.id}`, config.invoke.onDone);
  if (config.invoke?.onError !== undefined) add(`error: ${config.invoke.id}`, config.invoke.onError);
  if (config.always !== undefined) add('always', config.always);
  return expected;
}

function matches(line: string, { trigger, target }: Expected): boolean {
  return target === undefined ? line.startsWith(`${trigger} -> (no state change`) : line === `${trigger} -> ${target}`;
}

describe.each(machines)('the %s state list', (_name, machine) => {
  const plain = machineToStateList(machine);

  it('lists every transition of the machine exactly once, in the block of the state that declares it', () => {
    const drawn = blocks(machine, plain);
    for (const node of [machine.root, ...statesOf(machine.root)]) {
      const path = node.path.join('.');
      const block = (drawn.get(path) ?? []).filter((line) => line.includes(' -> '));
      const expected = expectedTransitions(machine, node);
      for (const transition of expected) {
        const found = block.filter((line) => matches(line, transition));
        expect(found, `${path || machine.id}: ${transition.trigger} -> ${transition.target}`).toHaveLength(1);
      }
      expect(block, `transitions under ${path || machine.id}`).toHaveLength(expected.length);
    }
  });

  it('names every state once, nested states indented under their parent', () => {
    const lines = plain.split('\n');
    for (const path of allStatePaths(machine)) {
      const named = lines.filter((line) => headerPattern(machine, path).test(line));
      expect(named, path).toHaveLength(1);
      const parent = path.split('.').slice(0, -1).join('.');
      const parentAt = lines.findIndex((line) => headerPattern(machine, parent).test(line));
      expect(lines.indexOf(named[0] ?? ''), `${path} below ${parent || machine.id}`).toBeGreaterThan(parentAt);
    }
  });

  it('marks the highlighted state, compound or leaf, on its own line and nowhere else', () => {
    expect(plain).not.toContain('[current]');
    expect(plain.split('\n').filter((line) => line.startsWith(MARKER))).toEqual([]);
    for (const path of allStatePaths(machine)) {
      const marked = machineToStateList(machine, { highlight: path });
      const markedLines = marked.split('\n').filter((line) => line.startsWith(MARKER));
      expect(markedLines, path).toHaveLength(1);
      expect(markedLines[0], path).toMatch(headerPattern(machine, path));
      expect(markedLines[0], path).toMatch(/ \[current\]$/);
      expect(marked.split('[current]'), path).toHaveLength(2);
    }
  });

  it('keeps every transition whole and the mark single at any width, each line within it', () => {
    const expectedCount = [machine.root, ...statesOf(machine.root)].reduce(
      (sum, node) => sum + expectedTransitions(machine, node).length,
      0,
    );
    fc.assert(
      fc.property(fc.integer({ min: 40, max: 140 }), (width) => {
        const text = machineToStateList(machine, { width, highlight: allStatePaths(machine)[0] ?? '' });
        for (const line of text.split('\n')) expect(columns(line), line).toBeLessThanOrEqual(width);
        expect(text.split('\n').filter((line) => line.startsWith(MARKER))).toHaveLength(1);
        const listed = [...blocks(machine, text).values()].flat().filter((line) => line.includes(' -> '));
        expect(listed).toHaveLength(expectedCount);
      }),
      { numRuns: 25 },
    );
  });
});

describe('every drawing the project ships', () => {
  const drawings = [
    ...[...generateDiagramFiles()].filter(([file]) => file.endsWith('.txt')),
    ...RECORD_STATES.map((state) => [`cachekit inspect (${state})`, recordStateText(state).ascii] as const),
  ];

  it('fits 100 columns on every line, with no tab and no colour escape', () => {
    expect(drawings.map(([file]) => file)).toEqual(
      expect.arrayContaining(['record.txt', 'supervisor.txt', 'cachekit inspect (committed.released)']),
    );
    for (const [file, text] of drawings) {
      for (const line of text.split('\n')) {
        expect(columns(line), `${file}: ${line}`).toBeLessThanOrEqual(WIDTH);
        expect(line, file).not.toMatch(/[\t\u001b]/);
      }
    }
  });

  it('marks the record state of each drawing `cachekit inspect` prints once', () => {
    for (const state of RECORD_STATES) {
      const text = recordStateText(state).ascii;
      const marked = text.split('\n').filter((line) => line.startsWith(MARKER));
      expect(marked, state).toHaveLength(1);
      expect(marked[0], state).toMatch(headerPattern(recordMachine, state));
    }
  });
});

describe('the record state list', () => {
  const drawn = blocks(recordMachine, machineToStateList(recordMachine));

  it('reads as the record lifecycle: create, commit, freeze, finalize, release, remove', () => {
    // From the rules of BuildKit's cache records as this project models them (machines/record.machine.ts).
    expect(drawn.get('creating')).toEqual(['done: prepare -> mutable.held', 'error: prepare -> removed']);
    expect(drawn.get('mutable.held')).toEqual([
      'COMMIT -> frozen.held',
      'RELEASE_MUTABLE [retained] -> mutable.idle',
      'RELEASE_MUTABLE -> removing',
    ]);
    expect(drawn.get('frozen')).toEqual(['ACQUIRE -> frozen.held']);
    expect(drawn.get('frozen.held')).toContain('always [unreferenced] -> frozen.released');
    expect(drawn.get('frozen.held')).toContain('FINALIZE -> finalizing');
    expect(drawn.get('committed.released')).toEqual(['REMOVE [childless] -> removing']);
    expect(drawn.get('removed')).toEqual([]);
    expect(drawn.get('')).toEqual([
      'CHILD_ADDED -> (no state change: addChild)',
      'CHILD_REMOVED -> (no state change: removeChild)',
    ]);
  });

  it('shows counts and refuses a state or width it cannot draw', () => {
    const counted = machineToStateList(recordMachine, { counts: { removed: 3 }, highlight: 'removed' });
    expect(counted).toMatch(/^▶ {3}removed \(3\) \(final\) \[current\]$/m);
    expect(() => machineToStateList(recordMachine, { highlight: 'gone' })).toThrow(DiagramOptionError);
    expect(() => machineToStateList(recordMachine, { width: 10 })).toThrow(DiagramOptionError);
    expect(() => machineToStateList(recordMachine, { width: 10 })).toThrow(/width 10: must be an integer/);
    expect(() => recordStateText('frozen')).toThrow(/not a record state/);
  });
});
