import { describe, expect, it } from 'vitest';
import { makeLargeRoot } from '../../scripts/make-large-root.js';
// The built-in local kinds: this suite reads or writes their on-disk format (containerd gets the full check always).
import { cacheFixture, LOCAL_SNAPSHOTTERS as SNAPSHOTTERS } from './helpers.js';

for (const { kind, skip } of SNAPSHOTTERS) {
  describe.skipIf(skip)(`make-large-root (${kind})`, () => {
    const fx = cacheFixture(kind);
    const records = kind === 'native' ? 2000 : 500;

    it(`a generated root of ${records} records opens with a full check and nothing to repair`, async () => {
      const root = fx.root();
      const { ids } = await makeLargeRoot({ root, records, snapshotter: kind, stale: 10 });
      const cm = await fx.open(root);
      // Written behind the cache's back: no clean-shutdown mark applies, so every record is checked.
      expect(cm.startup.check).toBe('full');
      expect(cm.startup.repairs).toEqual([]);
      expect(cm.startup.records).toBe(records);
      expect(cm.status().states).toEqual({ 'committed.released': records });
      const usage = await cm.diskUsage();
      expect(usage.map((u) => u.id).sort()).toEqual([...ids].sort());
      // Each record holds one file with its index in it, as the generator wrote it.
      expect(usage.every((u) => u.size > 0)).toBe(true);
      const ref = await cm.get(ids[0]!);
      const mount = await ref.mount();
      await mount.release();
      await ref.release();
      await cm.close();
    });
  });
}
