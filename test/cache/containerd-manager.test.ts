import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCacheError, openCacheManager } from '../../src/index.js';
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import { heldLeaseId, LABEL_GC_FLAT, LABEL_SNAPSHOTTER } from '../../src/snapshot/containerd/leases.js';
import { ContainerdRpc } from '../../src/snapshot/containerd/rpc.js';
import { type ContainerdDaemon, containerdSkipReason, startContainerd } from '../snapshot/containerd-daemon.js';
import { cacheFixture } from './helpers.js';

const skip = containerdSkipReason();
if (skip !== undefined) console.warn(`cache manager on containerd skipped: ${skip}`);

describe.skipIf(skip !== undefined)(`the cache manager on containerd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const fx = cacheFixture('native');
  let d: ContainerdDaemon;
  beforeEach(async () => {
    d = await startContainerd();
  });
  afterEach(async () => {
    await d.dispose();
  });
  const where = () => ({ address: d.address, namespace: 'cachekit-test', snapshotter: 'overlayfs' });

  it('builds a chain, survives a reopen that names no snapshotter, and prunes it leaving no lease behind', async () => {
    const root = fx.root();
    const cm = await openCacheManager({ root, snapshotter: { containerd: where() } });
    const base = await cm.new(null, { description: 'base' });
    const m = await base.mount();
    writeFileSync(join(m.path, 'hello'), 'from containerd');
    await m.release();
    const baseRef = await base.commit();
    const child = await cm.new(baseRef, { description: 'child' });
    const cmnt = await child.mount();
    expect(readFileSync(join(cmnt.path, 'hello'), 'utf8')).toBe('from containerd');
    await cmnt.release();
    const childRef = await child.commit();
    await childRef.release();
    await baseRef.release();
    await cm.close();

    // The root remembers where its snapshots live.
    const again = await openCacheManager({ root });
    expect(again.startup.repairs).toEqual([]);
    expect((await again.diskUsage()).map((u) => u.description).sort()).toEqual(['base', 'child']);
    const pruned = await lastValueFrom(again.prune({ all: true }).pipe(toArray()));
    expect(pruned.map((r) => r.description)).toEqual(['child', 'base']);
    await again.close();

    const sn = await ContainerdSnapshotter.open(where());
    try {
      expect((await sn.listLeases()).filter((l) => l.kind === 'held')).toEqual([]);
    } finally {
      await sn.close();
    }
  });

  it('the CLI makes a containerd root with --snapshotter containerd, and later commands find it by the root alone', async () => {
    const root = fx.root();
    const bin = join(import.meta.dirname, '../../bin/cachekit.mjs');
    const run = (...args: string[]) => execFileSync('node', [bin, ...args], { encoding: 'utf8' });
    run('demo', '--root', root, '--snapshotter', 'containerd', '--containerd-address', d.address);
    const usage = JSON.parse(run('du', '--root', root, '--format', 'json')) as { description?: string }[];
    expect(usage.map((u) => u.description)).toContain('FROM debian:bookworm-slim');
    const sn = await ContainerdSnapshotter.open({ ...where(), namespace: 'cachekit' });
    try {
      expect((await sn.listLeases()).filter((l) => l.kind === 'held').length).toBe(usage.length);
    } finally {
      await sn.close();
    }
  });

  it('refuses another namespace for a root made with one, and a lease with no snapshot is released at start-up', async () => {
    const root = fx.root();
    const cm = await openCacheManager({ root, snapshotter: { containerd: where() } });
    await (await (await cm.new(null)).commit()).release();
    await cm.close();
    const other = await openCacheManager({
      root,
      snapshotter: { containerd: { ...where(), namespace: 'elsewhere' } },
    }).catch((e: unknown) => e);
    expect(isCacheError(other, 'INVALID')).toBe(true);
    expect((other as Error).message).toContain('cachekit-test');

    // A removal that crashed after Remove but before deleting the lease leaves an empty held lease.
    const strayLease = heldLeaseId('overlayfs', 'committed/gone');
    const raw = new ContainerdRpc(d.address);
    try {
      await raw.lease(
        'Create',
        { id: strayLease, labels: { [LABEL_GC_FLAT]: 'true', [LABEL_SNAPSHOTTER]: 'overlayfs' } },
        { namespace: 'cachekit-test', timeoutMs: 10_000 },
      );
    } finally {
      raw.close();
    }
    const reopened = await openCacheManager({ root });
    const released = reopened.startup.repairs.filter((r) => r.action === 'released-orphan-lease');
    await reopened.close();
    expect(released.map((r) => r.detail)).toEqual([`containerd lease ${strayLease} held no snapshot`]);
    const sn = await ContainerdSnapshotter.open(where());
    try {
      expect((await sn.listLeases()).map((l) => l.id)).not.toContain(strayLease);
    } finally {
      await sn.close();
    }
  });
});
