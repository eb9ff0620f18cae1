/**
 * Text from a cache (descriptions, ids, paths) is data, not terminal input: a description holding
 * ESC [ 2 J or an OSC 52 sequence would clear the screen or write the clipboard when printed. Every
 * such value goes through `terminalText` before it reaches stdout or stderr.
 */

/** Longest value a table cell or an error message shows before it is cut with an ellipsis. */
export const CELL_MAX = 64;
export const MESSAGE_VALUE_MAX = 80;

const ELLIPSIS = '…';

/**
 * Characters a terminal acts on or that change how the rest of a line reads: C0 controls (tab and
 * newline too, so one value stays on one line), DEL, C1 controls, the line and paragraph separators,
 * and the bidirectional overrides and isolates that reorder what follows them.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

function escapeChar(ch: string): string {
  const code = ch.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

export interface TerminalTextOptions {
  /** Most characters shown, ellipsis included; longer values are cut. No limit when absent. */
  max?: number;
  /** Also escape backslash and double quote, for a value printed between double quotes. */
  quote?: boolean;
}

/** `text` safe to print: unsafe characters as `\xNN` or `\u{NNNN}`, cut to `max` with an ellipsis. */
export function terminalText(text: string, options: TerminalTextOptions = {}): string {
  const max = options.max ?? Number.POSITIVE_INFINITY;
  // By code point, so a cut never splits a surrogate pair or an escape.
  const pieces = Array.from(text, (ch) =>
    UNSAFE.test(ch) ? escapeChar(ch) : options.quote && (ch === '"' || ch === '\\') ? `\\${ch}` : ch,
  );
  const whole = pieces.join('');
  if (whole.length <= max) return whole;
  let out = '';
  for (const piece of pieces) {
    if (out.length + piece.length > max - ELLIPSIS.length) break;
    out += piece;
  }
  return out + ELLIPSIS;
}

/**
 * A value inside an error message: JSON-style double quotes, so where it starts and ends is plain
 * even when it is empty or holds spaces, with unsafe characters escaped and the length bounded.
 */
export function quoted(value: string, max = MESSAGE_VALUE_MAX): string {
  return `"${terminalText(value, { max, quote: true })}"`;
}
