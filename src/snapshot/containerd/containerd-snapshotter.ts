import { randomBytes } from 'node:crypto';
import { walkFilter } from '../core.js';
import { isSnapshotError, isSnapshotUnavailable, SnapshotError } from '../errors.js';
import type { Info, Mount, Snapshotter, SnapshotOptions, Usage, UsageOptions, WalkFn } from '../types.js';
import { normalizeLabels, validateKey } from '../validate.js';
import { hasGrpcCode, toSnapshotError } from './grpc-errors.js';
import { type CachekitLease, heldLeaseId, LEASE_ID_PREFIX } from './leases.js';
import { type CallOptions, ContainerdRpc, GrpcStatus, type ProtoInfo, type ProtoMount } from './rpc.js';

import {
  type ContainerdSnapshotterOptions,
  containerdSnapshotterOptionsSchema,
  type ResolvedContainerdOptions,
} from './options.js';
import { KINDS, toInfo, toMounts } from './convert.js';
import { AbandonedKeys } from './abandoned.js';
import { LeaseKeeper } from './lease-keeper.js';

export { containerdSnapshotterOptionsSchema, type ContainerdSnapshotterOptions } from './options.js';

/**
 * A snapshotter backed by a containerd daemon's snapshots service: one containerd snapshotter
 * (`overlayfs`, `native`, ...) in one namespace. Rules and error codes are containerd's own, keys
 * and labels are checked here first, and every snapshot made here is held by a lease (leases.ts).
 * Mount specs come from containerd and work with mount.ts as root.
 */
export class ContainerdSnapshotter implements Snapshotter {
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();
  /** Removals containerd could not be told of, retried before the next removal (abandoned.ts). */
  private readonly abandoned = new AbandonedKeys();
  /** Active key -> name of a commit that got no answer (see committedUnanswered). */
  private readonly unanswered = new Map<string, string>();
  private readonly leases: LeaseKeeper;

  private constructor(
    private readonly rpc: ContainerdRpc,
    readonly options: Readonly<ResolvedContainerdOptions>,
  ) {
    this.leases = new LeaseKeeper(rpc, options, (extra) => this.callOptions(extra));
  }

