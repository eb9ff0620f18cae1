import { randomBytes } from 'node:crypto';
import { open as openFile, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { deleteTrees } from './delete-tree.js';
import type { UndeletedDirectory } from './types.js';

/**
 * Trash directories one background `rm` process deletes at most: the queue a prune builds goes in a few
 * processes, and the argument list stays far below the kernel's limit (paths are under 100 bytes).
 */
const DELETION_BATCH = 1024;

/**
 * Removed snapshots' directories on their way out: renamed to `trash-*` (where a removal resolves),
 * deleted in the background, then dropped from the store's trash list once the deletion is durable.
 */
export class Trash {
  /** Directory deletions (and trash-list sweeps) running in the background after their removal returned. */
  private readonly deleting = new Set<Promise<void>>();
  /** The background deletion in progress, if any: one at a time. */
  private deletion: Promise<void> | undefined;
  /** Trash waiting for the next deletion. */
  private readonly queued: { trash: string; removedId: number | undefined }[] = [];
  /** Removed ids whose directory is deleted, waiting to be dropped from the store's trash list. */
  private readonly swept: number[] = [];
  private sweepScheduled = false;
  /** Trash directories that could not be deleted, with the reason: reported, retried at the next start. */
  private readonly stuck = new Map<string, string>();

  constructor(
    private readonly snapshotsDir: string,
    /** Drops ids from the store's trash list, durably. */
    private readonly forgetTrash: (ids: number[]) => Promise<void>,
  ) {}

  /**
   * Renames a directory out of the way and deletes it in the background; resolves after the rename.
   * A removed snapshot's id is in the store's trash list from the removal's own transaction until its
   * directory is gone, so a crash anywhere in between leaves a leftover that cleanup() knows to delete.
   */
  async discard(dir: string, removedId?: number): Promise<void> {
    // Trash a failed deletion left is deleted where it is: renaming it again would only hide it.
    const trash = basename(dir).startsWith('trash-')
      ? dir
      : join(this.snapshotsDir, `trash-${randomBytes(6).toString('hex')}`);
    try {
      if (trash !== dir) await rename(dir, trash);
    } catch {
      if (removedId !== undefined) this.sweep(removedId);
      return; // already gone
    }
    this.queued.push({ trash, removedId });
    this.pumpDeletions();
  }

  /**
   * Deletes queued trash in the background, everything queued so far in one `rm` process, so a prune's
   * removals do not wait for, or compete with, the deletion of the directories they left.
   */
  private pumpDeletions(): void {
    if (this.deletion !== undefined || this.queued.length === 0) return;
    const batch = this.queued.splice(0, DELETION_BATCH);
    const deletion: Promise<void> = deleteTrees(batch.map((b) => b.trash))
      .then((failures) => {
        for (const { trash, removedId } of batch) {
          const failure = failures.get(trash);
          if (failure === undefined) this.stuck.delete(trash);
          else this.stuck.set(trash, failure);
          if (removedId !== undefined) this.sweep(removedId);
        }
      })
      .catch((err: unknown) => {
        const reason = err instanceof Error ? err.message : String(err);
        for (const { trash } of batch) this.stuck.set(trash, reason);
      })
      .then(() => {
        this.deleting.delete(deletion);
        this.deletion = undefined;
        this.pumpDeletions();
      });
    this.deletion = deletion;
    this.deleting.add(deletion);
  }

  /**
   * Resolves once every directory deletion started so far is done. The trash-list sweeps that follow
   * are bookkeeping (a crash before one only means start-up deletes nothing more): not waited for here.
   */
  async deleted(): Promise<void> {
    for (;;) {
      this.pumpDeletions();
      if (this.deletion === undefined && this.queued.length === 0) return;
      await Promise.allSettled([...this.deleting]);
    }
  }

  /** Resolves once every deletion and every trash-list sweep is done: what the store may be closed after. */
  async settled(): Promise<void> {
    for (;;) {
      this.pumpDeletions();
      if (this.deleting.size === 0) return;
      await Promise.allSettled([...this.deleting]);
    }
  }

  /** Removed snapshots' directories that are still on disk because their deletion failed, and why. */
  undeleted(): UndeletedDirectory[] {
    return [...this.stuck].map(([path, reason]) => ({ path, reason }));
  }

  /** Drops deleted ids from the trash list in one write, after making their deletions durable. */
  private sweep(id: number): void {
    this.swept.push(id);
    if (this.sweepScheduled) return;
    this.sweepScheduled = true;
    // Tracked from now, so close() waits for it and never closes the store under it.
    const done: Promise<void> = new Promise((resolve) => setImmediate(resolve))
      .then(async () => {
        this.sweepScheduled = false;
        const ids = this.swept.splice(0);
        // The deletions reach the disk before the ids that would let start-up finish them are forgotten.
        const handle = await openFile(this.snapshotsDir, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await this.forgetTrash(ids);
      })
      .catch(() => undefined)
      .then(() => {
        this.deleting.delete(done);
        this.pumpDeletions();
      });
    this.deleting.add(done);
  }
}
