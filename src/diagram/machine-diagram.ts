import type { AnyStateMachine } from 'xstate';
import { machineToMermaid } from './mermaid.js';
import type { MermaidOptions } from './mermaid.js';
import { renderSvg } from './render.js';
import type { RenderDiagramOptions } from './render.js';
import { machineToStateList } from './state-list.js';

/** A machine drawn every way the project shows it. */
export interface MachineDiagram {
  /** Nested Mermaid source; the SVG is drawn from it. */
  mermaid: string;
  svg: string;
  /** The terminal drawing: a list of states and their transitions, at most 100 columns wide. */
  ascii: string;
}

export type MachineDiagramOptions = Omit<MermaidOptions, 'layout'> & { render?: Pick<RenderDiagramOptions, 'svg'> };

/**
 * Draws a machine the way docs/machines/ does: nested Mermaid for the source
 * and the SVG, a state list for the text drawing (box layouts do not fit a
 * terminal). Highlight and counts apply to all three.
 */
export function drawMachine(machine: AnyStateMachine, options: MachineDiagramOptions = {}): MachineDiagram {
  const { render, ...mermaidOptions } = options;
  const mermaid = machineToMermaid(machine, { ...mermaidOptions, layout: 'nested' });
  const ascii = machineToStateList(machine, {
    ...(mermaidOptions.highlight === undefined ? {} : { highlight: mermaidOptions.highlight }),
    ...(mermaidOptions.counts === undefined ? {} : { counts: mermaidOptions.counts }),
  });
  return { mermaid, svg: renderSvg(mermaid, render?.svg), ascii };
}
