import type { AnyStateMachine } from 'xstate';
import { allStatePaths, leafStatePaths } from './walk.js';

/**
 * What every drawing of a machine accepts, Mermaid and text alike: a state to
 * mark as current and record counts per leaf state. Kept apart from the
 * Mermaid writer so that the text drawing, which ships in the package, does
 * not bring it along.
 */

export interface DrawingOptions {
  /** Dotted state path to mark as current, e.g. 'committed.released'. */
  highlight?: string;
  /** Leaf state path → number of records in it, shown as ` (N)` after the state's name. */
  counts?: Readonly<Record<string, number>>;
}

/** Suffix added to the highlighted state's label, so the mark survives renderers that ignore classes. */
export const HIGHLIGHT_MARK = ' [current]';

export type DiagramOptionField = 'highlight' | 'counts' | 'direction' | 'layout' | 'width';

/** An option of a drawing names no state of the machine, or carries an unusable value. */
export class DiagramOptionError extends Error {
  override readonly name = 'DiagramOptionError';
  constructor(
    readonly field: DiagramOptionField,
    readonly value: unknown,
    reason: string,
  ) {
    super(`diagram option ${field} ${JSON.stringify(value)}: ${reason}`);
  }
}

/** Refuses a highlight that is not a state of the machine and counts that are not per leaf state. */
export function validateDiagramOptions(machine: AnyStateMachine, options: DrawingOptions): void {
  const known = new Set(allStatePaths(machine));
  const leaves = new Set(leafStatePaths(machine));
  if (options.highlight !== undefined) {
    if (typeof options.highlight !== 'string' || !known.has(options.highlight))
      throw new DiagramOptionError('highlight', options.highlight, `is not a state of machine ${machine.id}`);
  }
  if (options.counts !== undefined) {
    if (typeof options.counts !== 'object' || options.counts === null || Array.isArray(options.counts))
      throw new DiagramOptionError('counts', options.counts, 'must be an object of state path → count');
    for (const [path, count] of Object.entries(options.counts)) {
      if (!leaves.has(path))
        throw new DiagramOptionError('counts', path, `is not a leaf state of machine ${machine.id}`);
      if (!Number.isSafeInteger(count) || count < 0)
        throw new DiagramOptionError('counts', { [path]: count }, 'a count must be a non-negative integer');
    }
  }
}
