import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { CacheManager, ImmutableRef } from '../../src/index.js';
import { manualClock } from '../../src/testing/index.js';
import { cacheFixture } from './helpers.js';

const HOUR = 3_600_000;
const pruneIds = async (cm: CacheManager, keepDuration: number) =>
  (await lastValueFrom(cm.prune({ keepDuration }).pipe(toArray()))).map((r) => r.id).sort();

/** A committed record last used (released) at the clock's time when this is called. */
async function usedNow(cm: CacheManager, parent: ImmutableRef | null = null): Promise<ImmutableRef> {
  const ref = await (await cm.new(parent)).commit();
  await ref.release();
  return ref;
}

describe('keepDuration prune through the last-use index', () => {
  const fx = cacheFixture('native');

  it("removes what BuildKit's keepDuration removes, after a reopen serves every record from the index", async () => {
    const clock = manualClock();
    const t0 = clock.now();
    const root = fx.root();
    let cm = await fx.open(root, { clock });
    // A parent used long ago stays while a child used since the cutoff still names it.
    const parent = await (await cm.new(null)).commit();
    const old = await usedNow(cm);
    clock.set(t0 + HOUR);
    // BuildKit keeps a record only when its last use is strictly after now - keepDuration.
    const atCutoff = await usedNow(cm);
    clock.set(t0 + HOUR + 1);
    const justAfter = await usedNow(cm);
    clock.set(t0 + 90 * 60_000);
    const recentChild = await usedNow(cm, parent);
    await parent.release();
    // Last used at t0, like `old`, but held: in use, never a candidate.
    clock.set(t0);
    const held = await (await cm.new(null)).commit();
    await cm.close();

    clock.set(t0 + 2 * HOUR);
    cm = await fx.open(root, { clock });
    expect(cm.startup.check).toBe('clean-shutdown');
    const heldAgain = await cm.get(held.id);
    expect(await pruneIds(cm, HOUR)).toEqual([old.id, atCutoff.id].sort());
    const left = (await cm.diskUsage()).map((u) => u.id).sort();
    expect(left).toEqual([parent.id, justAfter.id, recentChild.id, held.id].sort());
    // Once the child is old too, the pass that removes it exposes its parent in the same prune.
    clock.set(t0 + 4 * HOUR);
    expect(await pruneIds(cm, HOUR)).toEqual([parent.id, justAfter.id, recentChild.id].sort());
    await heldAgain.release();
  });

  it('reads only the records its cutoff reaches, not every record', async () => {
    const clock = manualClock();
    const t0 = clock.now();
    const root = fx.root();
    let cm = await fx.open(root, { clock });
    const stale = [await usedNow(cm), await usedNow(cm)];
    clock.set(t0 + 24 * HOUR);
    for (let i = 0; i < 200; i++) await usedNow(cm);
    await cm.close();
    cm = await fx.open(root, { clock });
    // Each record the prune reads for its plan is reported in a size.progress event, with the total read.
    const totals: number[] = [];
    const sub = cm.events$.subscribe((e) => {
      if (e.type === 'size.progress') totals.push(e.total);
    });
    expect(await pruneIds(cm, HOUR)).toEqual(stale.map((r) => r.id).sort());
    sub.unsubscribe();
    expect(totals.length).toBeGreaterThan(0);
    expect(Math.max(...totals)).toBeLessThanOrEqual(stale.length);
    expect((await cm.diskUsage()).length).toBe(200);
  });
});
