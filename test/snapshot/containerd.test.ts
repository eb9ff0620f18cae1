import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import { mountAll, unmount, withMount } from '../../src/snapshot/mount.js';
import { type SnapshotterQuirks, snapshotterConformance } from './conformance.js';
import { type ContainerdDaemon, containerdSkipReason, startContainerd } from './containerd-daemon.js';

const skip = containerdSkipReason();
if (skip !== undefined) console.warn(`ContainerdSnapshotter tests skipped: ${skip}`);

/** Where containerd's snapshotters differ from ours (each quirk says why, in conformance-quirks.ts). */
const QUIRKS: Record<string, SnapshotterQuirks> = {
  overlayfs: { copyUpBreaksHardlinks: true },
  native: { copyFillsHoles: true, keepsLeftovers: true },
};

for (const snapshotter of ['overlayfs', 'native']) {
  describe.skipIf(skip !== undefined)(
    `ContainerdSnapshotter on ${snapshotter}${skip ? ` (skipped: ${skip})` : ''}`,
    () => {
      // One daemon per test root: the snapshotter plugin's root_path is the harness root, so the
      // suite's on-disk checks (sources under the root, numeric snapshot directories) apply unchanged.
      const daemons = new Map<string, ContainerdDaemon>();
      afterEach(async () => {
        for (const d of daemons.values()) await d.dispose();
        daemons.clear();
      });
      snapshotterConformance(
        `ContainerdSnapshotter(${snapshotter})`,
        async (root) => {
          let d = daemons.get(root);
          if (!d) {
            d = await startContainerd({ snapshotterRoot: { snapshotter, root } });
            daemons.set(root, d);
          }
          return ContainerdSnapshotter.open({ address: d.address, namespace: 'conformance', snapshotter });
        },
        QUIRKS[snapshotter],
      );
    },
  );
}

describe.skipIf(skip !== undefined)(`containerd mount specs with mount.ts${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let d: ContainerdDaemon;
  let sn: ContainerdSnapshotter;
  beforeEach(async () => {
    d = await startContainerd();
    sn = await ContainerdSnapshotter.open({ address: d.address, namespace: 'mounts', snapshotter: 'overlayfs' });
  });
  afterEach(async () => {
    await sn.close();
    await d.dispose();
  });

  it('mounts overlayfs specs (bind for one layer, overlay with lowerdir for more) and releases them', async () => {
    const first = await sn.prepare('l1-work');
    // containerd binds a parentless active read-write.
    expect(first).toEqual([{ type: 'bind', source: expect.stringMatching(/\/fs$/), options: ['rw', 'rbind'] }]);
    await withMount(first, (root) => writeFile(join(root, 'one'), '1'));
    await sn.commit('l1', 'l1-work');
    const second = await sn.prepare('l2-work', 'l1');
    expect(second).toHaveLength(1);
    expect(second[0]!.type).toBe('overlay');
    const opts = second[0]!.options;
    for (const prefix of ['workdir=', 'upperdir=', 'lowerdir='])
      expect(opts.some((o) => o.startsWith(prefix))).toBe(true);
    await withMount(second, async (root) => {
      expect(await readFile(join(root, 'one'), 'utf8')).toBe('1');
      await writeFile(join(root, 'two'), '2');
    });
    await sn.commit('l2', 'l2-work');
    // A view of one layer is a read-only bind; of two, an overlay of two lowerdirs.
    const v1 = await sn.view('v1', 'l1');
    expect(v1[0]).toMatchObject({ type: 'bind', options: expect.arrayContaining(['ro', 'rbind']) });
    const v2 = await sn.view('v2', 'l2');
    const lower = v2[0]!.options.find((o) => o.startsWith('lowerdir='))!;
    expect(lower.slice('lowerdir='.length).split(':')).toHaveLength(2);
    const target = await mkdtemp(join(tmpdir(), 'cachekit-ctrd-mount-'));
    try {
      await mountAll(v2, target);
      expect((await readdir(target)).sort()).toEqual(['one', 'two']);
      await expect(writeFile(join(target, 'three'), '3')).rejects.toMatchObject({ code: 'EROFS' });
      await unmount(target);
      // Released: the directory is empty again, and the snapshots can go.
      expect(await readdir(target)).toEqual([]);
    } finally {
      await rm(target, { recursive: true, force: true });
    }
    for (const k of ['v2', 'v1', 'l2', 'l1']) await sn.remove(k);
  });
});
