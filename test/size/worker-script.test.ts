import { execFileSync } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workerScript } from '../../src/size/worker-script.js';
import { duUsage, tempDir } from './fixtures.js';

const tmp = tempDir('compiled');
afterAll(() => tmp.remove());

describe('workerScript', () => {
  it('picks the .ts sibling and the tsx bootstrap for TypeScript callers', () => {
    expect(workerScript('file:///x/src/size/pool.ts', 'walk-worker')).toEqual({
      url: new URL('file:///x/src/size/walk-worker.ts'),
      mode: 'tsx',
    });
  });

  it('picks the .js sibling and a plain start for compiled callers', () => {
    expect(workerScript('file:///x/dist/size/pool.js', 'walk-worker')).toEqual({
      url: new URL('file:///x/dist/size/walk-worker.js'),
      mode: 'direct',
    });
  });
});

describe('compiled to JavaScript', () => {
  const out = join(tmp.path, 'dist');
  const project = resolve(import.meta.dirname, '../..');
  const node = (script: string): string =>
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: out });

  it('runs on plain node (no tsx) and matches du', () => {
    execFileSync(
      join(project, 'node_modules/.bin/tsc'),
      [
        '--noEmit',
        'false',
        '--outDir',
        out,
        '--rootDir',
        join(project, 'src'),
        '--target',
        'ES2022',
        '--module',
        'NodeNext',
        '--moduleResolution',
        'NodeNext',
        '--strict',
        '--skipLibCheck',
        '--types',
        'node',
        join(project, 'src/size/index.ts'),
        join(project, 'src/size/walk-worker.ts'),
      ],
      { cwd: project },
    );
    writeFileSync(join(out, 'package.json'), '{"type":"module"}');
    symlinkSync(join(project, 'node_modules'), join(out, 'node_modules'));
    const target = join(project, 'src');
    const printed = node(`
      import { SizeWorkerPool } from './size/index.js';
      const pool = new SizeWorkerPool({ size: 1 });
      console.log(JSON.stringify(await pool.run(${JSON.stringify(target)})));
      await pool.close();`);
    expect(JSON.parse(printed)).toEqual(duUsage(target));
  });

  it('reports WORKER_FAILED from warm() and from a walk when the worker module is missing', () => {
    rmSync(join(out, 'size/walk-worker.js'));
    const printed = node(`
      import { SizeWorkerPool } from './size/index.js';
      const pool = new SizeWorkerPool({ size: 1 });
      const warm = await pool.warm().then(() => 'ok', (e) => e.code);
      const walk = await pool.run('/').then(() => 'ok', (e) => e.code);
      await pool.close();
      console.log(JSON.stringify({ warm, walk }));`);
    expect(JSON.parse(printed)).toEqual({ warm: 'WORKER_FAILED', walk: 'WORKER_FAILED' });
  });
});
