import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { RECORD_STATES, type RecordState, recordMachine } from '../machines/record.machine.js';
import { machineToMermaid, renderSvg } from '../src/diagram/index.js';
import { RECORD_DIAGRAM_DIR, recordDiagramFile, stripExternalImports } from '../src/inspector/diagram.js';

/**
 * Draws the record statechart for the inspector page: the plain chart plus one per state
 * with that state marked, as SVG. Run by `npm run build`; the files ship in the package so
 * that the Mermaid renderer stays a dev dependency. (`cachekit inspect <id>` draws its text
 * list at run time, from the machine: src/inspector/record-text.ts.)
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
  const files = new Map<string, string>([[recordDiagramFile(), pageSvg()]]);
  for (const state of RECORD_STATES) {
    files.set(recordDiagramFile(state), pageSvg(state));
  }
  return files;
}

/** Writes the drawings into `dir` (default: the inspector's asset folder in src/), replacing what was there. */
export async function writeRecordDiagrams(dir: URL = RECORD_DIAGRAM_DIR): Promise<string[]> {
  // The folder holds build output only; emptying it drops drawings an older build made (the .txt ones).
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, content] of recordDiagramFiles()) {
    const url = new URL(file, dir);
    await writeFile(url, content);
    written.push(fileURLToPath(url));
  }
  return written;
}
