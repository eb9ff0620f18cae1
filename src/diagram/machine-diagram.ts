import type { AnyStateMachine } from 'xstate';
import { machineToMermaid } from './mermaid.js';
import type { MermaidOptions } from './mermaid.js';
import { renderAscii, renderSvg } from './render.js';
import type { RenderDiagramOptions } from './render.js';

/** A machine drawn every way the project shows it. */
export interface MachineDiagram {
  /** Nested Mermaid source; the SVG is drawn from it. */
  mermaid: string;
  svg: string;
  /** Drawn from the flat layout: the text renderer garbles nested boxes. */
  ascii: string;
}

export type MachineDiagramOptions = Omit<MermaidOptions, 'layout'> & { render?: RenderDiagramOptions };

/**
 * Draws a machine the way docs/machines/ does: nested Mermaid for the source
 * and the SVG, flat Mermaid for the text drawing. Highlight and counts apply
 * to all three.
 */
export function drawMachine(machine: AnyStateMachine, options: MachineDiagramOptions = {}): MachineDiagram {
  const { render, ...mermaidOptions } = options;
  const mermaid = machineToMermaid(machine, { ...mermaidOptions, layout: 'nested' });
  const flat = machineToMermaid(machine, { ...mermaidOptions, layout: 'flat' });
  return { mermaid, svg: renderSvg(mermaid, render?.svg), ascii: renderAscii(flat, render?.ascii) };
}
