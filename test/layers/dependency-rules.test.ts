/**
 * The dependency check that `npm run lint:deps` runs in CI must be able to fail: the project's own rules,
 * run over a small tree with a cycle and an import against the layer direction added on purpose.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const project = join(import.meta.dirname, '../..');
const tree = mkdtempSync(join(tmpdir(), 'cachekit-deps-'));
afterAll(() => rmSync(tree, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(join(tree, path, '..'), { recursive: true });
  writeFileSync(join(tree, path), text);
}

describe('dependency rules', () => {
  it('fail on an import cycle and on a low layer importing the CLI', () => {
    cpSync(join(project, 'tsconfig.json'), join(tree, 'tsconfig.json'));
    write('src/units/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
    write('src/units/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
    write('src/cli/main.ts', 'export const c = 1;\n');
    write('src/units/up.ts', "import { c } from '../cli/main.js';\nexport const up = c;\n");
    const run = spawnSync(
      join(project, 'node_modules/.bin/depcruise'),
      ['src', '--config', join(project, '.dependency-cruiser.cjs')],
      { cwd: tree, encoding: 'utf8' },
    );
    const out = `${run.stdout}${run.stderr}`;
    expect(run.status, out).not.toBe(0);
    expect(out).toMatch(/no-circular: src\/units\/a\.ts/);
    expect(out).toMatch(/src\/units\/up\.ts → src\/cli\/main\.ts/);
  });
});
