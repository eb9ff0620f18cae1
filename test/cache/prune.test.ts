import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { MetadataStore } from '../../src/metadata/store.js';
import { isCacheError, type CacheManager, type ImmutableRef } from '../../src/index.js';
import { cacheFixture, SNAPSHOTTERS } from './helpers.js';

const pruneAll = (cm: CacheManager, ...policies: Parameters<CacheManager['prune']>) =>
  lastValueFrom(cm.prune(...policies).pipe(toArray()));

/** A chain of three committed layers, each holding some bytes; returns the refs, base first. */
async function chain(cm: CacheManager, n = 3): Promise<ImmutableRef[]> {
  const refs: ImmutableRef[] = [];
  for (let i = 0; i < n; i++) {
    const mut = await cm.new(refs.at(-1) ?? null, { description: `layer ${i}` });
    writeFileSync(join((await mut.mount()).path, `f${i}`), 'x'.repeat(4096 * (i + 1)));
    refs.push(await mut.commit());
  }
  return refs;
}

for (const { kind, skip } of SNAPSHOTTERS) {
  describe.skipIf(skip)(`prune (${kind})`, () => {
    const fx = cacheFixture(kind);

    it('a held chain prunes nothing; releasing the child prunes exactly it', async () => {
      const cm = await fx.open();
      const [a, b, c] = await chain(cm);
      expect(await pruneAll(cm)).toEqual([]);
      await c!.release();
      const first = await pruneAll(cm);
      expect(first.map((r) => r.id)).toEqual([c!.id]);
      expect(first[0]!.reason).toBeTruthy();
      await a!.release();
      // The parent's own ref is gone but its child b is held: nothing to prune.
      expect(await pruneAll(cm)).toEqual([]);
      await b!.release();
      const rest = await pruneAll(cm);
      expect(rest.map((r) => r.id)).toEqual([b!.id, a!.id]);
    });

    it('releasing everything prunes the whole chain children first and leaves no snapshot behind', async () => {
      const root = fx.root();
      const cm = await fx.open(root);
      const refs = await chain(cm, 4);
      for (const r of refs) await r.release();
      const removed = await pruneAll(cm);
      expect(removed.map((r) => r.id)).toEqual(refs.map((r) => r.id).reverse());
      expect(await cm.diskUsage()).toEqual([]);
      expect(await fx.leftovers(root)).toEqual([]);
    });

    it('filters and keepDuration select as documented', async () => {
      const cm = await fx.open();
      const keep = await (await cm.new(null, { description: 'keep me', recordType: 'regular' })).commit();
      const drop = await (await cm.new(null, { description: 'drop me' })).commit();
      const internal = await (await cm.new(null, { recordType: 'internal' })).commit();
      for (const r of [keep, drop, internal]) await r.release();
      const dry = await pruneAll(cm, { filter: ['description=="drop me"'], dryRun: true });
      expect(dry.map((r) => r.id)).toEqual([drop.id]);
      // Just used: keepDuration of an hour keeps all of them.
      expect(await pruneAll(cm, { keepDuration: 3_600_000 })).toEqual([]);
      // Without `all`, internal records stay.
      const removed = await pruneAll(cm);
      expect(removed.map((r) => r.id).sort()).toEqual([keep.id, drop.id].sort());
      expect((await pruneAll(cm, { all: true })).map((r) => r.id)).toEqual([internal.id]);
    });

    it('a dry run emits exactly what the real run removes', async () => {
      const cm = await fx.open();
      const refs = await chain(cm, 3);
      const other = await chain(cm, 2);
      for (const r of [...refs, ...other]) await r.release();
      const policies = [{ maxUsedSpace: 1 }, { all: true }];
      const dry = await pruneAll(cm, ...policies.map((p) => ({ ...p, dryRun: true })));
      expect((await cm.diskUsage()).length).toBe(5);
      const real = await pruneAll(cm, ...policies);
      expect(dry.map((r) => [r.id, r.rule])).toEqual(real.map((r) => [r.id, r.rule]));
    });

    it('a record acquired during a prune survives', async () => {
      const cm = await fx.open();
      // The base has a child, so the prune can only reach it in a later pass.
      const refs = await chain(cm, 2);
      const loose = [];
      for (let i = 0; i < 5; i++) loose.push(await (await cm.new(null)).commit());
      for (const r of [...refs, ...loose]) await r.release();
      let held: ImmutableRef | undefined;
      const removed: string[] = [];
      await new Promise<void>((resolve, reject) =>
        cm.prune({}).subscribe({
          next: (r) => {
            removed.push(r.id);
            // The first removal is done; grab the base layer before the prune reaches it.
            if (removed.length === 1) void cm.get(refs[0]!.id).then((ref) => (held = ref), reject);
          },
          error: reject,
          complete: resolve,
        }),
      );
      expect(removed).not.toContain(refs[0]!.id);
      expect(cm.describe(refs[0]!.id).state).toBe('committed.held');
      await held!.release();
    });

    it('a removal interrupted by a crash is finished at the next open', async () => {
      const root = fx.root();
      let cm = await fx.open(root);
      const [a] = await chain(cm, 1);
      await a!.release();
      await cm.close();
      // Stage what a crash leaves: the removal mark durable, the snapshot still there.
      const store = await MetadataStore.open(join(root, 'metadata'));
      await store.write([{ put: { ...store.get(a!.id)!, state: 'removing' } }]);
      await store.close();
      cm = await fx.open(root);
      expect(cm.startup.repairs).toEqual([expect.objectContaining({ action: 'completed-removal', id: a!.id })]);
      expect(await cm.diskUsage()).toEqual([]);
      expect(await fx.leftovers(root)).toEqual([]);
    });

    it('bad policies fail with INVALID naming the field', async () => {
      const cm = await fx.open();
      try {
        cm.prune({ keepDuration: -1, bogus: true } as never);
        throw new Error('expected INVALID');
      } catch (err) {
        expect(isCacheError(err, 'INVALID')).toBe(true);
        expect((err as Error).message).toMatch(/keepDuration/);
        expect((err as Error).message).toMatch(/bogus/);
      }
    });
  });
}
