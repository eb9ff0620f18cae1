import type { ContainerdSnapshotter } from '../snapshot/containerd/containerd-snapshotter.js';
import type { Snapshotter } from '../snapshot/types.js';
import type { ReconcileEntry } from './reconcile.js';

/**
 * containerd only: after reconciliation, a lease of ours that holds no
 * snapshot any more (its snapshot went with a removal that crashed between
 * Remove and the lease's deletion) is released. Transient leases are left to
 * expire: containerd's GC collects what they held, as designed.
 */
/** Asked by shape, so that a cache on another snapshotter never loads the gRPC code. */
const isContainerd = (s: Snapshotter): s is ContainerdSnapshotter =>
  typeof (s as Partial<ContainerdSnapshotter>).listLeases === 'function' &&
  typeof (s as Partial<ContainerdSnapshotter>).releaseLease === 'function';

export async function releaseOrphanLeases(snapshotter: Snapshotter): Promise<ReconcileEntry[]> {
  if (!isContainerd(snapshotter)) return [];
  const entries: ReconcileEntry[] = [];
  for (const lease of await snapshotter.listLeases()) {
    if (lease.kind !== 'held' || lease.snapshots.length > 0) continue;
    await snapshotter.releaseLease(lease.id, { sync: false });
    entries.push({ action: 'released-orphan-lease', detail: `containerd lease ${lease.id} held no snapshot` });
  }
  return entries;
}
