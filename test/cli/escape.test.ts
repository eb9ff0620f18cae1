import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { quoted, terminalText } from '../../src/cli/escape.js';
import { cacheFixture } from '../cache/helpers.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');
const cachekit = async (...args: string[]) => (await run('node', [BIN, ...args], { encoding: 'utf8' })).stdout;

/** Characters a terminal would act on (C0 but tab and newline, DEL, C1), as the printed bytes decode. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

// Clear the screen, set the window title, write the clipboard (OSC 52), a C1 CSI, a bidi override.
const HOSTILE = '\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZWNobyBoaQ==\x07\x9b31m\u202eevil\r\nforged line\x7f';

describe('terminalText', () => {
  it('shows C0, DEL, C1 and bidi controls as escapes and leaves other text alone', () => {
    expect(terminalText('plain text, ünïcödé and 😀')).toBe('plain text, ünïcödé and 😀');
    expect(terminalText('a\x1b[2Jb')).toBe('a\\x1b[2Jb');
    expect(terminalText('tab\there\nnext')).toBe('tab\\x09here\\x0anext');
    expect(terminalText('\x7f\x9b\u202e')).toBe('\\x7f\\x9b\\u{202e}');
    expect(terminalText(HOSTILE)).not.toMatch(CONTROL);
    expect(terminalText(HOSTILE)).not.toContain('\u202e');
  });

  it('cuts long values with an ellipsis, never inside an escape or a surrogate pair', () => {
    expect(terminalText('abcdef', { max: 6 })).toBe('abcdef');
    expect(terminalText('abcdefg', { max: 6 })).toBe('abcde…');
    expect(terminalText('abcd\x1bef', { max: 6 })).toBe('abcd…');
    expect(terminalText('abcd😀ef', { max: 7 })).toBe('abcd😀…');
    expect(terminalText('abcde😀f', { max: 7 })).toBe('abcde…');
    expect(terminalText('x'.repeat(10_000), { max: 64 })).toHaveLength(64);
  });

  it('quotes values for error messages, JSON-style, bounded', () => {
    expect(quoted('')).toBe('""');
    expect(quoted('a "b" \\ c')).toBe('"a \\"b\\" \\\\ c"');
    expect(quoted('\x1b[2J')).toBe('"\\x1b[2J"');
    const long = quoted('y'.repeat(10_000));
    expect(long.length).toBeLessThanOrEqual(82);
    expect(long.endsWith('…"')).toBe(true);
  });
});

describe('CLI output of hostile descriptions and ids', () => {
  const fx = cacheFixture('native');

  it('du, du --verbose and inspect <id> print control characters escaped', async () => {
    const root = fx.root();
    const cm = await fx.open(root);
    const ref = await (await cm.new(null, { retain: true, description: HOSTILE })).commit();
    await ref.finalize();
    await ref.release();
    await cm.close();

    const verbose = await cachekit('du', '--verbose', '--root', root);
    expect(verbose).not.toMatch(CONTROL);
    expect(verbose).toContain('Description:  \\x1b[2J\\x1b]0;pwned\\x07');
    expect(verbose).not.toContain('\nforged line');

    const table = await cachekit('du', '--root', root);
    expect(table).not.toMatch(CONTROL);
    expect(table).toContain(ref.id);

    const drawn = await cachekit('inspect', ref.id, '--root', root);
    expect(drawn).not.toMatch(CONTROL);
    expect(drawn).toContain('description: \\x1b[2J');
    expect(drawn).not.toContain('\u202e');

    // JSON stays JSON: the description survives byte for byte through a parser.
    const json = JSON.parse(await cachekit('du', '--format', 'json', '--root', root)) as { description: string }[];
    expect(json[0]!.description).toBe(HOSTILE);
  });

  it('an id from the command line comes back quoted, escaped and cut in the error', async () => {
    const root = fx.root();
    await (await fx.open(root)).close();
    const id = `\x1b]52;c;ZWNobyBoaQ==\x07${'z'.repeat(5000)}`;
    const err = await run('node', [BIN, 'inspect', id, '--root', root], { encoding: 'utf8' }).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(err?.code).toBe(1);
    expect(err!.stderr).not.toMatch(CONTROL);
    expect(err!.stderr).toContain('"\\x1b]52;c;ZWNobyBoaQ==\\x07zzz');
    expect(err!.stderr).toContain('no such record');
    expect(err!.stderr.length).toBeLessThan(400);
  });
});
