import { chmod, lchown, lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { treeUsage } from '../../size/tree-usage.js';
import { SnapshotterCore, type SnapshotDriver } from '../core.js';
import { SnapshotError } from '../errors.js';
import { mountAll, unmount, withMount } from '../mount.js';
import type { SnapshotRecord } from '../store.js';
import type { Mount } from '../types.js';

/**
 * `index=on` keeps a hardlink group together when one of its names is copied
 * up (without it, moving one name of a lower hardlinked file splits the group).
 */
const OVERLAY_OPTIONS = ['index=on'];

/** Mounts a tiny overlay under `dir`; resolves with undefined when it works, else the kernel's reason. */
export async function probeOverlay(dir: string): Promise<string | undefined> {
  let probe: string;
  try {
    await mkdir(dir, { recursive: true });
    probe = await mkdtemp(join(dir, 'overlay-probe-'));
  } catch (err) {
    // Where the probe cannot even make its directories (a file in the way, no space), overlay is not usable either.
    return `cannot prepare the test mount under ${dir}: ${(err as Error).message}`;
  }
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(probe, d));
    const target = join(probe, 'merged');
    const opts = [
      ...OVERLAY_OPTIONS,
      `lowerdir=${join(probe, 'lower')}`,
      `upperdir=${join(probe, 'upper')}`,
      `workdir=${join(probe, 'work')}`,
    ];
    await mountAll([{ type: 'overlay', source: 'overlay', options: opts }], target);
    await unmount(target);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await rm(probe, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Every regular file with more than one link, grouped by inode. */
async function hardlinkGroups(root: string): Promise<Map<string, string[]>> {
  const groups = new Map<string, string[]>();
  const visit = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile()) {
        const st = await lstat(join(root, path), { bigint: true });
        if (st.nlink > 1n) {
          const id = `${st.dev}:${st.ino}`;
          groups.set(id, [...(groups.get(id) ?? []), path]);
        }
      }
    }
  };
  await visit('');
  return groups;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Linux overlayfs snapshots (needs root): each snapshot has an upper `fs` and
 * a `work` dir under `<root>/snapshots/<id>`. Usage counts only the own layer.
 */
export class OverlaySnapshotter extends SnapshotterCore {
  /**
   * `probe: false` skips the test mount, for readers of a root whose owner already proved overlayfs
   * works: the probe writes and mounts under the root, which a read-only open must never do.
   */
  static async open(root: string, options: { probe?: boolean } = {}): Promise<OverlaySnapshotter> {
    if (options.probe !== false) {
      const reason = await probeOverlay(join(root, 'probe'));
      if (reason !== undefined) {
        throw new SnapshotError(
          'FAILED_PRECONDITION',
          'open',
          root,
          `overlayfs is not usable here (test mount refused): ${reason}`,
        );
      }
      await rm(join(root, 'probe'), { recursive: true, force: true });
    }
    const store = await SnapshotterCore.openStore(root);
    let self: OverlaySnapshotter | undefined;
    const driver: SnapshotDriver = {
      build: async (dir) => {
        await mkdir(dir, { mode: 0o700 });
        await chmod(dir, 0o700);
        await mkdir(join(dir, 'fs'));
        await chmod(join(dir, 'fs'), 0o755);
        await mkdir(join(dir, 'work'), { mode: 0o700 });
      },
      mounts: (rec, chain) => self!.overlayMounts(rec, chain),
      innerDirs: (rec) => [self!.fsOf(rec.id), join(self!.dirOf(rec.id), 'work')],
      usage: (rec, options) => treeUsage(self!.fsOf(rec.id), options),
      beforeCommit: (rec, chain) => self!.keepHardlinkGroups(rec, chain),
    };
    self = new OverlaySnapshotter(root, store, driver);
    return self;
  }

  fsOf(id: number): string {
    return join(this.dirOf(id), 'fs');
  }

  private overlayMounts(rec: SnapshotRecord, chain: SnapshotRecord[]): Mount[] {
    const lowerdir = `lowerdir=${chain.map((p) => this.fsOf(p.id)).join(':')}`;
    if (rec.kind === 'active') {
      if (chain.length === 0) return [{ type: 'bind', source: this.fsOf(rec.id), options: ['rbind', 'rw'] }];
      const options = [
        ...OVERLAY_OPTIONS,
        `workdir=${join(this.dirOf(rec.id), 'work')}`,
        `upperdir=${this.fsOf(rec.id)}`,
        lowerdir,
      ];
      return [{ type: 'overlay', source: 'overlay', options }];
    }
    if (chain.length <= 1)
      return [{ type: 'bind', source: this.fsOf(chain[0]?.id ?? rec.id), options: ['rbind', 'ro'] }];
    return [{ type: 'overlay', source: 'overlay', options: [...OVERLAY_OPTIONS, lowerdir] }];
  }

  /**
   * With index=on, a copied-up name of a hardlinked lower file stays linked to
   * its other names only while this layer's index is in use. Once committed,
   * the layer is a plain lowerdir, so before commit every other name of such a
   * group is copied up too (a no-op chown triggers copy-up, which links it to
   * the indexed copy), making the group whole inside this layer.
   */
  private async keepHardlinkGroups(rec: SnapshotRecord, chain: SnapshotRecord[]): Promise<void> {
    if (chain.length === 0) return;
    const index = await readdir(join(this.dirOf(rec.id), 'work', 'index')).catch(() => []);
    if (index.length === 0) return;
    const upper = this.fsOf(rec.id);
    await withMount(this.overlayMounts(rec, chain), async (merged) => {
      for (const paths of (await hardlinkGroups(merged)).values()) {
        const inUpper = await Promise.all(paths.map((p) => exists(join(upper, p))));
        if (!inUpper.some(Boolean) || inUpper.every(Boolean)) continue;
        for (const [i, p] of paths.entries()) {
          if (inUpper[i]) continue;
          const st = await lstat(join(merged, p));
          await lchown(join(merged, p), st.uid, st.gid);
        }
      }
    });
  }
}
