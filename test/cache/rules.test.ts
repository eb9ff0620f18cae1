import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCacheError, openCacheManager } from '../../src/index.js';
import { cacheFixture, SNAPSHOTTERS } from './helpers.js';

async function expectCode(promise: Promise<unknown> | (() => unknown), code: string) {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    expect(isCacheError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return err as Error;
  }
  throw new Error(`expected ${code}`);
}

for (const { kind, skip } of SNAPSHOTTERS) {
  describe.skipIf(skip)(`cache manager rules (${kind})`, () => {
    const fx = cacheFixture(kind);

    it('get of an unknown id is NOT_FOUND; a fresh manager has no usage', async () => {
      const cm = await fx.open();
      const err = await expectCode(cm.get('nosuchrecord'), 'NOT_FOUND');
      expect(err.message).toContain('nosuchrecord');
      expect(await cm.diskUsage()).toEqual([]);
    });

    it('new(null, retain) gives a writable directory and locks getMutable', async () => {
      const cm = await fx.open();
      const ref = await cm.new(null, { retain: true });
      const m = await ref.mount();
      writeFileSync(join(m.path, 'hello'), 'world');
      expect(readdirSync(m.path)).toEqual(['hello']);
      await expectCode(cm.getMutable(ref.id), 'LOCKED');
      const du = await cm.diskUsage();
      expect(du.filter((u) => u.inUse)).toHaveLength(1);
      await m.release();
    });

    it('commit keeps the id, freezes, and locks getMutable while held', async () => {
      const cm = await fx.open();
      const mut = await cm.new(null, { retain: true });
      const imm = await mut.commit();
      expect(imm.id).toBe(mut.id);
      expect(cm.describe(imm.id).state).toBe('frozen.held');
      await expectCode(cm.getMutable(imm.id), 'LOCKED');
      const again = await cm.get(imm.id);
      expect(cm.describe(imm.id).refs).toBe(2);
      await again.release();
      await imm.release();
    });

    it('a released frozen record thaws back to mutable, and get is then LOCKED', async () => {
      const cm = await fx.open();
      const imm = await (await cm.new(null, { retain: true })).commit();
      await imm.release();
      const du = await cm.diskUsage();
      expect(du.filter((u) => !u.inUse)).toHaveLength(1);
      const mut = await cm.getMutable(imm.id);
      expect(mut.id).toBe(imm.id);
      expect(cm.describe(imm.id).state).toBe('mutable.held');
      await expectCode(cm.get(imm.id), 'LOCKED');
      await mut.release();
    });

    it('a finalized record is committed forever: getMutable INVALID, get works', async () => {
      const cm = await fx.open();
      const imm = await (await cm.new(null, { retain: true })).commit();
      await imm.finalize();
      await imm.release();
      expect(cm.describe(imm.id).state).toBe('committed.released');
      await expectCode(cm.getMutable(imm.id), 'INVALID');
      const ref = await cm.get(imm.id);
      expect(cm.describe(imm.id).state).toBe('committed.held');
      await ref.release();
    });

    it('get freezes an idle retained mutable record; get of a held mutable is LOCKED', async () => {
      const cm = await fx.open();
      const mut = await cm.new(null, { retain: true });
      await expectCode(cm.get(mut.id), 'LOCKED');
      await mut.release();
      expect(cm.describe(mut.id).state).toBe('mutable.idle');
      const imm = await cm.get(mut.id);
      expect(cm.describe(mut.id).state).toBe('frozen.held');
      await imm.release();
    });

    it('new(parent) finalizes a frozen parent; the child holds the parent until released', async () => {
      const cm = await fx.open();
      const parentMut = await cm.new(null, { retain: true });
      writeFileSync(join((await parentMut.mount()).path, 'base'), 'layer0');
      const parent = await parentMut.commit();
      const child = await cm.new(parent);
      expect(cm.describe(parent.id).state).toBe('committed.held');
      const childMount = await child.mount();
      expect(readdirSync(childMount.path)).toContain('base');
      await parent.release();
      let du = await cm.diskUsage();
      expect(du.find((u) => u.id === parent.id)?.inUse).toBe(true);
      expect(du.find((u) => u.id === child.id)?.parents).toEqual([parent.id]);
      const childImm = await child.commit();
      await childImm.release();
      du = await cm.diskUsage();
      expect(du.map((u) => u.inUse)).toEqual([false, false]);
    });

    it('a mutable ref released without commit is removed unless retained', async () => {
      const cm = await fx.open();
      const temp = await cm.new(null);
      const kept = await cm.new(null, { retain: true });
      await temp.release();
      await kept.release();
      await expectCode(cm.get(temp.id), 'NOT_FOUND');
      expect(cm.describe(kept.id).state).toBe('mutable.idle');
      expect((await cm.diskUsage()).map((u) => u.id)).toEqual([kept.id]);
    });

    it('lastUsedAt and usageCount change once per use period, not for clones or children', async () => {
      const cm = await fx.open();
      const imm = await (await cm.new(null, { retain: true })).commit();
      expect(imm.usageCount).toBe(0);
      const clone = imm.clone();
      const second = await cm.get(imm.id);
      await imm.release();
      await second.release();
      expect(cm.describe(imm.id).metadata.usageCount).toBe(0);
      await clone.release();
      const afterFirst = cm.describe(imm.id).metadata;
      expect(afterFirst.usageCount).toBe(1);
      expect(afterFirst.lastUsedAt).toBeInstanceOf(Date);
      // A clone alone opens no use period.
      const holder = await cm.get(imm.id);
      const onlyClone = holder.clone();
      await holder.release();
      await onlyClone.release();
      expect(cm.describe(imm.id).metadata.usageCount).toBe(2);
      const opener = await cm.get(imm.id);
      await opener.clone().release();
      // The ref from get is still open: the period has not closed yet.
      expect(cm.describe(imm.id).metadata.usageCount).toBe(2);
      await opener.release();
      expect(cm.describe(imm.id).metadata.usageCount).toBe(3);
      // Children holding the parent do not count as uses of it.
      const parent = await cm.get(imm.id);
      const child = await cm.new(parent);
      await parent.release();
      expect(cm.describe(imm.id).metadata.usageCount).toBe(4);
      await child.release();
      expect(cm.describe(imm.id).metadata.usageCount).toBe(4);
    });

    it('after close every call is CLOSED and nothing is half-applied', async () => {
      const root = fx.root();
      const cm = await fx.open(root);
      const mut = await cm.new(null, { retain: true });
      const creating = cm.new(null, { retain: true, description: 'in flight' });
      await cm.close();
      const inFlight = await creating.then(
        (ref) => ref.id,
        (err) => err,
      );
      await expectCode(cm.get(mut.id), 'CLOSED');
      await expectCode(cm.new(null), 'CLOSED');
      await expectCode(mut.release(), 'CLOSED');
      await expectCode(() => cm.diskUsage(), 'CLOSED');
      await cm.close();
      const reopened = await fx.open(root);
      const ids = (await reopened.diskUsage()).map((u) => u.id).sort();
      expect(ids).toEqual(typeof inFlight === 'string' ? [mut.id, inFlight].sort() : [mut.id]);
    });

    const notRoot = process.getuid?.() !== 0 ? 'read-only mounts need root to mount' : undefined;
    it.skipIf(notRoot)(
      `immutable refs mount read-only, frozen and committed alike${notRoot ? ` (skipped: ${notRoot})` : ''}`,
      async () => {
        const cm = await fx.open();
        const mut = await cm.new(null, { retain: true });
        const rw = await mut.mount();
        writeFileSync(join(rw.path, 'kept'), 'content');
        await rw.release();
        const frozen = await mut.commit();
        for (const stage of ['frozen', 'committed']) {
          const ro = await frozen.mount();
          expect(readdirSync(ro.path), stage).toEqual(['kept']);
          expect(() => writeFileSync(join(ro.path, 'more'), 'x'), stage).toThrow(/EROFS|read-only/);
          await ro.release();
          if (stage === 'frozen') await frozen.finalize();
        }
        await frozen.release();
        await cm.remove(frozen.id);
        expect(cm.inspect().records).toBe(0);
      },
    );

    it('records and snapshots survive a restart with their state', async () => {
      const root = fx.root();
      const cm = await fx.open(root);
      const base = await (await cm.new(null, { retain: true, description: 'base' })).commit();
      await base.finalize();
      const child = await (await cm.new(base, { description: 'child' })).commit();
      await child.release();
      await base.release();
      await cm.close();
      const again = await fx.open(root);
      expect(again.startup.repairs).toEqual([]);
      expect(again.describe(base.id).state).toBe('committed.released');
      expect(again.describe(child.id).state).toBe('frozen.released');
      expect(again.describe(base.id).children).toBe(1);
      expect(again.describe(child.id).metadata.description).toBe('child');
      const ref = await again.get(child.id);
      expect(existsSync((await ref.mount()).path)).toBe(true);
      await ref.release();
    });

    it('bad input fails with INVALID naming the problem, and changes nothing', async () => {
      const cm = await fx.open();
      const before = await cm.diskUsage();
      let err = await expectCode(cm.new(null, { recordType: '', bogus: 1 } as never), 'INVALID');
      expect(err.message).toMatch(/recordType/);
      expect(err.message).toMatch(/bogus/);
      err = await expectCode(cm.get(''), 'INVALID');
      err = await expectCode(cm.get('a b'), 'INVALID');
      expect(err.message).toContain('a b');
      expect(await cm.diskUsage()).toEqual(before);
    });

    it('a second opener of the same root gets LOCKED naming the root', async () => {
      const root = fx.root();
      await fx.open(root);
      const err = await expectCode(fx.open(root), 'LOCKED');
      expect(err.message).toContain(root);
    });
  });
}

describe('opening', () => {
  it('bad options give one INVALID error listing every problem', async () => {
    const err = await openCacheManager({ root: '', snapshotter: 'zfs', bogus: 1 } as never).catch((e: unknown) => e);
    expect(isCacheError(err, 'INVALID')).toBe(true);
    const message = (err as Error).message;
    expect(message).toMatch(/root/);
    expect(message).toMatch(/snapshotter/);
    expect(message).toMatch(/bogus/);
  });
});
