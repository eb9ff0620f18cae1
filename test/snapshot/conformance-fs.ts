import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  open,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { withMount } from '../../src/snapshot/mount.js';
import { committed, expectCode, names, useHarness, useMounts, type SnapshotterFactory } from './helpers.js';
import type { SnapshotterQuirks } from './conformance-quirks.js';
import { diffDirs as diffAll, readTree } from './tree-compare.js';

type Layer = (root: string) => Promise<void>;

async function sparseFile(path: string): Promise<void> {
  const fh = await open(path, 'w');
  await fh.write('head', 0);
  await fh.write('tail', 3 * 1024 * 1024);
  await fh.close();
}

/** Base layer: every file type, a hardlink group, a sparse file, odd modes and owners. */
const layer1: Layer = async (r) => {
  for (const d of ['etc', 'bin', 'a', 'b', 'old/sub', 'data']) await mkdir(join(r, d), { recursive: true });
  await writeFile(join(r, 'etc/conf'), 'version=1\n');
  await writeFile(join(r, 'bin/tool'), '#!/bin/sh\necho hi\n');
  await chmod(join(r, 'bin/tool'), 0o755);
  await writeFile(join(r, 'a/shared'), 'linked content');
  await link(join(r, 'a/shared'), join(r, 'b/shared'));
  await symlink('../etc/conf', join(r, 'bin/conf-link'));
  await symlink('/does/not/exist', join(r, 'dangling'));
  await writeFile(join(r, 'old/x'), 'x');
  await writeFile(join(r, 'old/sub/y'), 'y');
  await sparseFile(join(r, 'data/sparse'));
  execFileSync('mkfifo', [join(r, 'data/fifo')]);
  await writeFile(join(r, 'data/owned'), 'owned');
  await chown(join(r, 'data/owned'), 1000, 1001);
  await chmod(join(r, 'data'), 0o1777);
  await writeFile(join(r, 'to-delete'), 'bye');
  await writeFile(join(r, 'to-rename'), 'rename me');
};

/** Modifies content, mode alone and owner; deletes files and a directory; renames; moves one name of a hardlink group. */
const layer2: Layer = async (r) => {
  await writeFile(join(r, 'etc/conf'), 'version=2, longer than before\n');
  await chmod(join(r, 'bin/tool'), 0o700);
  await chown(join(r, 'etc/conf'), 4242, 4343);
  await rm(join(r, 'to-delete'));
  await rm(join(r, 'old'), { recursive: true });
  await rename(join(r, 'to-rename'), join(r, 'etc/renamed'));
  await mkdir(join(r, 'c'));
  await rename(join(r, 'a/shared'), join(r, 'c/shared'));
  await writeFile(join(r, 'new-in-2'), 'two');
  await chmod(join(r, 'etc'), 0o750);
};

/** Recreates the removed directory (its old files must stay gone) and touches the moved hardlink. */
const layer3: Layer = async (r) => {
  await mkdir(join(r, 'old'));
  await writeFile(join(r, 'old/z'), 'z');
  await symlink('z', join(r, 'old/z-link'));
  await writeFile(join(r, 'b/shared'), 'rewritten through the other name');
  await truncate(join(r, 'etc/renamed'), 3);
  await rm(join(r, 'bin/conf-link'));
  await symlink('tool', join(r, 'bin/conf-link'));
};

