import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { isCacheError, type CacheEvent, type CacheManager, type ImmutableRef } from '../../src/index.js';
import { defaultSizePool, isSizeError } from '../../src/size/index.js';
import { activeKey } from '../../src/cache/keys.js';
import {
  cacheFixture,
  containerdContentDir,
  containerdSnapshotter,
  SNAPSHOTTERS,
  type SnapshotterKind,
} from './helpers.js';

const duBytes = (dir: string) => Number(execFileSync('du', ['-s', '-B1', dir], { encoding: 'utf8' }).split('\t')[0]);

/** A frozen, released record holding `files` small files: sizing it means walking its active snapshot. */
async function frozenWithFiles(
  cm: CacheManager,
  files: number,
  description = `files ${files}`,
): Promise<{ id: string; path: string }> {
  const mut = await cm.new(null, { retain: true, description });
  const { path } = await mut.mount();
  for (let d = 0; d < Math.ceil(files / 1000); d++) {
    mkdirSync(join(path, `d${d}`));
    for (let f = 0; f < Math.min(1000, files - d * 1000); f++)
      writeFileSync(join(path, `d${d}`, `f${f}`), 'x'.repeat(f % 7 === 0 ? 9000 : 100));
  }
  const imm: ImmutableRef = await mut.commit();
  await imm.release();
  return { id: imm.id, path };
}

/** Sizes are the snapshotter's own: native's walk and containerd's Usage (overlay sizes as native does). */
const SIZED = SNAPSHOTTERS.filter((s) => s.kind !== 'overlay');

/**
 * A record's snapshot taken away behind the manager's back: its directory deleted, or on containerd
 * the snapshot removed by another client of the daemon.
 */
async function vanish(kind: SnapshotterKind, cm: CacheManager, record: { id: string; path: string }): Promise<void> {
  if (kind !== 'containerd') return rmSync(record.path, { recursive: true, force: true });
  const sn = await containerdSnapshotter(cm.root);
  try {
    await sn.remove(activeKey(record.id));
  } finally {
    await sn.close();
  }
}