  /** Connects and checks that the daemon answers and has the snapshotter; UNAVAILABLE when it is down. */
  static async open(options: ContainerdSnapshotterOptions): Promise<ContainerdSnapshotter> {
    const parsed = containerdSnapshotterOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.join('.') || 'options';
      throw new SnapshotError('INVALID_ARGUMENT', 'open', undefined, `${where}: ${issue.message}`);
    }
    const self = new ContainerdSnapshotter(new ContainerdRpc(parsed.data.address), parsed.data);
    const probe = `cachekit-probe-${randomBytes(8).toString('hex')}`;
    try {
      await self.rpc.snapshot('Stat', { snapshotter: self.options.snapshotter, key: probe }, self.callOptions());
    } catch (err) {
      if (!hasGrpcCode(err, GrpcStatus.NOT_FOUND)) {
        self.rpc.close();
        const mapped = toSnapshotError(err, 'open', parsed.data.address, `snapshotter ${parsed.data.snapshotter}`);
        throw mapped;
      }
    }
    return self;
  }

  private callOptions(extra: Partial<CallOptions> = {}): CallOptions {
    return { namespace: this.options.namespace, timeoutMs: this.options.timeoutMs, ...extra };
  }

  /** Tracks the call so close() can wait for it, and refuses calls after close. */
  private run<T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SnapshotError('CLOSED', op, key, 'snapshotter is closed'));
    const p = fn();
    this.pending.add(p);
    const forget = () => this.pending.delete(p);
    p.then(forget, forget);
    return p;
  }

  private create(
    op: 'prepare' | 'view',
    key: string,
    parent: string | undefined,
    options: SnapshotOptions | undefined,
  ): Promise<Mount[]> {
    return this.run(op, typeof key === 'string' ? key : undefined, async () => {
      validateKey(op, 'key', key);
      const parentName = parent === '' || parent === undefined ? '' : parent;
      if (parentName !== '') validateKey(op, 'parent', parentName);
      const labels = normalizeLabels(op, key, options?.labels);
      const context = parentName === '' ? undefined : `parent ${JSON.stringify(parentName)}`;
      return this.leases.underTransient(op, key, async (lease) => {
        let mounts: ProtoMount[];
        try {
          const req = { snapshotter: this.options.snapshotter, key, parent: parentName, labels };
          const res = await this.rpc.snapshot(op === 'prepare' ? 'Prepare' : 'View', req, this.callOptions({ lease }));
          mounts = res.mounts;
        } catch (err) {
          const failure = toSnapshotError(err, op, key, context);
          // No answer: containerd may have made it.
          if (isSnapshotUnavailable(failure)) this.abandoned.add(key);
          throw failure;
        }
        try {
          await this.leases.hold(op, key);
        } catch (err) {
          // Not held: undo, so a retry can use the key; if the daemon is gone, a later removal retries.
          await this.rpc.snapshot('Remove', { snapshotter: this.options.snapshotter, key }, this.callOptions()).then(
            () => this.abandoned.forget(key),
            () => this.abandoned.add(key),
          );
          throw err;
        }
        this.abandoned.forget(key);
        return toMounts(mounts);
      });
    });
  }

  prepare(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.create('prepare', key, parent, options);
  }

  view(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.create('view', key, parent, options);
  }

  commit(name: string, key: string, options?: SnapshotOptions): Promise<void> {
    return this.run('commit', key, async () => {
      validateKey('commit', 'key', key);
      validateKey('commit', 'name', name);
      const labels = normalizeLabels('commit', name, options?.labels);
      // The committed snapshot is the active one's content under a new name: it must be held from the
      // moment it exists. containerd adds a new snapshot to the lease the call carries in the same
      // transaction, so Commit runs under the name's own permanent lease. A lost answer (daemon
      // restarted, deadline) or a kill afterwards can never leave the content to GC.
      const held = heldLeaseId(this.options.snapshotter, name);
      const made = await this.leases.createHeld(held, 'commit', name);
      try {
        const req = { snapshotter: this.options.snapshotter, name, key, labels };
        await this.rpc.snapshot('Commit', req, this.callOptions({ lease: held }));
      } catch (err) {
        const failure = await this.explainCommitFailure(err, name, key);
        const tookEffect = isSnapshotUnavailable(failure)
          ? await this.settleUnanswered(name, key)
          : await this.committedUnanswered(failure, name, key);
        if (!tookEffect) {
          if (isSnapshotUnavailable(failure)) this.unanswered.set(key, name);
          // Only a lease this call made, for a commit containerd surely refused, is taken back; after
          // an unknown outcome it stays, and start-up releases it if it holds nothing.
          else if (made && isSnapshotError(failure)) await this.leases.drop(held);
          throw failure;
        }
      }
      this.unanswered.delete(key);
      this.abandoned.forget(name);
      this.abandoned.forget(key);
      // The active snapshot no longer exists, so its lease holds nothing.
      await this.leases.delete(heldLeaseId(this.options.snapshotter, key)).catch(() => undefined);
    });
  }

  /**
   * A commit that got no answer may have happened. For as long as one call's deadline, containerd is
   * asked once it answers again: the name is committed (true) or it is not (false). Still unknown
   * when the time is up: false, and a retry of the commit settles it (committedUnanswered).
   */
  private async settleUnanswered(name: string, key: string): Promise<boolean> {
    const until = Date.now() + this.options.timeoutMs;
    while (Date.now() < until) {
      try {
        const req = { snapshotter: this.options.snapshotter, key: name };
        return (await this.rpc.snapshot('Stat', req, this.callOptions())).info.kind === 'COMMITTED';
      } catch (err) {
        if (hasGrpcCode(err, GrpcStatus.NOT_FOUND)) return false;
        if (!isSnapshotUnavailable(toSnapshotError(err, 'commit', key))) return false;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return false;
  }

  /**
   * A commit whose answer was lost (daemon restarted, deadline) may have happened. Asked again for
   * the same name, containerd no longer finds the active key: if the name is then a committed
   * snapshot, the earlier call took effect and this one succeeds, so the caller can retry a commit.
   */
  private async committedUnanswered(failure: unknown, name: string, key: string): Promise<boolean> {
    if (!isSnapshotError(failure, 'NOT_FOUND') || this.unanswered.get(key) !== name) return false;
    const req = { snapshotter: this.options.snapshotter, key: name };
    const info = await this.rpc.snapshot('Stat', req, this.callOptions()).then(
      (res) => res.info,
      () => undefined,
    );
    return info?.kind === 'COMMITTED';
  }

  /**
   * containerd's native snapshotter measures the snapshot before it checks its kind, so committing
   * a view fails with an lstat error (UNKNOWN). Only on such a failure is the key looked up, to
   * report what containerd's own rule says: only an active snapshot can be committed.
   */
  private async explainCommitFailure(err: unknown, name: string, key: string): Promise<unknown> {
    const mapped = toSnapshotError(err, 'commit', key, `as ${JSON.stringify(name)}`);
    if (!(mapped instanceof SnapshotError) || mapped.code !== 'UNKNOWN') return mapped;
    const req = { snapshotter: this.options.snapshotter, key };
    const info = await this.rpc.snapshot('Stat', req, this.callOptions()).then(
      (res) => res.info,
      () => undefined,
    );
    if (info && info.kind !== 'ACTIVE') {
      const kind = KINDS[info.kind as keyof typeof KINDS] ?? info.kind;
      const reason = `snapshot is ${kind}; only an active snapshot can be committed`;
      return new SnapshotError('FAILED_PRECONDITION', 'commit', key, reason, { cause: err });
    }
    return mapped;
  }

  remove(key: string): Promise<void> {
    return this.run('remove', key, async () => {
      validateKey('remove', 'key', key);
      // Asked for again: this call's answer is the one that counts.
      this.abandoned.forget(key);
      if (this.abandoned.size > 0) await this.abandoned.retry((k) => this.removeNow(k, false));
      try {
        await this.removeNow(key, true);
      } catch (err) {
        if (isSnapshotUnavailable(err)) this.abandoned.add(key);
        throw err;
      }
    });
  }

  /**
   * Snapshots.Remove, then the snapshot's permanent lease. With `sync` containerd's GC frees the
   * storage before this resolves; if deleting the lease fails, it holds nothing, and the scheduled GC
   * frees the storage later (start-up releases the lease).
   */
  private async removeNow(key: string, sync: boolean): Promise<void> {
    try {
      await this.rpc.snapshot('Remove', { snapshotter: this.options.snapshotter, key }, this.callOptions());
    } catch (err) {
      const error = toSnapshotError(err, 'remove', key);
      if (!isSnapshotError(error, 'FAILED_PRECONDITION') || !(await this.leftToGc(key))) throw error;
      return;
    }
    await this.leases.delete(heldLeaseId(this.options.snapshotter, key), sync).catch(() => undefined);
  }

  /**
   * A snapshot refused "with child" when none is listed: containerd's GC deleted a child without
   * unlinking it from its parent (containerd issue 11908), so no Remove can ever take the parent.
   * Its GC can: deleting the snapshot's lease with sync collects it. True once it is gone.
   */
  private async leftToGc(key: string): Promise<boolean> {
    try {
      const listed = await this.rpc.listSnapshots(this.options.snapshotter, [], this.callOptions());
      if (listed.some((p) => p.parent === key)) return false;
      await this.leases.delete(heldLeaseId(this.options.snapshotter, key), true);
      await this.rpc.snapshot('Stat', { snapshotter: this.options.snapshotter, key }, this.callOptions());
      return false;
    } catch (err) {
      // Gone is the answer hoped for; any other failure leaves the refusal standing.
      return hasGrpcCode(err, GrpcStatus.NOT_FOUND);
    }
  }

  stat(key: string): Promise<Info> {
    return this.run('stat', key, async () => {
      validateKey('stat', 'key', key);
      try {
        const res = await this.rpc.snapshot('Stat', { snapshotter: this.options.snapshotter, key }, this.callOptions());
        return toInfo(res.info);
      } catch (err) {
        throw toSnapshotError(err, 'stat', key);
      }
    });
  }

  mounts(key: string): Promise<Mount[]> {
    return this.run('mounts', key, async () => {
      validateKey('mounts', 'key', key);
      try {
        const req = { snapshotter: this.options.snapshotter, key };
        return toMounts((await this.rpc.snapshot('Mounts', req, this.callOptions())).mounts);
      } catch (err) {
        throw toSnapshotError(err, 'mounts', key);
      }
    });
  }

  usage(key: string, options: UsageOptions = {}): Promise<Usage> {
    return this.run('usage', key, async () => {
      validateKey('usage', 'key', key);
      const extra = options.signal ? { signal: options.signal } : {};
      try {
        const req = { snapshotter: this.options.snapshotter, key };
        const res = await this.rpc.snapshot('Usage', req, this.callOptions(extra));
        return { size: res.size, inodes: res.inodes };
      } catch (err) {
        throw toSnapshotError(err, 'usage', key);
      }
    });
  }

  update(info: Pick<Info, 'name'> & Partial<Pick<Info, 'labels'>>, ...fieldpaths: string[]): Promise<Info> {
    const key = typeof info?.name === 'string' ? info.name : undefined;
    return this.run('update', key, async () => {
      if (info === null || typeof info !== 'object')
        throw new SnapshotError('INVALID_ARGUMENT', 'update', undefined, 'info must be an object');
      validateKey('update', 'name', info.name);
      const labels = normalizeLabels('update', info.name, info.labels);
      for (const path of fieldpaths) {
        const ok = path === 'labels' || (typeof path === 'string' && /^labels\..+/s.test(path));
        if (!ok)
          throw new SnapshotError(
            'INVALID_ARGUMENT',
            'update',
            info.name,
            `cannot update field path ${JSON.stringify(path)}; only "labels" and "labels.<key>"`,
          );
      }
      // Only the name and labels are sent: the parent, kind and times never change.
      const req = {
        snapshotter: this.options.snapshotter,
        info: { name: info.name, labels },
        updateMask: fieldpaths.length === 0 ? null : { paths: fieldpaths },
      };
      try {
        return toInfo((await this.rpc.snapshot('Update', req, this.callOptions())).info);
      } catch (err) {
        throw toSnapshotError(err, 'update', info.name);
      }
    });
  }

  /**
   * Filters are checked and applied here with the same parser as the other snapshotters, so a bad
   * filter fails the same way everywhere; containerd is asked for the whole list.
   */
  walk(fn: WalkFn, ...filters: string[]): Promise<void> {
    const matches = this.run('walk', undefined, async () => {
      const selected = walkFilter(filters);
      let all: ProtoInfo[];
      try {
        all = await this.rpc.listSnapshots(this.options.snapshotter, [], this.callOptions());
      } catch (err) {
        throw toSnapshotError(err, 'walk', undefined);
      }
      return all.map(toInfo).filter(selected);
    });
    return matches.then(async (infos) => {
      for (const info of infos) await fn(info);
    });
  }

  /**
   * Lets containerd delete leftovers. containerd 1.6's snapshots service does not implement
   * Cleanup for its metadata-backed snapshotters, and its GC only asks a snapshotter to clean up
   * after it collected one of its snapshots; so a throwaway snapshot is created under a transient
   * lease and the lease deleted with sync. Snapshotters without a cleanup of their own (`native`)
   * keep their leftovers.
   */
  cleanup(): Promise<void> {
    return this.run('cleanup', undefined, async () => {
      try {
        await this.rpc.snapshot('Cleanup', { snapshotter: this.options.snapshotter }, this.callOptions());
        return;
      } catch (err) {
        if (!hasGrpcCode(err, GrpcStatus.UNIMPLEMENTED)) throw toSnapshotError(err, 'cleanup', undefined);
      }
      await this.leases.collectGarbage();
    });
  }

  /** Every lease this snapshotter made in the namespace, with the existing snapshots each holds. */
  listLeases(): Promise<CachekitLease[]> {
    return this.run('listLeases', undefined, () => this.leases.list());
  }

  /** The id of the lease that holds snapshot `key` (whether or not it exists). */
  leaseIdOf(key: string): string {
    return heldLeaseId(this.options.snapshotter, key);
  }

  /** Deletes a lease this snapshotter made (e.g. one listLeases found orphaned); with sync, GC runs first. */
  releaseLease(id: string, options: { sync?: boolean } = {}): Promise<void> {
    return this.run('releaseLease', id, async () => {
      if (!id.startsWith(LEASE_ID_PREFIX))
        throw new SnapshotError('INVALID_ARGUMENT', 'releaseLease', id, 'not a lease made by cachekit');
      await this.leases.delete(id, options.sync ?? false).catch((err: unknown) => {
        throw toSnapshotError(err, 'releaseLease', id);
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    this.rpc.close();
  }
}
