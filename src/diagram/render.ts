import { renderMermaidASCII, renderMermaidSVG } from 'beautiful-mermaid';
import type { AsciiRenderOptions, RenderOptions } from 'beautiful-mermaid';

/**
 * Renders Mermaid text with beautiful-mermaid: no browser, synchronous,
 * deterministic for the same text (the freshness test relies on that).
 */

export interface RenderedDiagram {
  svg: string;
  /** Plain Unicode box drawing, no colour escapes. */
  ascii: string;
}

export interface RenderDiagramOptions {
  svg?: RenderOptions;
  ascii?: Omit<AsciiRenderOptions, 'colorMode'>;
}

/** `classDef name a:b,c:d` lines of a Mermaid text, as style maps. */
function classDefinitions(mermaid: string): Map<string, Record<string, string>> {
  const defs = new Map<string, Record<string, string>>();
  for (const line of mermaid.split('\n')) {
    const match = /^\s*classDef\s+([\w-]+)\s+(.+?);?\s*$/.exec(line);
    if (!match?.[1] || !match[2]) continue;
    const style: Record<string, string> = {};
    for (const pair of match[2].split(',')) {
      const [key, value] = pair.split(':').map((part) => part.trim());
      if (key && value) style[key] = value;
    }
    defs.set(match[1], style);
  }
  return defs;
}

/** `class a,b name` lines of a Mermaid text, as node id → class name. */
function classAssignments(mermaid: string): Map<string, string> {
  const assigned = new Map<string, string>();
  for (const line of mermaid.split('\n')) {
    const match = /^\s*class\s+([\p{L}\p{N}_,-]+)\s+([\w-]+)\s*;?\s*$/u.exec(line);
    if (!match?.[1] || !match[2]) continue;
    for (const id of match[1].split(',')) if (id) assigned.set(id, match[2]);
  }
  return assigned;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const escapeAttr = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * beautiful-mermaid's state-diagram parser skips `classDef`/`class`, so the
 * classes are applied here: the node's group gets the class name and its
 * shape takes the class's fill, stroke and stroke width.
 */
export function applyStateClasses(svg: string, mermaid: string): string {
  const defs = classDefinitions(mermaid);
  let styled = svg;
  for (const [id, className] of classAssignments(mermaid)) {
    const style = defs.get(className);
    if (!style) continue;
    const group = new RegExp(`<g class="(node|subgraph)" data-id="${escapeRegExp(id)}"([^>]*)>([\\s\\S]*?)</g>`);
    styled = styled.replace(group, (_whole, kind: string, attrs: string, body: string) => {
      let inner = body;
      const shape = /<(rect|circle|polygon|path)\b[^>]*>/;
      inner = inner.replace(shape, (tag) => {
        let restyled = tag;
        for (const attr of ['fill', 'stroke', 'stroke-width'] as const) {
          const value = style[attr];
          if (value === undefined) continue;
          const present = new RegExp(`\\s${attr}="[^"]*"`);
          const replacement = ` ${attr}="${escapeAttr(value)}"`;
          restyled = present.test(restyled)
            ? restyled.replace(present, replacement)
            : restyled.replace(/\s*\/?>$/, (end) => `${replacement}${end}`);
        }
        return restyled;
      });
      return `<g class="${kind} ${escapeAttr(className)}" data-id="${id}"${attrs}>${inner}</g>`;
    });
  }
  return styled;
}

/** Renders Mermaid text to an SVG, with `classDef`/`class` styles applied. */
export function renderSvg(mermaid: string, options: RenderOptions = {}): string {
  const svg = applyStateClasses(renderMermaidSVG(mermaid, options), mermaid);
  return svg.endsWith('\n') ? svg : `${svg}\n`;
}

/** Renders Mermaid text to a Unicode drawing: no colour escapes, no trailing blanks, one final newline. */
export function renderAscii(mermaid: string, options: Omit<AsciiRenderOptions, 'colorMode'> = {}): string {
  const ascii = renderMermaidASCII(mermaid, { ...options, colorMode: 'none' });
  return `${ascii.replace(/[ \t]+$/gm, '').replace(/\n+$/, '')}\n`;
}

/** Renders Mermaid text to an SVG (classes applied) and to a Unicode drawing. */
export function renderDiagram(mermaid: string, options: RenderDiagramOptions = {}): RenderedDiagram {
  return { svg: renderSvg(mermaid, options.svg), ascii: renderAscii(mermaid, options.ascii) };
}
