import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { type CacheManager, type ImmutableRef, isCacheError, type MutableRef } from '../../src/index.js';
// The built-in local kinds: this suite reads or writes their on-disk format (containerd gets the full check always).
import { seededRandom } from '../../src/testing/seeded.js';
import { cacheFixture, LOCAL_SNAPSHOTTERS as SNAPSHOTTERS } from './helpers.js';

/** Records per state the slow way: every record disk usage lists, asked one by one. */
async function walkCounts(cm: CacheManager): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const info of await cm.diskUsage()) {
    const { state } = cm.describe(info.id);
    counts[state] = (counts[state] ?? 0) + 1;
  }
  return counts;
}

/** A refusal the rules allow (locked, in use, gone); anything else fails the test. */
function allowed(err: unknown): void {
  if (isCacheError(err)) return;
  throw err;
}

for (const { kind, skip } of SNAPSHOTTERS) {
  describe.skipIf(skip)(`status() counts (${kind})`, () => {
    const fx = cacheFixture(kind);

    it('equal a walk over every record after many random transitions, across reopen', async () => {
      const root = fx.root();
      let cm = await fx.open(root);
      const next = seededRandom(14);
      const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(next() * items.length)];
      let immutables: ImmutableRef[] = [];
      let mutables: MutableRef[] = [];
      const known = new Set<string>();
      const compare = async () => {
        const status = cm.status();
        const walked = await walkCounts(cm);
        expect(status.states).toEqual(walked);
        expect(status.records).toBe(Object.values(walked).reduce((a, b) => a + b, 0));
      };
      for (let step = 0; step < 160; step++) {
        const roll = next();
        try {
          if (roll < 0.25) {
            const parent = next() < 0.5 ? pick(immutables.filter((r) => !r.isReleased)) : undefined;
            const mut = await cm.new(parent ?? null, { description: `step ${step}` });
            known.add(mut.id);
            if (next() < 0.5) {
              const mount = await mut.mount();
              writeFileSync(join(mount.path, 'f'), `step ${step}`);
              await mount.release();
            }
            mutables.push(mut);
          } else if (roll < 0.4) {
            const mut = pick(mutables.filter((m) => !m.isReleased));
            if (mut) immutables.push(await mut.commit());
          } else if (roll < 0.55) {
            const mut = pick(mutables.filter((m) => !m.isReleased));
            if (mut) await mut.release();
          } else if (roll < 0.7) {
            const ref = pick(immutables.filter((r) => !r.isReleased));
            if (ref) await ref.release();
          } else if (roll < 0.8) {
            const id = pick([...known]);
            if (id) immutables.push(await cm.get(id));
          } else if (roll < 0.86) {
            const id = pick([...known]);
            if (id) mutables.push(await cm.getMutable(id));
          } else if (roll < 0.92) {
            const id = pick([...known]);
            if (id) await cm.remove(id);
          } else if (roll < 0.96) {
            await lastValueFrom(cm.prune({ maxUsedSpace: Math.floor(next() * 64) }).pipe(toArray()));
          } else {
            await cm.close();
            cm = await fx.open(root);
            immutables = [];
            mutables = [];
          }
        } catch (err) {
          allowed(err);
        }
        await compare();
      }
      await cm.close();
    });
  });
}
