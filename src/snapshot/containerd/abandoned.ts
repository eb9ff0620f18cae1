import { isSnapshotError, isSnapshotUnavailable } from '../errors.js';

/**
 * Snapshots the caller gave up on that containerd could not be told about: a removal that failed
 * because the daemon was unreachable or did not answer in time, or a new snapshot whose creation
 * failed that way (it may exist) and whose undo could not reach the daemon either. Left alone, such
 * a snapshot keeps its parent from being removed (containerd refuses while children exist) and its
 * permanent lease keeps it from GC until the next start-up. So every later removal retries these
 * first. A key that is made again meanwhile is the caller's once more and is forgotten.
 */
export class AbandonedKeys {
  private readonly keys = new Set<string>();

  get size(): number {
    return this.keys.size;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    this.keys.add(key);
  }

  forget(key: string): void {
    this.keys.delete(key);
  }

  /**
   * Removes what it can. One refused because it still has children is tried again once the others
   * went (they are often its children); the first sign that the daemon is still away ends the retry.
   */
  async retry(remove: (key: string) => Promise<void>): Promise<void> {
    let progress = true;
    while (progress && this.keys.size > 0) {
      progress = false;
      for (const key of [...this.keys]) {
        try {
          await remove(key);
        } catch (err) {
          if (isSnapshotUnavailable(err)) return;
          // Still has children, or refused for a reason of its own: kept for a later removal.
          if (!isSnapshotError(err, 'NOT_FOUND')) continue;
        }
        this.keys.delete(key);
        progress = true;
      }
    }
  }
}
