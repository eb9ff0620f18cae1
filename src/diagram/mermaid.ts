import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { DiagramOptionError, HIGHLIGHT_MARK, validateDiagramOptions } from './options.js';
import type { DrawingOptions } from './options.js';
import { flattenEdges, initialLeaf, isLeaf, readMachine, statePath } from './walk.js';
import type { DiagramEdge, MachineModel } from './walk.js';

/**
 * Writes a machine as a Mermaid `stateDiagram-v2`, staying inside the subset
 * beautiful-mermaid's state parser reads: `state "label" as id`, nested
 * `state "label" as id { }`, `[*]` starts and ends, `a --> b : label`.
 * Notes are not read by it, so descriptions are left to the README index.
 * `classDef`/`class` lines are not read by it either: they are still written
 * (standard Mermaid, honoured by GitHub) and `renderDiagram` applies them to
 * the SVG itself.
 */

export interface MermaidOptions extends DrawingOptions {
  /** Layout direction. Default 'TB'. */
  direction?: MermaidDirection;
  /**
   * 'nested' (default) draws compound states as boxes holding their children;
   * 'flat' draws leaf states only, named by dotted path, for renderers that
   * lay out nested boxes poorly (beautiful-mermaid's ASCII one).
   */
  layout?: MermaidLayout;
}

export { DiagramOptionError, HIGHLIGHT_MARK, validateDiagramOptions } from './options.js';
export type { DiagramOptionField, DrawingOptions } from './options.js';

export type MermaidDirection = 'TB' | 'LR';
export type MermaidLayout = 'nested' | 'flat';

/** Class name given to the highlighted state in the Mermaid source. */
export const HIGHLIGHT_CLASS = 'current';
/** Style of the highlighted state: amber fill, dark amber border. */
export const HIGHLIGHT_STYLE = 'fill:#fde68a,stroke:#b45309,stroke-width:2px';
/** Two states whose Mermaid ids would be the same after replacing characters Mermaid ids cannot hold. */
export class DiagramIdCollisionError extends Error {
  override readonly name = 'DiagramIdCollisionError';
  constructor(
    readonly first: string,
    readonly second: string,
    readonly id: string,
  ) {
    super(`states ${JSON.stringify(first)} and ${JSON.stringify(second)} both map to Mermaid id ${JSON.stringify(id)}`);
  }
}

/** Mermaid id of a state path: parts joined with '_', anything but letters, digits, '_' and '-' replaced. */
export function mermaidId(path: string): string {
  return path.replace(/\./g, '_').replace(/[^\p{L}\p{N}_-]/gu, '_');
}

