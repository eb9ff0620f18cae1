/**
 * Whether a root on containerd agrees with its namespace: one snapshot per record, of the record's
 * kind, on its parent's snapshot, each held by its own permanent lease and nothing else held. The
 * result is a list of readable problems (empty is a pass).
 */
import type { CacheManager } from '../../src/index.js';
import type { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import type { Info } from '../../src/snapshot/index.js';

export interface NamespaceCheck {
  /** Mutable or transient leases may be in flight while an owner runs; after close none may hold anything. */
  quiet: boolean;
}

/** The snapshot a record's content lives in, as BuildKit names the states: committed or still active. */
const expectedKey = (id: string, state: string) => (state.startsWith('committed') ? `committed/${id}` : `active/${id}`);

export async function namespaceProblems(
  cm: CacheManager,
  sn: ContainerdSnapshotter,
  check: NamespaceCheck = { quiet: true },
): Promise<string[]> {
  const problems: string[] = [];
  /** Snapshot key -> the record whose content it must be. */
  const records = new Map<string, { id: string; state: string; parent: string | undefined }>();
  for (const u of await cm.diskUsage()) {
    const view = cm.describe(u.id);
    records.set(expectedKey(u.id, view.state), { id: u.id, state: view.state, parent: view.parent });
  }
  const snapshots = new Map<string, Info>();
  await sn.walk((info) => void snapshots.set(info.name, info));
  for (const [key, info] of snapshots) {
    if (key.startsWith('view/') && !check.quiet) continue;
    const record = records.get(key);
    if (!record) {
      problems.push(`snapshot ${key} (${info.kind}) belongs to no record`);
      continue;
    }
    const wantParent = record.parent === undefined ? undefined : `committed/${record.parent}`;
    if (info.parent !== wantParent)
      problems.push(`snapshot ${key} has parent ${info.parent}, record wants ${wantParent}`);
  }
  for (const [key, r] of records) if (!snapshots.has(key)) problems.push(`record ${r.id} (${r.state}) has no ${key}`);

  const holders = new Map<string, string[]>();
  for (const lease of await sn.listLeases()) {
    if (lease.kind === 'transient') {
      // A transient lease left by a failed call expires by itself; it must never be all that holds a record.
      continue;
    }
    if (lease.snapshots.length === 0 && check.quiet) problems.push(`lease ${lease.id} holds no snapshot`);
    if (lease.snapshots.length > 1) problems.push(`lease ${lease.id} holds ${lease.snapshots.join(', ')}`);
    for (const key of lease.snapshots) holders.set(key, [...(holders.get(key) ?? []), lease.id]);
  }
  for (const key of snapshots.keys()) {
    const by = holders.get(key) ?? [];
    if (by.length === 0) problems.push(`snapshot ${key} is held by no permanent lease`);
    else if (by[0] !== sn.leaseIdOf(key))
      problems.push(`snapshot ${key} is held by ${by.join(', ')}, not its own lease`);
  }
  return problems;
}
