import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { duUsage, manySmallFiles, tempDir } from './fixtures.js';

const run = promisify(execFile);
const tmp = tempDir('public-api');
afterAll(() => tmp.remove());

// process.binding is internal and deprecated (DEP0111); Node reports every use under --pending-deprecation,
// from worker threads too. A walk in a child process with that flag must print no deprecation at all.
it('sizes a tree without any deprecated or internal Node API', async () => {
  manySmallFiles(join(tmp.path, 'tree'), 3, 20);
  const script = join(tmp.path, 'walk.mts');
  const pool = new URL('../../src/size/pool.ts', import.meta.url).href;
  writeFileSync(
    script,
    `import { SizeWorkerPool } from ${JSON.stringify(pool)};
const pool = new SizeWorkerPool({ size: 2 });
console.log(JSON.stringify(await pool.run(${JSON.stringify(join(tmp.path, 'tree'))})));
await pool.close();
`,
  );
  const { stdout, stderr } = await run(process.execPath, ['--pending-deprecation', '--import', 'tsx', script], {
    cwd: new URL('../..', import.meta.url),
  });
  expect(stderr).not.toMatch(/DEP0\d+|DeprecationWarning/);
  expect(JSON.parse(stdout)).toEqual(duUsage(join(tmp.path, 'tree')));
}, 30_000);
