import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheFixture, LOCAL_SNAPSHOTTERS } from './helpers.js';

for (const { kind, skip } of LOCAL_SNAPSHOTTERS) {
  describe.skipIf(skip)(`disk usage from the usage recorded at commit (${kind})`, () => {
    const fx = cacheFixture(kind);

    it('committed records are sized from the snapshot metadata, with no walk, and match du', async () => {
      const root = fx.root();
      let cm = await fx.open(root);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const mut = await cm.new(null);
        const dir = (await mut.mount()).path;
        writeFileSync(join(dir, 'data'), 'x'.repeat(10_000 * (i + 1)));
        const ref = await mut.commit();
        // Finalized: the snapshot itself is committed (a frozen record's is still active, and is walked).
        await ref.finalize();
        ids.push(ref.id);
        await ref.release();
      }
      await cm.close();
      // A fresh open knows no size in memory; the record metadata holds none either (nothing sized them).
      cm = await fx.open(root);
      const before = cm.status().sizing.walksStarted;
      const rows = await cm.diskUsage();
      expect(cm.status().sizing.walksStarted).toBe(before);
      expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
      // The sizes are the content's as GNU du counts it (apparent bytes would hide block rounding).
      for (const row of rows) {
        const state = cm.describe(row.id);
        expect(state.state).toMatch(/^committed/);
        expect(row.size).toBeGreaterThanOrEqual(10_000);
      }
      const total = rows.reduce((sum, r) => sum + r.size, 0);
      const du = Number(
        execFileSync('du', ['-s', '-B1', join(root, 'snapshots', 'snapshots')])
          .toString()
          .split('\t')[0],
      );
      // du also counts the snapshot directories themselves (one block each), so it is a little more.
      expect(total).toBeLessThanOrEqual(du);
      expect(total).toBeGreaterThan(du / 2);
    });
  });
}
