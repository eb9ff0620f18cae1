import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { activeKey, newRecordId } from '../../src/cache/keys.js';
import { MetadataStore } from '../../src/metadata/store.js';
import { NativeSnapshotter } from '../../src/snapshot/index.js';
import { type CacheManager, isCacheError, openCacheManager } from '../../src/index.js';
import { cacheFixture } from './helpers.js';

/** Ten chains of three committed layers (30 records), each layer holding one file; returns id -> [its parent]. */
async function populate(cm: CacheManager): Promise<Map<string, string[]>> {
  const chains = new Map<string, string[]>();
  for (let c = 0; c < 10; c++) {
    const ids: string[] = [];
    let parent = null as Awaited<ReturnType<CacheManager['get']>> | null;
    for (let i = 0; i < 3; i++) {
      const mut = await cm.new(parent, { description: `chain ${c} layer ${i}`, retain: true });
      writeFileSync(join((await mut.mount()).path, `f${c}-${i}`), `content ${c}/${i}`);
      const imm = await mut.commit();
      await imm.finalize();
      chains.set(imm.id, ids.slice(-1));
      ids.push(imm.id);
      await parent?.release();
      parent = imm;
    }
    await parent?.release();
  }
  return chains;
}

/** Records that are nobody's parent: the top layer of each chain. */
const leavesOf = (chains: Map<string, string[]>) =>
  [...chains.keys()].filter((id) => ![...chains.values()].some((p) => p.includes(id)));

const snapshotDirs = (root: string) => readdirSync(join(root, 'snapshots', 'snapshots')).sort();

async function storedCount(root: string): Promise<number> {
  const store = await MetadataStore.open(join(root, 'metadata'));
  try {
    return store.count();
  } finally {
    await store.close();
  }
}

