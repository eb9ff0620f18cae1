import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { isCacheError, isSnapshotError, NativeSnapshotter } from '../../src/index.js';
import { type FaultRule, faultySnapshotter, testCache } from '../../src/testing/index.js';

/**
 * Snapshot calls that fail, each met once on purpose, and what the caller and the cache show
 * afterwards. The rules are containerd's and BuildKit's as users meet them: a removal is done when
 * the snapshot is gone, and a record whose snapshot is still on disk is never silently dropped.
 */

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function faultyCache() {
  const dir = mkdtempSync(join(tmpdir(), 'cachekit-failed-io-'));
  dirs.push(dir);
  const faulty = faultySnapshotter(await NativeSnapshotter.open(dir), { rules: [] });
  const cache = await testCache({ snapshotter: faulty });
  return { cache, faulty };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isCacheError(e) ? e.code : `untyped ${String(e)}`),
  );
const failingRemove = (when: 'before' | 'after' = 'before'): FaultRule => ({
  methods: ['remove'],
  key: /^committed\//,
  fault: { kind: 'EIO' },
  when,
});

/** A committed record with a file in it, released. */
async function committedRecord(cache: Awaited<ReturnType<typeof testCache>>) {
  const mut = await cache.cm.new(null);
  const m = await mut.mount();
  writeFileSync(join(m.path, 'f'), 'content\n');
  await m.release();
  const ref = await mut.commit();
  await ref.finalize();
  await ref.release();
  return ref.id;
}

