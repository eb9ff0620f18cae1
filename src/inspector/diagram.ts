import { recordMachine } from '../../machines/record.machine.js';
import { machineToMermaid, renderSvg } from '../diagram/index.js';

export interface RecordDiagramOptions {
  /** Leaf state → records in it; states with no records are left unnumbered. */
  counts?: Readonly<Record<string, number>>;
  /** Dotted state path drawn as current. */
  highlight?: string;
}

/**
 * beautiful-mermaid's SVG pulls a web font from Google; the inspector must work
 * offline and fetch nothing from elsewhere, so the import goes and the SVG
 * falls back to the system font it already names.
 */
export function stripExternalImports(svg: string): string {
  return svg.replace(/^\s*@import\s+url\([^)]*\)\s*;?\s*$/gm, '');
}

const MAX_CACHED = 64;

/**
 * Record-machine drawings, cached by their options: the per-record view asks
 * for the same ten highlights over and over, and layout costs milliseconds.
 */
export class RecordDiagrams {
  private readonly cache = new Map<string, string>();

  draw(options: RecordDiagramOptions = {}): string {
    const counts: Record<string, number> = {};
    for (const [state, n] of Object.entries(options.counts ?? {})) if (n > 0) counts[state] = n;
    const key = JSON.stringify([options.highlight ?? '', Object.entries(counts).sort()]);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    // Flat, left to right: about 1700×600, readable across a page; the nested top-down drawing is 1340×1860.
    const mermaid = machineToMermaid(recordMachine, {
      layout: 'flat',
      direction: 'LR',
      counts,
      ...(options.highlight === undefined ? {} : { highlight: options.highlight }),
    });
    const svg = renderSvg(mermaid);
    const clean = stripExternalImports(svg);
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, clean);
    return clean;
  }
}
