import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NativeSnapshotter } from '../../src/index.js';
import { SnapshotStore } from '../../src/snapshot/store.js';

const roots: string[] = [];
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
});
