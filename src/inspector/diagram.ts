import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RECORD_STATES, type RecordState } from '../../machines/record.machine.js';

/**
 * The record statechart as the page shows it: drawn once per state at build
 * time (`npm run build`, scripts/record-diagrams.ts), because the Mermaid
 * renderer weighs 10 MB and is a dev dependency. At run time the drawings are
 * plain SVG files next to the page's other assets. (The terminal's drawing,
 * `cachekit inspect <id>`, is text made on demand: see record-text.ts.)
 */

export interface RecordDiagramOptions {
  /** Dotted leaf state drawn as current; none draws the plain chart. */
  highlight?: string;
}

/** The folder the build writes the drawings into; it ships inside the package. */
export const RECORD_DIAGRAM_DIR = new URL('./assets/diagrams/', import.meta.url);

/** File name of one drawing: `record.svg`, or `record.<state>.svg` with that state marked. */
export function recordDiagramFile(highlight?: RecordState): string {
  return highlight === undefined ? 'record.svg' : `record.${highlight}.svg`;
}

/** The drawings are missing: a source checkout that was never built. */
export class RecordDiagramMissingError extends Error {
  override readonly name = 'RecordDiagramMissingError';
  constructor(readonly path: string) {
    super(`record diagram ${path} is missing: run \`npm run build\`, which draws the statecharts`);
  }
}

/** A state name that the record machine does not have. */
export class RecordDiagramStateError extends Error {
  override readonly name = 'RecordDiagramStateError';
  constructor(readonly state: string) {
    super(`record diagram for state ${JSON.stringify(state)}: not a record state (${RECORD_STATES.join(', ')})`);
  }
}

export function isRecordState(state: string): state is RecordState {
  return (RECORD_STATES as readonly string[]).includes(state);
}

function readDrawing(dir: URL, file: string): string {
  const url = new URL(file, dir);
  try {
    return readFileSync(url, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new RecordDiagramMissingError(fileURLToPath(url));
    throw error;
  }
}

/**
 * beautiful-mermaid's SVG pulls a web font from Google; the inspector must work
 * offline and fetch nothing from elsewhere, so the build drops the import and
 * the SVG falls back to the system font it already names.
 */
export function stripExternalImports(svg: string): string {
  return svg.replace(/^\s*@import\s+url\([^)]*\)\s*;?\s*$/gm, '');
}

/**
 * The page's SVG drawings, all read when the inspector starts (eleven small
 * files), so a missing build fails at start rather than on the first click.
 */
export class RecordDiagrams {
  private readonly svgs = new Map<string, string>();

  constructor(dir: URL = RECORD_DIAGRAM_DIR) {
    this.svgs.set('', readDrawing(dir, recordDiagramFile()));
    for (const state of RECORD_STATES) this.svgs.set(state, readDrawing(dir, recordDiagramFile(state)));
  }

  draw(options: RecordDiagramOptions = {}): string {
    const svg = this.svgs.get(options.highlight ?? '');
    if (svg === undefined) throw new RecordDiagramStateError(options.highlight ?? '');
    return svg;
  }
}
