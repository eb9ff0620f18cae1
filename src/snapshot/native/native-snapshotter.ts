import { execFile } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { treeUsage } from '../../size/tree-usage.js';
import { SnapshotterCore, type SnapshotDriver } from '../core.js';
import type { SnapshotRecord } from '../store.js';
import type { Mount, Usage, UsageOptions } from '../types.js';

const execFileAsync = promisify(execFile);

/**
 * Copies a tree keeping modes, ownership, timestamps, symlinks, hardlink
 * groups, xattrs and holes; reflinks where the filesystem can.
 * `target` must not exist: cp then creates it as a copy of `source` itself.
 */
export async function copyTree(source: string, target: string): Promise<void> {
  await execFileAsync('cp', ['-a', '--sparse=auto', '--reflink=auto', '--no-target-directory', source, target]);
}

/**
 * The embedded, unprivileged snapshotter: each snapshot is a plain directory
 * (`<root>/snapshots/<id>`) and prepare on a parent makes a full copy of it.
 *
 * Design choice: a view of a committed parent does not copy anything. Its
 * mount is a read-only bind of the parent's directory, which is safe because
 * committed snapshots never change and a parent cannot be removed while the
 * view exists. The view's own directory stays empty, so its usage is that of
 * an empty directory.
 */
export class NativeSnapshotter extends SnapshotterCore {
  static async open(root: string): Promise<NativeSnapshotter> {
    const store = await SnapshotterCore.openStore(root);
    let self: NativeSnapshotter | undefined;
    const driver: SnapshotDriver = {
      build: async (dir, kind, chain) => {
        const parent = chain[0];
        if (parent && kind === 'active') return copyTree(self!.dirOf(parent.id), dir);
        await mkdir(dir);
        await chmod(dir, 0o755); // independent of the process umask
      },
      mounts: (rec, chain) => self!.nativeMounts(rec, chain),
      usage: (rec, options: UsageOptions): Promise<Usage> => treeUsage(self!.dirOf(rec.id), options),
    };
    self = new NativeSnapshotter(root, store, driver);
    return self;
  }

  private nativeMounts(rec: SnapshotRecord, chain: SnapshotRecord[]): Mount[] {
    if (rec.kind === 'active') return [{ type: 'bind', source: this.dirOf(rec.id), options: ['rbind', 'rw'] }];
    const parent = chain[0];
    const source = parent ? this.dirOf(parent.id) : this.dirOf(rec.id);
    return [{ type: 'bind', source, options: ['rbind', 'ro'] }];
  }
}
