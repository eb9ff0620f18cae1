import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CacheManager, isCacheError, openCacheManager } from '../../src/index.js';
import { cacheFixture, SNAPSHOTTERS } from './helpers.js';

/** Every file under the root with its content hash (mount points and LOCK left out): what "nothing written" means. */
function fingerprint(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      // LMDB's reader table (lock.mdb, *-lock) is where any reader, even a read-only one, takes a slot: not data.
      if (rel === 'LOCK' || rel.startsWith('mounts') || rel.endsWith('lock.mdb') || rel.endsWith('.lmdb-lock'))
        continue;
      if (entry.isDirectory()) {
        files.set(`${rel}/`, String(statSync(path).mode));
        walk(path);
      } else if (entry.isFile()) files.set(rel, createHash('sha256').update(readFileSync(path)).digest('hex'));
    }
  };
  walk(root);
  return files;
}

/** Awaits a call and returns the CacheError code it rejected with. */
async function codeOf(call: () => unknown): Promise<string> {
  try {
    await call();
  } catch (err) {
    if (isCacheError(err)) return err.code;
    throw err;
  }
  return 'resolved';
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe.each(SNAPSHOTTERS)('a read-only manager ($kind)', ({ kind, skip }) => {
  const fx = cacheFixture(kind);

  it.skipIf(skip)('refuses every change on every path and writes nothing anywhere', async () => {
    const root = fx.root();
    // The owner builds a chain: a committed base, a frozen layer, a retained idle mutable record.
    const owner = await fx.open(root);
    const base = await owner.new(null, { description: 'base' });
    const mount = await base.mount();
    writeFileSync(join(mount.path, 'f'), 'content');
    await mount.release();
    const baseRef = await base.commit();
    const layer = await (await owner.new(baseRef, { description: 'layer' })).commit();
    const retained = await owner.new(null, { description: 'kept', retain: true });
    await retained.release();
    await layer.release();
    await baseRef.release();
    await owner.close();
    // A file where the overlay probe would make its directory: probing (a write and a mount) would fail or delete it.
    // (containerd keeps its snapshots in the daemon: such a root has no snapshots/ folder to probe in.)
    if (kind !== 'containerd') writeFileSync(join(root, 'snapshots', 'probe'), 'a reader must not probe');
    const before = fingerprint(root);
    // containerd keeps the snapshots and leases outside the root.
    const snapshotsBefore = await fx.leftovers(root);

    const ro: CacheManager = await openCacheManager({
      root,
      snapshotter: await fx.snapshotter(root),
      readOnly: true,
      gcPolicy: [{ all: true }],
    });
    try {
      expect(ro.readOnly).toBe(true);
      const ids = (await ro.diskUsage()).map((u) => u.id);
      expect(ids).toHaveLength(3);
      const layerId = layer.id;
      // Each public way in, BuildKit's operations first.
      expect(await codeOf(() => ro.get(layerId))).toBe('INVALID');
      expect(await codeOf(() => ro.get(baseRef.id))).toBe('INVALID');
      expect(await codeOf(() => ro.getMutable(retained.id))).toBe('INVALID');
      expect(await codeOf(() => ro.getMutable(layerId))).toBe('INVALID');
      expect(await codeOf(() => ro.new(null))).toBe('INVALID');
      expect(await codeOf(() => ro.remove(layerId))).toBe('INVALID');
      expect(await codeOf(() => lastValueFrom(ro.prune({ all: true }).pipe(toArray())))).toBe('INVALID');
      // A dry run changes nothing, so it is allowed and lists what a real prune would remove.
      const planned = await lastValueFrom(ro.prune({ all: true, dryRun: true }).pipe(toArray()));
      expect(planned.map((r) => r.id).sort()).toEqual([...ids].sort());
      // Sizing reads only: the computed sizes are not stored.
      const sized = await lastValueFrom(ro.size$(layerId));
      expect(sized.size).toBeGreaterThan(0);
      // Background GC is not started on a read-only cache: give it its initial delay and more.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(ro.describe(layerId).state).toBe('frozen.released');
    } finally {
      await ro.close();
    }
    expect(fingerprint(root)).toEqual(before);
    expect(await fx.leftovers(root)).toEqual(snapshotsBefore);
    expect(unhandled).toEqual([]);
  });
});
