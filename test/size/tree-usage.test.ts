import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, linkSync, symlinkSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { treeUsage } from '../../src/size/tree-usage.js';

const dir = mkdtempSync(join(tmpdir(), 'cachekit-usage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('matches du -s -B1 and du -s --inodes with hardlinks and symlinks', async () => {
  mkdirSync(join(dir, 'a/b'), { recursive: true });
  writeFileSync(join(dir, 'a/file'), 'x'.repeat(10_000));
  linkSync(join(dir, 'a/file'), join(dir, 'a/b/hard'));
  symlinkSync('file', join(dir, 'a/link'));
  const du = (flag: string) => Number(execFileSync('du', ['-s', flag, dir], { encoding: 'utf8' }).split('\t')[0]);
  expect(await treeUsage(dir)).toEqual({ size: du('-B1'), inodes: du('--inodes') });
});
