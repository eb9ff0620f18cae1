/**
 * The public API is what docs/api.md lists: every value the built package exports is named there.
 * (Types leave no trace at run time; the consumer test checks that they resolve.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const project = join(import.meta.dirname, '../..');

describe('docs/api.md', () => {
  it('names every value the package exports', async () => {
    const api = readFileSync(join(project, 'docs/api.md'), 'utf8');
    const exported = Object.keys(await import(join(project, 'dist/src/index.js')));
    expect(exported.length).toBeGreaterThan(20);
    expect(exported.filter((name) => !new RegExp(`\\b${name}\\b`).test(api))).toEqual([]);
  });
});
