import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { RECORD_STATES, type RecordState, recordMachine } from '../machines/record.machine.js';
import { machineToMermaid, machineToStateList, renderSvg } from '../src/diagram/index.js';
import { RECORD_DIAGRAM_DIR, recordDiagramFile, stripExternalImports } from '../src/inspector/diagram.js';

/**
 * Draws the record statechart for the inspector and `cachekit inspect <id>`: the plain
 * chart plus one per state with that state marked, as SVG (the page) and a state list
 * (the terminal, at most 100 columns). Run by `npm run build`; the files ship in the package so that the Mermaid
 * renderer stays a dev dependency.
 */

/** Flat, left to right: about 1700×600, readable across a page; the nested top-down one is 1340×1860. */
function pageSvg(highlight?: RecordState): string {
  const mermaid = machineToMermaid(recordMachine, {
    layout: 'flat',
    direction: 'LR',
    ...(highlight === undefined ? {} : { highlight }),
  });
  return stripExternalImports(renderSvg(mermaid));
}

/** File name → content of every drawing. */
export function recordDiagramFiles(): Map<string, string> {
  const files = new Map<string, string>([[recordDiagramFile('svg'), pageSvg()]]);
  for (const state of RECORD_STATES) {
    files.set(recordDiagramFile('svg', state), pageSvg(state));
    files.set(recordDiagramFile('txt', state), machineToStateList(recordMachine, { highlight: state }));
  }
  return files;
}

/** Writes the drawings into `dir` (default: the inspector's asset folder in src/). */
export async function writeRecordDiagrams(dir: URL = RECORD_DIAGRAM_DIR): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, content] of recordDiagramFiles()) {
    const url = new URL(file, dir);
    await writeFile(url, content);
    written.push(fileURLToPath(url));
  }
  return written;
}
