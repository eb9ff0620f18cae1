import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCacheError, NativeSnapshotter } from '../../src/index.js';
import { cacheFixture } from './helpers.js';

describe('start-up after a crash during the first new', () => {
  const fx = cacheFixture('native');

  /** An empty cache whose snapshotter holds `n` active snapshots no record names, as a killed `new` leaves. */
  async function stage(n: number): Promise<string> {
    const root = fx.root();
    await (await fx.open(root)).close();
    const snap = await NativeSnapshotter.open(join(root, 'snapshots'));
    for (let i = 0; i < n; i++) await snap.prepare(`active/half-made-${i}`);
    await snap.close();
    return root;
  }

  it('a few half-made snapshots and no record yet are repaired unasked', async () => {
    const cm = await fx.open(await stage(3));
    expect(cm.startup.repairs.map((r) => r.action)).toEqual(Array(3).fill('removed-orphan-snapshot'));
    expect(await cm.diskUsage()).toEqual([]);
  });

  it('many snapshots and no record look like lost metadata: NEEDS_RECOVERY, nothing changed', async () => {
    const root = await stage(12);
    await expect(fx.open(root)).rejects.toSatisfy((e) => isCacheError(e, 'NEEDS_RECOVERY'));
  });
});