describe('start-up never deletes what it cannot prove orphaned', () => {
  const fx = cacheFixture('native');

  async function populatedRoot(): Promise<{ root: string; chains: Map<string, string[]> }> {
    const root = fx.root();
    const cm = await fx.open(root);
    const chains = await populate(cm);
    await cm.close();
    return { root, chains };
  }

  for (const damage of ['deleted', 'truncated to 0', 'truncated to 4096'] as const)
    it(`cache metadata ${damage}: open fails with NEEDS_RECOVERY, nothing is deleted; rebuild-metadata brings every record back`, async () => {
      const { root, chains } = await populatedRoot();
      const before = snapshotDirs(root);
      expect(before).toHaveLength(30);
      const file = join(root, 'metadata', 'data.mdb');
      if (damage === 'deleted') rmSync(file);
      else truncateSync(file, damage === 'truncated to 0' ? 0 : 4096);
      const err = await fx.open(root).catch((e: unknown) => e);
      expect(isCacheError(err, 'NEEDS_RECOVERY')).toBe(true);
      expect((err as Error).message).toMatch(/rebuild-metadata/);
      if (damage !== 'truncated to 4096') expect((err as Error).message).toMatch(/no records .* 30 snapshots/);
      else expect((err as Error).message).toContain(file);
      expect(snapshotDirs(root)).toEqual(before);

      const cm = await openCacheManager({ root, snapshotter: 'native', recover: 'rebuild-metadata' });
      try {
        expect(cm.startup.repairs.filter((r) => r.action === 'rebuilt-record')).toHaveLength(30);
        const usage = await cm.diskUsage();
        expect(new Map(usage.map((u) => [u.id, u.parents]))).toEqual(chains);
        // Content comes back with the record: the leaf of a chain sees all three layers.
        const leaf = leavesOf(chains)[0]!;
        const ref = await cm.get(leaf);
        const mounted = await ref.mount();
        expect(readdirSync(mounted.path).sort()).toHaveLength(3);
        await mounted.release();
        await ref.release();
      } finally {
        await cm.close();
      }
      expect(snapshotDirs(root)).toEqual(before);
      // Recovered: a plain open finds nothing to repair.
      const again = await fx.open(root);
      expect(again.startup.repairs).toEqual([]);
    });

  for (const size of ['zero', 'half'] as const)
    it(`snapshotter metadata truncated to ${size}: open fails and no record is dropped`, async () => {
      const { root } = await populatedRoot();
      const file = join(root, 'snapshots', 'metadata.lmdb');
      truncateSync(file, size === 'zero' ? 0 : Math.floor(statSync(file).size / 2));
      const err = await fx.open(root).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      if (size === 'zero') {
        expect(isCacheError(err, 'NEEDS_RECOVERY')).toBe(true);
        expect((err as Error).message).toMatch(/no snapshots but 30 of 30 records/);
      } else
        expect(JSON.stringify({ m: (err as Error).message, c: String((err as Error).cause) })).toMatch(
          /metadata\.lmdb/,
        );
      expect(await storedCount(root)).toBe(30);
      expect(snapshotDirs(root)).toHaveLength(30);
    });

  it('a repair beyond the threshold is refused; lost+found copies the orphans out, then removes them', async () => {
    const { root, chains } = await populatedRoot();
    // Eight leaf records lose their metadata: their snapshots become orphans, 8 of 30 (> 5 and > 10%).
    const leaves = leavesOf(chains).slice(0, 8);
    const store = await MetadataStore.open(join(root, 'metadata'));
    await store.write(leaves.map((id) => ({ delete: id })));
    await store.close();
    const err = await fx.open(root).catch((e: unknown) => e);
    expect(isCacheError(err, 'NEEDS_RECOVERY')).toBe(true);
    expect((err as Error).message).toMatch(/8 of 30 snapshots have no record/);
    expect(snapshotDirs(root)).toHaveLength(30);

    const cm = await openCacheManager({ root, snapshotter: 'native', recover: 'lost+found' });
    expect(cm.startup.repairs.filter((r) => r.action === 'moved-to-lost-found')).toHaveLength(8);
    expect((await cm.diskUsage()).map((u) => u.id).sort()).toEqual(
      [...chains.keys()].filter((id) => !leaves.includes(id)).sort(),
    );
    await cm.close();
    for (const id of leaves) {
      const dir = join(root, 'lost+found', 'committed', id);
      // The content as mounted: all three layers of the chain.
      expect(readdirSync(dir)).toHaveLength(3);
      const own = readdirSync(dir).find((f) => f.endsWith('-2'))!;
      expect(readFileSync(join(dir, own), 'utf8')).toMatch(/^content \d\/2$/);
    }
    expect(snapshotDirs(root)).toHaveLength(22);
    expect(existsSync(join(root, 'lost+found'))).toBe(true);
    expect((await fx.open(root)).startup.repairs).toEqual([]);
  });

  it('a few orphans, as a crash leaves, are still repaired unasked', async () => {
    const { root, chains } = await populatedRoot();
    const leaves = leavesOf(chains).slice(0, 2);
    const store = await MetadataStore.open(join(root, 'metadata'));
    await store.write(leaves.map((id) => ({ delete: id })));
    await store.close();
    const cm = await fx.open(root);
    expect(cm.startup.repairs.map((r) => r.action)).toEqual(['removed-orphan-snapshot', 'removed-orphan-snapshot']);
    expect(snapshotDirs(root)).toHaveLength(28);
  });

  /** Snapshots as an owner killed between a prepare and its record's first write leaves them. */
  async function halfMadeSnapshots(root: string, n: number): Promise<void> {
    const sn = await NativeSnapshotter.open(join(root, 'snapshots'));
    for (let i = 0; i < n; i++) await sn.prepare(activeKey(newRecordId()));
    await sn.close();
  }

  it('an empty root whose owner died preparing its first records opens and removes the half-made snapshots', async () => {
    const root = fx.root();
    await (await fx.open(root)).close();
    await halfMadeSnapshots(root, 2);
    const cm = await fx.open(root);
    expect(cm.startup.repairs.map((r) => r.action)).toEqual(['removed-orphan-snapshot', 'removed-orphan-snapshot']);
    expect(snapshotDirs(root)).toEqual([]);
  });

  it('a lost store beside a few snapshots still stops and asks, on every open', async () => {
    const root = fx.root();
    await (await fx.open(root)).close();
    await halfMadeSnapshots(root, 2);
    rmSync(join(root, 'metadata', 'data.mdb'));
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await fx.open(root).catch((e: unknown) => e);
      expect(isCacheError(err, 'NEEDS_RECOVERY')).toBe(true);
      expect(snapshotDirs(root)).toHaveLength(2);
    }
  });

  it('cachekit recover --mode rebuild-metadata does the same from the command line', async () => {
    const { root, chains } = await populatedRoot();
    rmSync(join(root, 'metadata', 'data.mdb'));
    const bin = join(import.meta.dirname, '../../bin/cachekit.mjs');
    const refused = spawnSync('node', [bin, 'prune', '--dry-run', '--root', root], { encoding: 'utf8' });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/needs recovery.*cachekit recover/);
    const run = spawnSync('node', [bin, 'recover', '--root', root, '--mode', 'rebuild-metadata'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/Recovered: 30 records kept/);
    const cm = await fx.open(root);
    expect(cm.startup.repairs).toEqual([]);
    expect((await cm.diskUsage()).map((u) => u.id).sort()).toEqual([...chains.keys()].sort());
  });

  it('recover with readOnly is INVALID', async () => {
    const err = await openCacheManager({ root: fx.root(), readOnly: true, recover: 'lost+found' }).catch((e) => e);
    expect(isCacheError(err, 'INVALID')).toBe(true);
  });
});
