/**
 * Leases: how cachekit keeps its snapshots from containerd's garbage collector.
 *
 * The rule (containerd 1.6 metadata GC, metadata/gc.go):
 *  - A snapshot survives a GC run only when something reaches it from a root. Roots are leases that
 *    have not expired, and objects labelled `containerd.io/gc.root`. A snapshot reaches its parent,
 *    so a held snapshot keeps its whole chain.
 *  - A lease labelled `containerd.io/gc.expire` (an RFC 3339 time) stops being a root once that time
 *    has passed; the next GC run collects whatever only it held.
 *  - A lease labelled `containerd.io/gc.flat` holds exactly the resources added to it (and their
 *    parents), not what their `containerd.io/gc.ref.*` labels point at. BuildKit labels its leases so.
 *  - GC runs on containerd's own schedule, and synchronously when a lease is deleted with `sync`.
 *
 * What cachekit does with it:
 *  - HELD: every snapshot cachekit makes is the only resource of its own permanent lease,
 *    `cachekit.<digest of snapshotter and key>`, labelled gc.flat and never given an expiry.
 *    containerd's GC never collects it or its parents while the lease exists.
 *  - TRANSIENT: a call that makes a new snapshot (Prepare, View) runs under a fresh lease
 *    `cachekit.tmp.<random>` labelled gc.expire = now + the transient TTL. Only after the snapshot
 *    exists is it added to its permanent lease; then the transient lease is deleted. A process that
 *    dies in between leaves the new snapshot held by the transient lease alone, and containerd
 *    collects it once the TTL has passed: abandoned work is never kept forever.
 *  - COMMITTED: Commit gives existing content a new name, so it is never abandoned work. It runs
 *    under the name's permanent lease, made first, and containerd adds the committed snapshot to that
 *    lease in the commit's own transaction: no answer lost to a restart and no kill leaves it to GC.
 *    The active snapshot's lease, which then holds nothing, is deleted afterwards.
 *  - REMOVED: remove calls Snapshots.Remove (which keeps containerd's rules: NOT_FOUND, refusal
 *    while children exist), then deletes the permanent lease with sync, so GC frees the storage
 *    before remove resolves.
 * A permanent lease that holds no existing snapshot (left by a crash between the steps above) holds
 * nothing and is harmless; `listLeases()` reports it so the cache manager can delete it. containerd
 * keeps a lease's reference to a snapshot that was committed away or removed, so "holds" is decided
 * against the snapshots that exist.
 */
import { createHash, randomBytes } from 'node:crypto';

export const LABEL_GC_FLAT = 'containerd.io/gc.flat';
export const LABEL_GC_EXPIRE = 'containerd.io/gc.expire';
/** On every lease cachekit makes: the containerd snapshotter the lease's snapshot lives in. */
export const LABEL_SNAPSHOTTER = 'cachekit.io/snapshotter';
/** On transient leases: the operation the lease covers (prepare, view, commit, cleanup). */
export const LABEL_TRANSIENT = 'cachekit.io/transient';

/** Every lease id cachekit makes starts with this; nothing else in a namespace should. */
export const LEASE_ID_PREFIX = 'cachekit.';
const TRANSIENT_PREFIX = `${LEASE_ID_PREFIX}tmp.`;

/** Longer than any call's deadline, so a live operation never loses its snapshot to GC. */
export const DEFAULT_TRANSIENT_LEASE_TTL_MS = 10 * 60 * 1000;

/** The permanent lease of snapshot `key` (lease ids are at most 76 characters of [A-Za-z0-9._-]). */
export function heldLeaseId(snapshotter: string, key: string): string {
  const digest = createHash('sha256').update(snapshotter).update('\0').update(key).digest('hex');
  return `${LEASE_ID_PREFIX}${digest.slice(0, 48)}`;
}

export function transientLeaseId(): string {
  return `${TRANSIENT_PREFIX}${randomBytes(12).toString('hex')}`;
}

export function isTransientLeaseId(id: string): boolean {
  return id.startsWith(TRANSIENT_PREFIX);
}

/**
 * An RFC 3339 time in whole seconds (containerd parses gc.expire with Go's RFC 3339 layout),
 * rounded up so a lease never expires before the time asked for.
 */
export function expiryLabel(at: Date): string {
  const up = new Date(Math.ceil(at.getTime() / 1000) * 1000);
  return `${up.toISOString().slice(0, 19)}Z`;
}

export function heldLeaseLabels(snapshotter: string, now: Date): Record<string, string> {
  return { [LABEL_GC_FLAT]: expiryLabel(now), [LABEL_SNAPSHOTTER]: snapshotter };
}

export function transientLeaseLabels(
  snapshotter: string,
  op: string,
  now: Date,
  ttlMs: number,
): Record<string, string> {
  return {
    [LABEL_GC_FLAT]: expiryLabel(now),
    [LABEL_GC_EXPIRE]: expiryLabel(new Date(now.getTime() + ttlMs)),
    [LABEL_SNAPSHOTTER]: snapshotter,
    [LABEL_TRANSIENT]: op,
  };
}

/** The lease resource type of a snapshot in containerd's `snapshotter` ("snapshots/<name>"). */
export function snapshotResourceType(snapshotter: string): string {
  return `snapshots/${snapshotter}`;
}

/** A lease cachekit made, as `listLeases()` reports it. */
export interface CachekitLease {
  id: string;
  kind: 'held' | 'transient';
  created: Date;
  labels: Record<string, string>;
  /** When a transient lease stops protecting its snapshot; absent for held leases. */
  expires?: Date;
  /** Keys of the existing snapshots (of this snapshotter) the lease holds; a held lease normally has one. */
  snapshots: string[];
}