describe('a removal whose snapshot stays on disk', () => {
  it('rejects with the cause, and the record stays listed, refused to every caller, until remove retries', async () => {
    const { cache, faulty } = await faultyCache();
    await using _ = cache;
    const { cm } = cache;
    const id = await committedRecord(cache);
    faulty.replan({ rules: [failingRemove()] });
    const err = await cm.remove(id).catch((e: unknown) => e);
    expect(isCacheError(err, 'INVALID'), String(err)).toBe(true);
    expect((err as Error).message).toContain(id);
    expect(String((err as Error).cause)).toMatch(/EIO/);
    // Still on disk, so still listed, sized from its committed snapshot.
    expect(cm.describe(id).state).toBe('removalFailed');
    const row = (await cm.diskUsage()).find((u) => u.id === id);
    expect(row?.size).toBeGreaterThan(0);
    expect(row?.sizeError).toBeUndefined();
    // Dead to every caller: its removal was decided.
    expect(await codeOf(cm.get(id))).toBe('NOT_FOUND');
    expect(await codeOf(cm.getMutable(id))).toBe('NOT_FOUND');
    // Failing again keeps it; once the disk works, remove finishes it.
    expect(await codeOf(cm.remove(id))).toBe('INVALID');
    faulty.replan({ rules: [] });
    await cm.remove(id);
    expect(await codeOf(Promise.resolve().then(() => cm.describe(id)))).toBe('NOT_FOUND');
    expect(await faulty.stat(`committed/${id}`).catch((e: unknown) => isSnapshotError(e, 'NOT_FOUND'))).toBe(true);
  });

  it('is taken by the next prune', async () => {
    const { cache, faulty } = await faultyCache();
    await using _ = cache;
    const { cm } = cache;
    const id = await committedRecord(cache);
    faulty.replan({ rules: [failingRemove()] });
    expect(await codeOf(cm.remove(id))).toBe('INVALID');
    faulty.replan({ rules: [] });
    const pruned = await lastValueFrom(cm.prune({ all: true }).pipe(toArray()));
    expect(pruned.map((r) => r.id)).toEqual([id]);
    expect(cm.status().records).toBe(0);
  });

  it('does not stop a prune: the others go, and the prune then fails naming the one that stayed', async () => {
    const { cache, faulty } = await faultyCache();
    await using _ = cache;
    const { cm } = cache;
    const stuck = await committedRecord(cache);
    const other = await committedRecord(cache);
    faulty.replan({ rules: [{ ...failingRemove(), key: new RegExp(`^committed/${stuck}$`) }] });
    const removed: string[] = [];
    const err = await lastValueFrom(cm.prune({ all: true }).pipe(tap((r) => removed.push(r.id))))
      .then(() => undefined)
      .catch((e: unknown) => e);
    // Only what really went is reported as pruned (and counted as freed).
    expect(removed).toEqual([other]);
    expect(isCacheError(err, 'INVALID'), String(err)).toBe(true);
    expect((err as Error).message).toContain(stuck);
    expect((err as Error).message).not.toContain(other);
    expect(cm.describe(stuck).state).toBe('removalFailed');
    expect(() => cm.describe(other)).toThrow(/not found/);
  });

  it('is finished by the next start-up', async () => {
    const { cache, faulty } = await faultyCache();
    await using _ = cache;
    const id = await committedRecord(cache);
    faulty.replan({ rules: [failingRemove()] });
    expect(await codeOf(cache.cm.remove(id))).toBe('INVALID');
    faulty.replan({ rules: [] });
    const cm = await cache.reopen();
    expect(cm.startup.repairs).toEqual([expect.objectContaining({ action: 'completed-removal', id })]);
    expect(cm.status().records).toBe(0);
  });

  it('of an unretained mutable record: its release rejects, and releasing it again retries', async () => {
    const { cache, faulty } = await faultyCache();
    await using _ = cache;
    const { cm } = cache;
    const mut = await cm.new(null);
    faulty.replan({ rules: [{ methods: ['remove'], key: /^active\//, fault: { kind: 'ENOSPC' } }] });
    expect(await codeOf(mut.release())).toBe('INVALID');
    expect(cm.describe(mut.id).state).toBe('removalFailed');
    faulty.replan({ rules: [] });
    await mut.release();
    expect(cm.status().records).toBe(0);
  });
});

describe('a snapshot call that took effect but reported failure', () => {
  it('removal: the snapshot is gone, so remove resolves and the record goes', async () => {
    const { cache, faulty } = await faultyCache();
    await using _ = cache;
    const id = await committedRecord(cache);
    faulty.replan({ rules: [failingRemove('after')] });
    await cache.cm.remove(id);
    expect(faulty.injected.map((f) => `${f.method}:${f.when}`)).toEqual(['remove:after']);
    expect(cache.cm.status().records).toBe(0);
    expect((await cache.reopen()).startup.repairs).toEqual([]);
  });

  it('commit: the record is committed, finalize resolves, and its content mounts', async () => {
    const { cache, faulty } = await faultyCache();
    await using _ = cache;
    const { cm } = cache;
    const mut = await cm.new(null);
    writeFileSync(join((await mut.mount()).path, 'f'), 'content\n');
    const ref = await mut.commit();
    faulty.replan({ rules: [{ methods: ['commit'], fault: { kind: 'EIO' }, when: 'after' }] });
    await ref.finalize();
    expect(faulty.injected.map((f) => `${f.method}:${f.when}`)).toEqual(['commit:after']);
    faulty.replan({ rules: [] });
    expect(cm.describe(ref.id).state).toBe('committed.held');
    const view = await ref.mount();
    await view.release();
    await ref.release();
    expect((await cache.reopen()).startup.repairs).toEqual([]);
  });
});

describe('reads that fail', () => {
  it('mount, view and size failures are CacheErrors naming the record', async () => {
    const { cache, faulty } = await faultyCache();
    await using _ = cache;
    const { cm } = cache;
    const held = await cm.new(null);
    faulty.replan({ rules: [{ methods: ['mounts'], fault: { kind: 'EIO' } }] });
    const mountErr = await held.mount().catch((e: unknown) => e);
    expect(isCacheError(mountErr, 'INVALID'), String(mountErr)).toBe(true);
    expect((mountErr as Error).message).toContain(held.id);
    const ref = await held.commit();
    await ref.finalize();
    faulty.replan({ rules: [{ methods: ['view'], fault: { kind: 'ENOSPC' }, when: 'after' }] });
    expect(await codeOf(ref.mount())).toBe('INVALID');
    faulty.replan({ rules: [{ methods: ['usage'], fault: { kind: 'EIO' } }] });
    const sizeErr = await ref.size().catch((e: unknown) => e);
    expect(isCacheError(sizeErr, 'INVALID'), String(sizeErr)).toBe(true);
    expect((sizeErr as Error).message).toContain(ref.id);
    faulty.replan({ rules: [] });
    await ref.release();
    // The view the failed call made was removed again: nothing is left to repair.
    expect((await cache.reopen()).startup.repairs).toEqual([]);
  });
});