const quoteSafe = (text: string): string => text.replace(/"/g, "'");
const lineSafe = (text: string): string => text.replace(/[\r\n]+/g, ' ');

function validate(machine: AnyStateMachine, options: MermaidOptions): void {
  validateDiagramOptions(machine, options);
  if (options.direction !== undefined && options.direction !== 'TB' && options.direction !== 'LR')
    throw new DiagramOptionError('direction', options.direction, "must be 'TB' or 'LR'");
  if (options.layout !== undefined && options.layout !== 'nested' && options.layout !== 'flat')
    throw new DiagramOptionError('layout', options.layout, "must be 'nested' or 'flat'");
}

/** Assigns every state its Mermaid id, refusing two states that would share one. */
function assignIds(model: MachineModel): Map<string, string> {
  const ids = new Map<string, string>();
  const owners = new Map<string, string>();
  const reserve = (path: string, id: string): void => {
    const owner = owners.get(id);
    if (owner !== undefined) throw new DiagramIdCollisionError(owner, path, id);
    owners.set(id, path);
    ids.set(path, id);
  };
  for (const node of model.states) reserve(statePath(node), mermaidId(statePath(node)));
  if (model.anywhere.length > 0) reserve('*anywhere*', mermaidId(`${model.machineId}_anywhere`));
  return ids;
}

/** Parallel arrows between the same two states become one arrow with one label line per transition. */
function mergeEdges(edges: readonly DiagramEdge[]): DiagramEdge[] {
  const merged = new Map<string, DiagramEdge>();
  for (const edge of edges) {
    const key = `${edge.from}\u0000${edge.to}`;
    const existing = merged.get(key);
    if (!existing) merged.set(key, { ...edge });
    else if (!existing.label.split('<br>').includes(edge.label)) existing.label = `${existing.label}<br>${edge.label}`;
  }
  return [...merged.values()];
}

/** Draws the machine's statechart as Mermaid `stateDiagram-v2` text, deterministic for a given machine and options. */
export function machineToMermaid(machine: AnyStateMachine, options: MermaidOptions = {}): string {
  validate(machine, options);
  const model = readMachine(machine);
  const flat = options.layout === 'flat';
  const ids = assignIds(model);
  const idOf = (path: string): string => {
    const id = ids.get(path);
    if (id === undefined) throw new Error(`internal: no Mermaid id for state ${JSON.stringify(path)}`);
    return id;
  };
  const isHighlighted = (path: string): boolean =>
    options.highlight !== undefined &&
    (path === options.highlight || (flat && path.startsWith(`${options.highlight}.`)));
  const labelOf = (node: AnyStateNode): string => {
    const path = statePath(node);
    const name = flat ? path : String(node.key);
    const count = options.counts?.[path];
    const counted = count === undefined ? name : `${name} (${count})`;
    return quoteSafe(lineSafe(isHighlighted(path) ? `${counted}${HIGHLIGHT_MARK}` : counted));
  };
  const direction = options.direction ?? 'TB';

  const lines: string[] = ['stateDiagram-v2'];
  lines.push(`  %% Generated from machine "${quoteSafe(model.machineId)}" by src/diagram; do not edit by hand.`);
  lines.push(`  direction ${direction}`);

  const finals: string[] = [];
  const writeState = (node: AnyStateNode, depth: number): void => {
    const pad = '  '.repeat(depth);
    const id = idOf(statePath(node));
    if (isLeaf(node)) {
      lines.push(`${pad}state "${labelOf(node)}" as ${id}`);
      if (node.type === 'final') finals.push(`${pad}${id} --> [*]`);
      return;
    }
    const children = Object.values(node.states) as AnyStateNode[];
    if (flat) {
      for (const child of children) writeState(child, depth);
      return;
    }
    lines.push(`${pad}state "${labelOf(node)}" as ${id} {`);
    // Without it the layout engine may lay a box's insides out against the outer flow.
    lines.push(`${pad}  direction ${direction}`);
    const outerFinals = finals.splice(0);
    for (const child of children) writeState(child, depth + 1);
    const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
    if (initial && node.type !== 'parallel') lines.push(`${pad}  [*] --> ${idOf(statePath(initial))}`);
    lines.push(...finals.splice(0));
    lines.push(`${pad}}`);
    finals.push(...outerFinals);
  };
  for (const child of Object.values(machine.root.states) as AnyStateNode[]) writeState(child, 1);
  if (model.anywhere.length > 0) {
    const handled = model.anywhere.map((handler) => handler.label).join(', ');
    lines.push(`  state "in every state: ${quoteSafe(handled)}" as ${idOf('*anywhere*')}`);
  }

  const initial = machine.root.initial?.target?.[0] as AnyStateNode | undefined;
  if (initial) lines.push(`  [*] --> ${idOf(statePath(flat ? initialLeaf(initial) : initial))}`);
  lines.push(...finals);
  for (const edge of mergeEdges(flat ? flattenEdges(model) : model.edges)) {
    lines.push(`  ${idOf(edge.from)} --> ${idOf(edge.to)} : ${lineSafe(edge.label)}`);
  }

  if (options.highlight !== undefined) {
    const marked = [...ids.keys()].filter((path) => isHighlighted(path) && (!flat || isLeaf(nodeOf(model, path))));
    lines.push(`  classDef ${HIGHLIGHT_CLASS} ${HIGHLIGHT_STYLE}`);
    lines.push(`  class ${marked.map(idOf).join(',')} ${HIGHLIGHT_CLASS}`);
  }
  return `${lines.join('\n')}\n`;
}

function nodeOf(model: MachineModel, path: string): AnyStateNode {
  const node = model.states.find((candidate) => statePath(candidate) === path);
  if (!node) throw new Error(`internal: no state ${JSON.stringify(path)} in machine ${model.machineId}`);
  return node;
}
