import { randomBytes } from 'node:crypto';
import { toSnapshotError, hasGrpcCode } from './grpc-errors.js';
import {
  type CachekitLease,
  heldLeaseId,
  heldLeaseLabels,
  isTransientLeaseId,
  LABEL_GC_EXPIRE,
  LABEL_SNAPSHOTTER,
  snapshotResourceType,
  transientLeaseId,
  transientLeaseLabels,
} from './leases.js';
import type { ResolvedContainerdOptions } from './options.js';
import { type CallOptions, type ContainerdRpc, GrpcStatus, timestampToDate } from './rpc.js';

/**
 * The lease calls of one ContainerdSnapshotter (the rule they follow is in leases.ts): permanent
 * and transient leases, the snapshot a lease holds, listing them, and running containerd's GC.
 */
export class LeaseKeeper {
  private readonly resourceType: string;

  constructor(
    private readonly rpc: ContainerdRpc,
    private readonly options: Readonly<ResolvedContainerdOptions>,
    private readonly call: (extra?: Partial<CallOptions>) => CallOptions,
  ) {
    this.resourceType = snapshotResourceType(options.snapshotter);
  }

  async create(id: string, labels: Record<string, string>, op: string, key: string): Promise<void> {
    try {
      await this.rpc.lease('Create', { id, labels }, this.call());
    } catch (err) {
      throw toSnapshotError(err, op, key, `creating lease ${id}`);
    }
  }

  /** Deletes a lease; a lease that is already gone is fine. With sync, containerd's GC runs first. */
  async delete(id: string, sync = false): Promise<void> {
    try {
      const timeoutMs = sync ? this.options.gcTimeoutMs : this.options.timeoutMs;
      await this.rpc.lease('Delete', { id, sync }, this.call({ timeoutMs }));
    } catch (err) {
      if (!hasGrpcCode(err, GrpcStatus.NOT_FOUND)) throw err;
    }
  }

  /** Best effort: an undeleted transient lease expires by itself, an empty permanent one is released at start-up. */
  drop(id: string): Promise<void> {
    return this.delete(id).catch(() => undefined);
  }

  /** Creates a permanent lease; true when this call made it, false when it existed (left by a crash, or in use). */
  async createHeld(id: string, op: string, key: string): Promise<boolean> {
    try {
      await this.rpc.lease(
        'Create',
        { id, labels: heldLeaseLabels(this.options.snapshotter, new Date()) },
        this.call(),
      );
      return true;
    } catch (err) {
      if (hasGrpcCode(err, GrpcStatus.ALREADY_EXISTS)) return false;
      throw toSnapshotError(err, op, key, `creating lease ${id}`);
    }
  }

  /** Puts `key` in its permanent lease; a lease left by a crash is reused. */
  async hold(op: string, key: string): Promise<void> {
    const id = heldLeaseId(this.options.snapshotter, key);
    await this.createHeld(id, op, key);
    try {
      await this.rpc.lease('AddResource', { id, resource: { id: key, type: this.resourceType } }, this.call());
    } catch (err) {
      throw toSnapshotError(err, op, key, `adding the snapshot to lease ${id}`);
    }
  }

  /** Runs fn under a new transient lease (see leases.ts); the lease is dropped afterwards whatever happens. */
  async underTransient<T>(op: string, key: string, fn: (lease: string) => Promise<T>): Promise<T> {
    const lease = transientLeaseId();
    const labels = transientLeaseLabels(this.options.snapshotter, op, new Date(), this.options.transientLeaseTtlMs);
    await this.create(lease, labels, op, key);
    try {
      return await fn(lease);
    } finally {
      await this.drop(lease);
    }
  }

  /** Runs containerd's GC now (synchronously) and asks the snapshotter to delete its leftovers. */
  async collectGarbage(): Promise<void> {
    const lease = transientLeaseId();
    const labels = transientLeaseLabels(
      this.options.snapshotter,
      'cleanup',
      new Date(),
      this.options.transientLeaseTtlMs,
    );
    const key = `cachekit-gc-${randomBytes(8).toString('hex')}`;
    try {
      await this.create(lease, labels, 'cleanup', key);
      const req = { snapshotter: this.options.snapshotter, key, parent: '', labels: {} };
      await this.rpc.snapshot('Prepare', req, this.call({ lease }));
      await this.delete(lease, true);
    } catch (err) {
      await this.drop(lease);
      throw toSnapshotError(err, 'cleanup', undefined);
    }
  }

  /** Every lease made for this snapshotter in the namespace, with the existing snapshots each holds. */
  async list(): Promise<CachekitLease[]> {
    try {
      const filter = `labels."${LABEL_SNAPSHOTTER}"==${JSON.stringify(this.options.snapshotter)}`;
      const { leases } = await this.rpc.lease('List', { filters: [filter] }, this.call());
      // containerd keeps a lease's reference to a snapshot after the snapshot was committed away or
      // removed; such a reference holds nothing, so only snapshots that exist are reported.
      const existing = new Set(
        (await this.rpc.listSnapshots(this.options.snapshotter, [], this.call())).map((i) => i.name),
      );
      const out: CachekitLease[] = [];
      for (const l of leases) {
        const listed = await this.rpc.lease('ListResources', { id: l.id }, this.call()).catch((err) => {
          // Deleted since the list (a removal finishing, GC taking an expired lease): not there any more.
          if (hasGrpcCode(err, GrpcStatus.NOT_FOUND)) return undefined;
          throw err;
        });
        if (!listed) continue;
        const { resources } = listed;
        const lease: CachekitLease = {
          id: l.id,
          kind: isTransientLeaseId(l.id) ? 'transient' : 'held',
          created: timestampToDate(l.createdAt),
          labels: { ...l.labels },
          snapshots: resources.filter((r) => r.type === this.resourceType && existing.has(r.id)).map((r) => r.id),
        };
        const expires = l.labels[LABEL_GC_EXPIRE];
        if (expires !== undefined) lease.expires = new Date(expires);
        out.push(lease);
      }
      return out;
    } catch (err) {
      throw toSnapshotError(err, 'listLeases', undefined);
    }
  }
}
