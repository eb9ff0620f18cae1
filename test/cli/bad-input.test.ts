import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCacheManager } from '../../src/index.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');
const root = mkdtempSync(join(tmpdir(), 'cachekit-cli-bad-'));
let before: string[] = [];
const listing = () => readdirSync(root, { recursive: true }).map(String).sort();
beforeAll(async () => {
  await (await openCacheManager({ root })).close();
  before = listing();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the CLI expecting failure; returns its exit code and stderr. */
async function fails(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run('node', [BIN, ...args], { encoding: 'utf8' });
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`cachekit ${args.join(' ')} succeeded`);
}

describe('CLI bad input', () => {
  it('names the bad value and exits non-zero, leaving the root untouched', async () => {
    const duration = await fails('prune', '--root', root, '--keep-duration', 'soon');
    expect(duration.code).toBe(1);
    expect(duration.stderr).toContain('"soon"');
    const size = await fails('prune', '--root', root, '--max-used-space', '12 parsecs');
    expect(size.stderr).toContain('"12 parsecs"');
    const filter = await fails('du', '--root', root, '--filter', 'colour==red');
    expect(filter.stderr).toContain('colour');
    const format = await fails('du', '--root', root, '--format', 'xml');
    expect(format.stderr).toMatch(/xml.*invalid/);
    const record = await fails('inspect', 'no-such-record', '--root', root);
    expect(record.stderr).toContain('no-such-record');
    const notRoot = await fails('du', '--root', join(root, 'elsewhere'));
    expect(notRoot.stderr).toMatch(/cache root .* does not exist/);
    expect(listing()).toEqual(before);
  });
});