/** The filesystem behaviour every snapshotter must have, checked against a flat directory. */
export function describeFilesystem(factory: SnapshotterFactory, quirks: SnapshotterQuirks = {}): void {
  const h = useHarness(factory);
  const diffDirs = async (actual: string, expected: string): Promise<string[]> =>
    (await diffAll(actual, expected)).filter((d) => !(quirks.copyFillsHoles && /: sparse is /.test(d)));
  /** What copy-up does to the moved name of the hardlink group when it gives it a new inode. */
  const copyUp: Layer = async (r) => {
    execFileSync('cp', ['-a', join(r, 'c/shared'), join(r, 'c/shared.copy')]);
    await rename(join(r, 'c/shared.copy'), join(r, 'c/shared'));
  };
  let flat = '';
  beforeEach(async () => {
    flat = await mkdtemp(join(tmpdir(), 'cachekit-flat-'));
    await chmod(flat, 0o755);
  });
  afterEach(() => rm(flat, { recursive: true, force: true }));

  /** Applies a layer in a new active snapshot and to the flat dir, compares, commits. */
  const applyLayer = async (name: string, parent: string | undefined, layer: Layer, flatToo?: Layer): Promise<void> => {
    const mounts = await h.sn.prepare(`${name}-active`, parent);
    await useMounts(mounts, async (root) => {
      await layer(root);
      await layer(flat);
      await flatToo?.(flat);
      expect(await diffDirs(root, flat), `active ${name}`).toEqual([]);
    });
    await h.sn.commit(name, `${name}-active`);
  };

  const expectViewMatchesFlat = async (parent: string): Promise<void> => {
    const mounts = await h.sn.view(`view-of-${parent}`, parent);
    await withMount(mounts, async (root) => expect(await diffDirs(root, flat), `view of ${parent}`).toEqual([]));
  };

  it('builds a 3-layer chain that matches a flat directory with the same changes', async () => {
    await applyLayer('l1', undefined, layer1);
    await applyLayer('l2', 'l1', layer2, quirks.copyUpBreaksHardlinks ? copyUp : undefined);
    await applyLayer('l3', 'l2', layer3);
    await expectViewMatchesFlat('l3');
    const flatTree = await readTree(flat);
    expect(flatTree.entries['old/x']).toBeUndefined();
    expect(flatTree.entries['data/sparse']?.sparse).toBe(true);
    expect(flatTree.hardlinks).toEqual(quirks.copyUpBreaksHardlinks ? [] : [['b/shared', 'c/shared']]);
    // A fresh prepare on the chain sees the same tree again.
    await useMounts(await h.sn.prepare('again', 'l3'), async (root) => expect(await diffDirs(root, flat)).toEqual([]));
  });

  it('builds a chain of 128 layers', async () => {
    let parent: string | undefined;
    for (let i = 0; i < 128; i++) {
      const name = `layer-${String(i).padStart(3, '0')}`;
      const mounts = await h.sn.prepare(`${name}-active`, parent);
      const change: Layer = async (r) => {
        await writeFile(join(r, `file-${i}`), `content ${i}`);
        await writeFile(join(r, 'counter'), String(i));
        if (i > 0 && i % 2 === 0) await rm(join(r, `file-${i - 1}`));
      };
      await useMounts(mounts, change);
      await change(flat);
      await h.sn.commit(name, `${name}-active`);
      parent = name;
    }
    await expectViewMatchesFlat(parent!);
    const mounts = await h.sn.prepare('top', parent);
    await useMounts(mounts, async (root) => {
      expect(await diffDirs(root, flat)).toEqual([]);
      await writeFile(join(root, 'counter'), 'top');
    });
    expect((await names(h.sn, 'kind==committed')).length).toBe(128);
  });

  it('gives a view that refuses writes', async () => {
    await applyLayer('base', undefined, async (r) => writeFile(join(r, 'f'), 'x'));
    const mounts = await h.sn.view('ro', 'base');
    await withMount(mounts, async (root) => {
      await expect(writeFile(join(root, 'g'), 'y')).rejects.toMatchObject({ code: 'EROFS' });
      await expect(writeFile(join(root, 'f'), 'y')).rejects.toMatchObject({ code: 'EROFS' });
      await expect(mkdir(join(root, 'd'))).rejects.toMatchObject({ code: 'EROFS' });
    });
    const empty = await h.sn.view('ro-empty');
    await withMount(empty, async (root) => {
      await expect(writeFile(join(root, 'g'), 'y')).rejects.toMatchObject({ code: 'EROFS' });
    });
    expect(await h.sn.mounts('ro')).toEqual(mounts);
  });

  it('gives a fresh prepare a 0755 root owned by the caller, whatever the umask', async () => {
    const old = process.umask(0o077);
    let mounts: Awaited<ReturnType<typeof h.sn.prepare>>;
    try {
      mounts = await h.sn.prepare('fresh');
    } finally {
      process.umask(old);
    }
    await withMount(mounts, async (root) => {
      const st = await stat(root);
      expect(st.mode & 0o7777).toBe(0o755);
      expect(st.uid).toBe(process.getuid!());
    });
  });

  it('refuses removing an intermediate snapshot until its children are gone', async () => {
    await committed(h.sn, 'bottom');
    await committed(h.sn, 'middle', 'bottom');
    await h.sn.prepare('top', 'middle');
    await expectCode(h.sn.remove('middle'), 'FAILED_PRECONDITION', 'remove', 'middle');
    await expectCode(h.sn.remove('bottom'), 'FAILED_PRECONDITION', 'remove', 'bottom');
    await h.sn.remove('top');
    await h.sn.remove('middle');
    await h.sn.remove('bottom');
    expect(await names(h.sn)).toEqual([]);
  });

  it('reports usage equal to du -s -B1 and du -s --inodes (hardlinks, symlinks, sparse file, fifo)', async () => {
    const mounts = await h.sn.prepare('u');
    const source = mounts[0]!.source;
    expect(mounts[0]!.type).toBe('bind');
    await useMounts(mounts, layer1);
    const du = (flag: string): number =>
      Number(execFileSync('du', ['-s', flag, source], { encoding: 'utf8' }).split('\t')[0]);
    const expected = { size: du('-B1'), inodes: du('--inodes') };
    expect(expected.size).toBeLessThan(3 * 1024 * 1024);
    expect(await h.sn.usage('u')).toEqual(expected);
    await h.sn.commit('u-done', 'u');
    expect(await h.sn.usage('u-done')).toEqual(expected);
    const ac = new AbortController();
    ac.abort();
    await h.sn.prepare('u2', 'u-done');
    await expect(h.sn.usage('u2', { signal: ac.signal })).rejects.toThrow();
  });

  it('counts only what a child changed when layers are shared, or the full copy when they are not', async () => {
    await applyLayer('base', undefined, async (r) => writeFile(join(r, 'big'), Buffer.alloc(256 * 1024, 1)));
    await h.sn.prepare('child', 'base');
    const base = await h.sn.usage('base');
    const child = await h.sn.usage('child');
    expect(base.size).toBeGreaterThanOrEqual(256 * 1024);
    // Overlay children hold only their own (empty) layer; native children hold a full copy.
    expect([base.size, 4096]).toContain(child.size);
    const st = await lstat(h.root);
    expect(st.isDirectory()).toBe(true);
  });
}
