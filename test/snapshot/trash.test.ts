import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isCacheError, NativeSnapshotter, openCacheManager } from '../../src/index.js';
import { deleteTrees } from '../../src/snapshot/delete-tree.js';
import { mountPointsUnder } from '../../src/snapshot/mount.js';
import { SnapshotStore } from '../../src/snapshot/store.js';

const roots: string[] = [];
const asRoot = process.getuid?.() === 0;
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe('removed snapshots whose directories were not deleted yet', () => {
  it('a batch of removals killed before its deletions is finished by cleanup, not refused as unknown', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-trash-'));
    roots.push(root);
    let snap = await NativeSnapshotter.open(root);
    for (let i = 0; i < 12; i++) {
      await snap.prepare(`active/${i}`);
      await snap.commit(`committed/${i}`, `active/${i}`);
    }
    await snap.close();
    // What a kill right after the removals' metadata commit leaves: 8 records gone, all their directories still there.
    const store = SnapshotStore.open(join(root, 'metadata.lmdb'));
    const doomed = Array.from({ length: 8 }, (_, i) => store.getByName(`committed/${i}`)!);
    await store.write((tx) => {
      for (const rec of doomed) tx.delete(rec);
    });
    await store.close();
    const dirs = join(root, 'snapshots');
    for (const rec of doomed) expect(existsSync(join(dirs, String(rec.id)))).toBe(true);
    snap = await NativeSnapshotter.open(root);
    await snap.cleanup();
    expect(readdirSync(dirs).length).toBe(4);
    for (const rec of doomed) expect(existsSync(join(dirs, String(rec.id)))).toBe(false);
    await snap.close();
    const after = SnapshotStore.open(join(root, 'metadata.lmdb'));
    expect(after.trashIds().size).toBe(0);
    await after.close();
  });

  it('concurrent removals resolve before their directories go; deleted() waits for all of them', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-trash-'));
    roots.push(root);
    const snap = await NativeSnapshotter.open(root);
    for (let i = 0; i < 20; i++) {
      await snap.prepare(`active/${i}`);
      await snap.commit(`committed/${i}`, `active/${i}`);
    }
    await Promise.all(Array.from({ length: 20 }, (_, i) => snap.remove(`committed/${i}`)));
    await snap.deleted();
    expect(readdirSync(join(root, 'snapshots'))).toEqual([]);
    await snap.close();
  });

  it('a tree deeper than PATH_MAX (fs.rm fails with ENAMETOOLONG) is still deleted', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-trash-'));
    roots.push(root);
    const snap = await NativeSnapshotter.open(root);
    const [mount] = await snap.prepare('active/deep');
    // 300 levels of 20 characters: over 6,000 bytes of path, past Linux's 4,096; made with relative steps.
    const made = spawnSync(
      'bash',
      [
        '-c',
        'for i in $(seq 300); do mkdir aaaaaaaaaaaaaaaaaaaa && cd aaaaaaaaaaaaaaaaaaaa || exit 1; done; echo x > f',
      ],
      {
        cwd: mount!.source,
      },
    );
    expect(made.status, made.stderr.toString()).toBe(0);
    await snap.remove('active/deep');
    await snap.deleted();
    expect(snap.undeleted()).toEqual([]);
    expect(readdirSync(join(root, 'snapshots'))).toEqual([]);
    await snap.close();
  });

  it.skipIf(!asRoot)(
    `a directory holding a mount point is kept and named by the snapshotter, the prune and the next start${asRoot ? '' : ' (skipped: bind mounts need root)'}`,
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'cachekit-trash-'));
      roots.push(root);
      const elsewhere = mkdtempSync(join(tmpdir(), 'cachekit-elsewhere-'));
      roots.push(elsewhere);
      writeFileSync(join(elsewhere, 'theirs'), 'not ours to delete');
      let cm = await openCacheManager({ root, snapshotter: 'native' });
      const mut = await cm.new(null);
      const m = await mut.mount();
      // Someone mounts over a directory inside the layer (a bind mount of theirs, never ours to undo).
      const inside = join(m.path, 'mnt');
      mkdirSync(inside);
      await m.release();
      const ref = await mut.commit();
      const { id } = ref;
      await ref.release();
      const dir = readdirSync(join(root, 'snapshots', 'snapshots')).map((d) => join(root, 'snapshots', 'snapshots', d));
      expect(dir).toHaveLength(1);
      const point = join(dir[0]!, 'mnt');
      expect(spawnSync('mount', ['--bind', elsewhere, point]).status).toBe(0);
      try {
        const pruned: string[] = [];
        const error = await new Promise<unknown>((resolve) =>
          cm
            .prune()
            .subscribe({ next: (r) => void pruned.push(r.id), error: resolve, complete: () => resolve(undefined) }),
        );
        // The record is gone (its removal is durable), but the space is not free: the prune says so.
        expect(pruned).toEqual([id]);
        expect(isCacheError(error, 'INVALID')).toBe(true);
        expect(String((error as Error).message)).toMatch(/could not be deleted.*mount point/);
        expect(readFileSync(join(elsewhere, 'theirs'), 'utf8')).toBe('not ours to delete');
        await cm.close();
        // The next start retries, and names what it still cannot delete.
        cm = await openCacheManager({ root, snapshotter: 'native' });
        expect(cm.startup.repairs.map((r) => r.action)).toContain('kept-undeletable-directory');
        await cm.close();
      } finally {
        // The removal renamed the directory, and the mount went with it.
        for (const p of await mountPointsUnder(root)) spawnSync('umount', [p]);
      }
      // Once the mount is gone, the next start deletes it.
      cm = await openCacheManager({ root, snapshotter: 'native' });
      expect(cm.startup.repairs.map((r) => r.action)).not.toContain('kept-undeletable-directory');
      expect(readdirSync(join(root, 'snapshots', 'snapshots'))).toEqual([]);
      await cm.close();
    },
  );
});

describe('deleting many trash directories at once', () => {
  it.skipIf(!asRoot)(
    `one rm process deletes the batch; the tree holding a mount point is kept and named, the mounted files untouched${asRoot ? '' : ' (skipped: bind mounts need root)'}`,
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'cachekit-batch-'));
      roots.push(root);
      const elsewhere = mkdtempSync(join(tmpdir(), 'cachekit-elsewhere-'));
      roots.push(elsewhere);
      writeFileSync(join(elsewhere, 'theirs'), 'not ours to delete');
      // More than are deleted in this process, so the batch goes through rm.
      const trees = Array.from({ length: 40 }, (_, i) => join(root, `trash-${i}`));
      for (const t of trees) {
        mkdirSync(join(t, 'a', 'b'), { recursive: true });
        writeFileSync(join(t, 'a', 'b', 'f'), 'x');
      }
      const point = join(trees[7]!, 'a', 'mnt');
      mkdirSync(point);
      expect(spawnSync('mount', ['--bind', elsewhere, point]).status).toBe(0);
      try {
        const failed = await deleteTrees(trees);
        expect([...failed.keys()]).toEqual([trees[7]]);
        expect(failed.get(trees[7]!)).toMatch(/mount point/);
        expect(readdirSync(root)).toEqual(['trash-7']);
        expect(readFileSync(join(elsewhere, 'theirs'), 'utf8')).toBe('not ours to delete');
      } finally {
        spawnSync('umount', [point]);
      }
      expect((await deleteTrees([trees[7]!])).size).toBe(0);
      expect(readdirSync(root)).toEqual([]);
    },
  );
});
