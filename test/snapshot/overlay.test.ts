import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotError } from '../../src/snapshot/errors.js';
import { mountAll, unmount, withMount } from '../../src/snapshot/mount.js';
import { OverlaySnapshotter, probeOverlay } from '../../src/snapshot/overlay/overlay-snapshotter.js';
import { snapshotterConformance } from './conformance.js';
import { committed, useHarness } from './helpers.js';

const probeDir = await mkdtemp(join(tmpdir(), 'cachekit-overlay-probe-'));
const unavailable = await probeOverlay(probeDir);
await rm(probeDir, { recursive: true, force: true });
if (unavailable !== undefined) console.warn(`OverlaySnapshotter tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)(
  `OverlaySnapshotter${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    snapshotterConformance('OverlaySnapshotter', (root) => OverlaySnapshotter.open(root));

    describe('layout', () => {
      const h = useHarness((root) => OverlaySnapshotter.open(root));
      const fs = (id: number) => join(h.root, 'snapshots', String(id), 'fs');

      it('mounts actives and views as containerd does', async () => {
        expect(await h.sn.prepare('a1')).toEqual([{ type: 'bind', source: fs(1), options: ['rbind', 'rw'] }]);
        await h.sn.commit('c1', 'a1');
        await committed(h.sn, 'c2', 'c1'); // id 2
        const active = await h.sn.prepare('top', 'c2'); // id 3
        expect(active).toEqual([
          {
            type: 'overlay',
            source: 'overlay',
            options: [
              'index=on',
              `workdir=${join(h.root, 'snapshots/3/work')}`,
              `upperdir=${fs(3)}`,
              `lowerdir=${fs(2)}:${fs(1)}`,
            ],
          },
        ]);
        expect(await h.sn.view('v-empty')).toEqual([{ type: 'bind', source: fs(4), options: ['rbind', 'ro'] }]);
        expect(await h.sn.view('v1', 'c1')).toEqual([{ type: 'bind', source: fs(1), options: ['rbind', 'ro'] }]);
        expect(await h.sn.view('v2', 'c2')).toEqual([
          { type: 'overlay', source: 'overlay', options: ['index=on', `lowerdir=${fs(2)}:${fs(1)}`] },
        ]);
      });

      it('counts only the snapshot’s own layer in usage', async () => {
        const base = await h.sn.prepare('base');
        await writeFile(join(base[0]!.source, 'big'), Buffer.alloc(512 * 1024, 7));
        await h.sn.commit('c', 'base');
        const child = await h.sn.prepare('child', 'c');
        await withMount(child, (root) => writeFile(join(root, 'small'), 'x'));
        expect((await h.sn.usage('c')).size).toBeGreaterThanOrEqual(512 * 1024);
        // The upper root also carries overlay xattrs, so compare with du rather than a constant.
        const du = (flag: string) =>
          Number(execFileSync('du', ['-s', flag, fs(2)], { encoding: 'utf8' }).split('\t')[0]);
        expect(await h.sn.usage('child')).toEqual({ size: du('-B1'), inodes: 2 });
        expect(du('-B1')).toBeLessThan(64 * 1024);
      });

      it('keeps a hardlink group whole inside a committed layer when one name was moved', async () => {
        const [base] = await h.sn.prepare('base');
        await mkdir(join(base!.source, 'a'));
        await mkdir(join(base!.source, 'b'));
        await writeFile(join(base!.source, 'a', 'f'), 'linked');
        await link(join(base!.source, 'a', 'f'), join(base!.source, 'b', 'g'));
        await h.sn.commit('c1', 'base');
        await withMount(await h.sn.prepare('mv', 'c1'), async (root) => {
          await mkdir(join(root, 'c'));
          await rename(join(root, 'a', 'f'), join(root, 'c', 'f'));
        });
        await h.sn.commit('c2', 'mv');
        // Layer 2 (id 2) holds both names of the group, as one inode.
        const moved = await stat(join(fs(2), 'c', 'f'));
        const other = await stat(join(fs(2), 'b', 'g'));
        expect(other.ino).toBe(moved.ino);
        await withMount(await h.sn.view('v', 'c2'), async (root) => {
          expect((await stat(join(root, 'c', 'f'))).ino).toBe((await stat(join(root, 'b', 'g'))).ino);
        });
      });

      it('mounts a 128-layer chain whose lowerdir option is longer than a page', async () => {
        let parent: string | undefined;
        for (let i = 0; i < 128; i++) {
          await committed(h.sn, `deep-layer-number-${i}`, parent);
          parent = `deep-layer-number-${i}`;
        }
        const mounts = await h.sn.view('deep-view', parent);
        expect(mounts[0]!.options.join(',').length).toBeGreaterThan(4096);
        await withMount(mounts, async (root) =>
          expect(await readFile(join(root, '.'), 'utf8').catch((e: NodeJS.ErrnoException) => e.code)).toBe('EISDIR'),
        );
      });
    });

    it('refuses to open where the kernel refuses overlay, saying so', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cachekit-nested-'));
      for (const d of ['l', 'u', 'w', 'm']) await mkdir(join(dir, d));
      // An overlay cannot be the upper layer of another overlay.
      await mountAll(
        [
          {
            type: 'overlay',
            source: 'overlay',
            options: [`lowerdir=${dir}/l`, `upperdir=${dir}/u`, `workdir=${dir}/w`],
          },
        ],
        join(dir, 'm'),
      );
      try {
        const err = await OverlaySnapshotter.open(join(dir, 'm', 'root')).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SnapshotError);
        expect((err as SnapshotError).code).toBe('FAILED_PRECONDITION');
        expect((err as SnapshotError).message).toMatch(/overlayfs is not usable here/);
      } finally {
        await unmount(join(dir, 'm'));
        await rm(dir, { recursive: true, force: true });
      }
    });
  },
);