for (const { kind, skip } of SIZED)
  describe.skipIf(skip)(`disk usage as a stream (${kind})`, () => {
    const fx = cacheFixture(kind);

    /** The directory that holds what a record's own snapshot adds (what its size counts). */
    const contentDir = (cm: CacheManager, id: string, mountPath: string): Promise<string> | string =>
      kind === 'containerd' ? containerdContentDir(cm.root, activeKey(id)) : mountPath;

    it('streams cached sizes before computed ones, and sizes equal du -s -B1', async () => {
      const cm = await fx.open();
      const known = await frozenWithFiles(cm, 50, 'known');
      const fresh = await frozenWithFiles(cm, 3000, 'fresh');
      const knownSize = (await (await cm.get(known.id)).size()).size;
      const order = (await lastValueFrom(cm.diskUsage$().pipe(toArray()))).map((u) => u.description);
      expect(order).toEqual(['known', 'fresh']);
      const all = await cm.diskUsage();
      expect(all.find((u) => u.id === known.id)!.size).toBe(knownSize);
      expect(all.find((u) => u.id === known.id)!.size).toBe(duBytes(await contentDir(cm, known.id, known.path)));
      expect(all.find((u) => u.id === fresh.id)!.size).toBe(duBytes(await contentDir(cm, fresh.id, fresh.path)));
    });

    it('aborting stops the walks in flight and leaves no worker busy', async () => {
      const cm = await fx.open();
      await frozenWithFiles(cm, 20_000);
      const controller = new AbortController();
      const result = lastValueFrom(cm.diskUsage$({ signal: controller.signal }).pipe(toArray())).catch(
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 20));
      controller.abort(new Error('enough'));
      expect(((await result) as Error).message).toBe('enough');
      const deadline = Date.now() + 1000;
      while (defaultSizePool().stats().busy > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(defaultSizePool().stats()).toMatchObject({ busy: 0, queued: 0 });
      expect(cm.status().sizing).toMatchObject({ active: 0, waiting: 0 });
    });

    it('tolerates a record whose snapshot vanished (size 0 and an event), and strict fails', async () => {
      const cm = await fx.open();
      const ok = await frozenWithFiles(cm, 10, 'ok');
      const gone = await frozenWithFiles(cm, 10, 'gone');
      await vanish(kind, cm, gone);
      const events: CacheEvent[] = [];
      const sub = cm.events$.subscribe((e) => events.push(e));
      const usage = await cm.diskUsage();
      await new Promise((r) => setImmediate(r));
      sub.unsubscribe();
      expect(usage.find((u) => u.id === gone.id)!.size).toBe(0);
      // The row itself says its size is unknown, and why: 0 is not passed off as a measured size.
      expect(usage.find((u) => u.id === gone.id)!.sizeError).toEqual(expect.stringMatching(/./));
      expect(usage.find((u) => u.id === ok.id)!.size).toBeGreaterThan(0);
      expect(usage.find((u) => u.id === ok.id)!.sizeError).toBeUndefined();
      expect(events).toContainEqual(expect.objectContaining({ type: 'size.failed', id: gone.id }));
      // Strict: the failure of the one record, typed, naming the record and why it could not be sized.
      const err = await cm.diskUsage({ strict: true }).catch((e: unknown) => e);
      expect(isSizeError(err), String(err)).toBe(true);
      // The snapshotter checks its storage before it walks: the vanished directory is named as missing.
      expect(err).toMatchObject({ code: 'ITEM_FAILED', cause: { name: 'SnapshotError', code: 'NOT_FOUND' } });
      expect((err as Error).message).toContain(gone.id);
      expect((err as Error).message).not.toContain(ok.id);
      if (kind !== 'containerd') expect((err as Error).message).toMatch(/is missing/);
    });

    it('concurrent callers share one walk', async () => {
      const cm = await fx.open();
      const { id } = await frozenWithFiles(cm, 5000);
      const before = cm.status().sizing.walksStarted;
      const [a, b] = await Promise.all([cm.get(id), cm.get(id)]);
      const [s1, s2, all] = await Promise.all([a.size(), b.size(), cm.diskUsage()]);
      expect(s1).toEqual(s2);
      expect(all[0]!.size).toBe(s1.size);
      expect(cm.status().sizing.walksStarted - before).toBe(1);
      await a.release();
      await b.release();
    });

    it('cached sizes survive a restart and are cleared by thaw and commit', async () => {
      const root = fx.root();
      let cm = await fx.open(root);
      const { id } = await frozenWithFiles(cm, 100);
      await cm.diskUsage();
      expect(cm.describe(id).size).toBeGreaterThan(0);
      await cm.close();
      cm = await fx.open(root);
      expect(cm.describe(id).size).toBeGreaterThan(0);
      const mut = await cm.getMutable(id);
      expect(cm.describe(id).size).toBeUndefined();
      const imm = await mut.commit();
      expect(cm.describe(id).size).toBeUndefined();
      await imm.release();
    });

    it('filters and ageLimit select records; a bad filter is INVALID naming the part', async () => {
      const cm = await fx.open();
      await frozenWithFiles(cm, 1, 'alpha');
      await frozenWithFiles(cm, 1, 'beta');
      const held = await cm.new(null, { description: 'busy' });
      const pick = async (filter: string[]) => (await cm.diskUsage({ filter })).map((u) => u.description).sort();
      expect(await pick(['description==alpha'])).toEqual(['alpha']);
      expect(await pick(['inuse'])).toEqual(['busy']);
      expect(await pick(['mutable'])).toEqual(['busy']);
      expect(await pick(['immutable', 'description~=^al'])).toEqual(['alpha', 'beta']);
      expect((await cm.diskUsage({ ageLimit: 3_600_000 })).map((u) => u.description)).toEqual(['busy']);
      const err = await cm.diskUsage({ filter: ['colour==red'] }).catch((e: unknown) => e);
      expect(isCacheError(err, 'INVALID')).toBe(true);
      expect((err as Error).message).toContain('colour');
      await held.release();
    });
  });
