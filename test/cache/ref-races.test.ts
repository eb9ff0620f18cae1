import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCacheError, NativeSnapshotter, openCacheManager } from '../../src/index.js';
import { cacheFixture, SNAPSHOTTERS } from './helpers.js';

/** The CacheError code a promise settles with, or 'ok'. */
const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: unknown) => (isCacheError(err) ? err.code : `untyped: ${String(err)}`),
  );

for (const { kind, skip } of SNAPSHOTTERS)
  describe.skipIf(skip)(`calls on one ref give the results of some serial order (${kind})`, () => {
    const fx = cacheFixture(kind);

    it('two concurrent releases of one ImmutableRef drop only that ref, never a clone', async () => {
      const cm = await fx.open();
      const ref = await (await cm.new(null)).commit();
      const clone = ref.clone();
      expect(cm.describe(ref.id).refs).toBe(2);
      expect(await Promise.all([outcome(ref.release()), outcome(ref.release())])).toEqual(['ok', 'ok']);
      // Release is idempotent per ref object: the clone still holds the record.
      expect(cm.describe(ref.id).refs).toBe(1);
      expect(await outcome(cm.remove(ref.id))).toBe('LOCKED');
      const mounted = await clone.mount();
      await mounted.release();
      await clone.release();
      expect(cm.describe(ref.id).refs).toBe(0);
    });

    it('two concurrent releases of one MutableRef both succeed, as they do one after the other', async () => {
      const cm = await fx.open();
      const ref = await cm.new(null, { retain: true });
      expect(await Promise.all([outcome(ref.release()), outcome(ref.release())])).toEqual(['ok', 'ok']);
      expect(cm.describe(ref.id).state).toBe('mutable.idle');
    });

    it('commit and release at once on a MutableRef give the serial outcome: both succeed, the record frozen', async () => {
      const cm = await fx.open();
      const ref = await cm.new(null);
      const commit = ref.commit();
      const release = ref.release();
      expect(await Promise.all([outcome(commit), outcome(release)])).toEqual(['ok', 'ok']);
      const frozen = await commit;
      expect(cm.describe(ref.id).state).toBe('frozen.held');
      await frozen.release();
      expect(cm.describe(ref.id).state).toBe('frozen.released');
    });

    it('release then commit: the commit is refused, because the ref was released first', async () => {
      const cm = await fx.open();
      const ref = await cm.new(null, { retain: true });
      const release = ref.release();
      const commit = ref.commit();
      expect(await Promise.all([outcome(release), outcome(commit)])).toEqual(['ok', 'INVALID']);
      expect(cm.describe(ref.id).state).toBe('mutable.idle');
    });
  });

for (const { kind, skip } of SNAPSHOTTERS)
  describe.skipIf(skip)(`refs and removals across managers (${kind})`, () => {
    const fx = cacheFixture(kind);

    it('a parent ref of a closed manager is refused by new(), and its own calls are CLOSED', async () => {
      const root = fx.root();
      const first = await openCacheManager({ root, snapshotter: await fx.snapshotter(root) });
      const parent = await (await first.new(null)).commit();
      await first.close();
      const second = await fx.open(root);
      // The record is held in the new manager too, so only the ref's origin can tell them apart.
      const held = await second.get(parent.id);
      expect(await outcome(second.new(parent))).toBe('INVALID');
      expect(second.describe(parent.id).children).toBe(0);
      await held.release();
      expect(await outcome(parent.mount())).toBe('CLOSED');
      expect(await outcome(parent.finalize())).toBe('CLOSED');
    });

    it('get and getMutable of a record whose removal was decided answer NOT_FOUND', async () => {
      const cm = await fx.open();
      const ref = await cm.new(null, { retain: true });
      const m = await ref.mount();
      // Enough files that the removal is still running when get is decided.
      for (let i = 0; i < 300; i++) {
        mkdirSync(join(m.path, `d${i}`));
        writeFileSync(join(m.path, `d${i}`, 'f'), 'x');
      }
      await m.release();
      await ref.release();
      const removal = cm.remove(ref.id);
      const [get, getMutable] = await Promise.all([outcome(cm.get(ref.id)), outcome(cm.getMutable(ref.id))]);
      expect(await outcome(removal)).toBe('ok');
      expect(get).toBe('NOT_FOUND');
      expect(getMutable).toBe('NOT_FOUND');
    });
  });

describe('start-up failures', () => {
  const fx = cacheFixture('native');

  it('the cause of a failed start-up reaches the caller', async () => {
    const root = fx.root();
    const inner = await NativeSnapshotter.open(join(root, 'custom'));
    const broken = new Error('walk broke: disk on fire');
    // A real snapshotter whose walk fails: reconciliation cannot finish, and the caller must learn why.
    const faulty = Object.assign(Object.create(inner) as typeof inner, {
      walk: async () => {
        throw broken;
      },
    });
    const err = await openCacheManager({ root, snapshotter: faulty }).catch((e: unknown) => e);
    await inner.close();
    expect(err).toBe(broken);
  });
});
