import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SizeWorkerPool } from '../../src/size/pool.js';
import { duUsage, sparseFile, tempDir } from './fixtures.js';

const tmp = tempDir('walk-du');
const pool = new SizeWorkerPool({ size: 2 });
afterAll(async () => {
  await pool.close();
  tmp.remove();
});

// fanOut: the tree is split over both workers (the pool is idle between these tests), pieces merged.
describe.each([false, true])('walker (fanOut %s) equals GNU du -s -B1 / --inodes', (fanOut) => {
  const run = async (path: string) => {
    const before = pool.stats().started;
    const usage = await pool.run(path, { fanOut });
    return { usage, jobs: pool.stats().started - before };
  };
  it('on a tree with cross-directory hardlinks, symlinks, sparse files, a fifo, nested and empty dirs', async () => {
    const root = join(tmp.path, `mixed-${fanOut}`);
    mkdirSync(join(root, 'a/b/c/d'), { recursive: true });
    mkdirSync(join(root, 'empty'));
    mkdirSync(join(root, 'other'));
    writeFileSync(join(root, 'a/big'), 'y'.repeat(123_457));
    writeFileSync(join(root, 'a/b/c/d/deep'), 'z');
    writeFileSync(join(root, 'zero'), '');
    linkSync(join(root, 'a/big'), join(root, 'other/big-hardlink'));
    linkSync(join(root, 'a/big'), join(root, 'a/b/big-hardlink-2'));
    linkSync(join(root, 'zero'), join(root, 'empty-hardlink'));
    symlinkSync('../a/big', join(root, 'other/sym'));
    symlinkSync('/nonexistent/target', join(root, 'dangling'));
    symlinkSync('a', join(root, 'dirlink'));
    sparseFile(join(root, 'sparse'), 64 * 1024 * 1024);
    execFileSync('mkfifo', [join(root, 'a/fifo')]);
    const { usage, jobs } = await run(root);
    expect(usage).toEqual(duUsage(root));
    // Head plus one piece per group of the three top-level directories (a, empty, other).
    expect(jobs).toBe(fanOut ? 4 : 1);
  });

  it('on a single regular file, a symlink root (not followed) and an empty directory', async () => {
    const file = join(tmp.path, `lonely-${fanOut}`);
    writeFileSync(file, 'q'.repeat(9000));
    symlinkSync(file, `${file}-link`);
    mkdirSync(`${file}-bare`);
    expect((await run(file)).usage).toEqual(duUsage(file));
    expect((await run(`${file}-link`)).usage).toEqual(duUsage(`${file}-link`));
    expect((await run(`${file}-bare`)).usage).toEqual(duUsage(`${file}-bare`));
  });

  it('on names that are not valid UTF-8, and with a trailing slash on the root', async () => {
    const root = join(tmp.path, `latin1-${fanOut}`);
    mkdirSync(root);
    const odd = Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9])]);
    mkdirSync(odd);
    writeFileSync(Buffer.concat([odd, Buffer.from('/inner')]), 'w'.repeat(5000));
    writeFileSync(Buffer.concat([Buffer.from(`${root}/f`), Buffer.from([0xff, 0xfe])]), 'v'.repeat(7000));
    expect((await run(root)).usage).toEqual(duUsage(root));
    expect((await run(`${root}/`)).usage).toEqual(duUsage(root));
  });

  it('on random small trees (property)', async () => {
    type Node =
      | { kind: 'file'; bytes: number }
      | { kind: 'dir'; children: Node[] }
      | { kind: 'link' }
      | { kind: 'sym' }
      | { kind: 'sparse' };
    const { tree } = fc.letrec<{ tree: Node; leaf: Node }>((tie) => ({
      leaf: fc.oneof(
        fc.record({ kind: fc.constant('file' as const), bytes: fc.integer({ min: 0, max: 20_000 }) }),
        fc.constant({ kind: 'link' as const }),
        fc.constant({ kind: 'sym' as const }),
        fc.constant({ kind: 'sparse' as const }),
      ),
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        tie('leaf'),
        fc.record({ kind: fc.constant('dir' as const), children: fc.array(tie('tree'), { maxLength: 5 }) }),
      ),
    }));
    let n0 = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(tree, { maxLength: 6 }), async (children) => {
        const root = join(tmp.path, `prop-${fanOut}-${n0++}`);
        mkdirSync(root);
        const files: string[] = [];
        let n = 0;
        const build = (dir: string, node: Node): void => {
          const path = join(dir, `e${n++}`);
          if (node.kind === 'dir') {
            mkdirSync(path);
            for (const child of node.children) build(path, child);
          } else if (node.kind === 'file') {
            writeFileSync(path, 'p'.repeat(node.bytes));
            files.push(path);
          } else if (node.kind === 'sparse') {
            sparseFile(path, 1 << 20);
            files.push(path);
          } else if (node.kind === 'link' && files.length > 0) {
            linkSync(files[n % files.length]!, path);
          } else {
            symlinkSync(files[0] ?? 'nowhere', path);
          }
        };
        for (const child of children) build(root, child);
        expect((await run(root)).usage).toEqual(duUsage(root));
      }),
      { numRuns: 40 },
    );
  });
});

it('stops every piece of a fanned-out walk on abort and rejects with the reason', async () => {
  const root = join(tmp.path, 'fan-abort');
  for (let d = 0; d < 8; d++) {
    mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let f = 0; f < 200; f++) writeFileSync(join(root, `d${d}`, `f${f}`), 'a');
  }
  const early = new AbortController();
  early.abort(new Error('before'));
  const started = pool.stats().started;
  await expect(pool.run(root, { fanOut: true, signal: early.signal })).rejects.toThrow('before');
  expect(pool.stats().started).toBe(started);
  const controller = new AbortController();
  const walk = pool.run(root, { fanOut: true, signal: controller.signal });
  const reason = new Error('stop');
  setImmediate(() => controller.abort(reason));
  await expect(walk).rejects.toBe(reason);
  expect(pool.stats().queued).toBe(0);
  // Pieces still in a worker's pipeline are rejected at once; the worker acknowledges them right after.
  while (pool.stats().busy > 0) await new Promise((r) => setTimeout(r, 1));
  // The pool is whole afterwards: a new fanned-out walk still agrees with du.
  expect(await pool.run(root, { fanOut: true })).toEqual(duUsage(root));
});
