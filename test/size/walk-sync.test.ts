import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ControlBlock } from '../../src/size/control-block.js';
import { type LstatEntry, lstatEntry } from '../../src/size/lstat-source.js';
import { walkTreeSync } from '../../src/size/walk-sync.js';
import { duUsage, tempDir } from './fixtures.js';

const tmp = tempDir('walk-sync');
afterAll(() => tmp.remove());

function hardlinkPairs(root: string): void {
  mkdirSync(join(root, 'x'), { recursive: true });
  mkdirSync(join(root, 'y'));
  writeFileSync(join(root, 'x/one'), '1'.repeat(10_000));
  writeFileSync(join(root, 'x/two'), '2'.repeat(30_000));
  linkSync(join(root, 'x/one'), join(root, 'y/one'));
  linkSync(join(root, 'x/two'), join(root, 'y/two'));
}

it('uses exact bigint identities when inode numbers exceed 2^53', () => {
  const root = join(tmp.path, 'huge-ino');
  hardlinkPairs(root);
  // Every hardlinked inode reports the same imprecise double, as two inodes above 2^53 can.
  const imprecise: LstatEntry = (path) => {
    const st = lstatEntry(path);
    return st !== undefined && st.nlink > 1 ? { ...st, ino: 2 ** 53 + 2 } : st;
  };
  const outcome = walkTreeSync(root, new ControlBlock(), {}, imprecise);
  expect(outcome).toEqual({ aborted: false, ...duUsage(root) });
});

it('makes no filesystem call once abort is requested before the walk starts', () => {
  const root = join(tmp.path, 'pre-aborted');
  hardlinkPairs(root);
  const control = new ControlBlock();
  control.requestAbort();
  expect(walkTreeSync(root, control)).toEqual({ aborted: true });
  expect(control.fsCalls).toBe(0);
  expect(control.abortSeenAt).toBeGreaterThan(0);
});
