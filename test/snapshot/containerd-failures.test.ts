import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import { LABEL_GC_EXPIRE, LABEL_GC_FLAT, expiryLabel } from '../../src/snapshot/containerd/leases.js';
import { ContainerdRpc } from '../../src/snapshot/containerd/rpc.js';
import { isSnapshotError, isSnapshotUnavailable } from '../../src/snapshot/errors.js';
import { type ContainerdDaemon, containerdSkipReason, startContainerd } from './containerd-daemon.js';
import { committed, expectCode, names } from './helpers.js';

const skip = containerdSkipReason();
if (skip !== undefined) console.warn(`ContainerdSnapshotter failure tests skipped: ${skip}`);

const NS = 'failures';
const SNAPSHOTTER = 'overlayfs';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe.skipIf(skip !== undefined)(`ContainerdSnapshotter failures and GC${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let d: ContainerdDaemon;
  let sn: ContainerdSnapshotter;
  let raw: ContainerdRpc;
  const call = { namespace: NS, timeoutMs: 10_000 };

  beforeEach(async () => {
    d = await startContainerd();
    sn = await ContainerdSnapshotter.open({ address: d.address, namespace: NS, snapshotter: SNAPSHOTTER });
    raw = new ContainerdRpc(d.address);
  });
  afterEach(async () => {
    raw.close();
    await sn.close();
    await d.dispose();
  });

  /** Retries a cheap call until the daemon answers again; only "unavailable" errors are tolerated. */
  const waitUntilUp = async (s: ContainerdSnapshotter = sn): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      try {
        await s.walk(() => undefined);
        return;
      } catch (err) {
        if (!isSnapshotUnavailable(err)) throw err;
        await sleep(100);
      }
    }
    throw new Error('containerd did not come back');
  };

  /** Snapshot keys held by cachekit's permanent leases. */
  const heldKeys = async (): Promise<Set<string>> =>
    new Set((await sn.listLeases()).filter((l) => l.kind === 'held').flatMap((l) => l.snapshots));

  it('gives typed errors while containerd is down and works again after it restarts, without reopening', async () => {
    await committed(sn, 'base', undefined, { keep: 'me' });
    await sn.prepare('work', 'base');
    await d.stop();
    const calls: [string, () => Promise<unknown>][] = [
      ['stat', () => sn.stat('base')],
      ['prepare', () => sn.prepare('during', 'base')],
      ['view', () => sn.view('during-view', 'base')],
      ['commit', () => sn.commit('top', 'work')],
      ['remove', () => sn.remove('work')],
      ['mounts', () => sn.mounts('work')],
      ['usage', () => sn.usage('base')],
      ['update', () => sn.update({ name: 'base', labels: { x: '1' } }, 'labels.x')],
      ['walk', () => sn.walk(() => undefined)],
      ['cleanup', () => sn.cleanup()],
    ];
    for (const [op, fn] of calls) {
      const err = await rejection(fn());
      expect(isSnapshotUnavailable(err), `${op}: ${String(err)}`).toBe(true);
      expect((err as Error).message).toContain(op);
      expect((err as Error).message).toMatch(/containerd/);
    }
    await d.start();
    await waitUntilUp();
    // Nothing was lost and nothing half-made is visible.
    expect(await names(sn)).toEqual(['base', 'work']);
    expect((await sn.stat('base')).labels).toEqual({ keep: 'me' });
    await sn.commit('top', 'work');
    await sn.view('v', 'top');
    expect(await names(sn)).toEqual(['base', 'top', 'v']);
    expect([...(await heldKeys())].sort()).toEqual(['base', 'top', 'v']);
  });

  it('keeps every prepare that resolved when containerd is killed under concurrent calls', async () => {
    await committed(sn, 'base');
    const keys = Array.from({ length: 30 }, (_, i) => `k-${i}`);
    const results = await Promise.allSettled(
      keys.map(async (k, i) => {
        if (i === 10) void d.kill();
        return sn.prepare(k, 'base');
      }),
    );
    for (const r of results) {
      if (r.status === 'rejected')
        expect(isSnapshotUnavailable(r.reason) || isSnapshotError(r.reason), String(r.reason)).toBe(true);
    }
    await d.start();
    await waitUntilUp();
    const held = await heldKeys();
    const present = new Set(await names(sn));
    keys.forEach((k, i) => {
      // A prepare that resolved is there and held; one that failed may exist only if containerd made it.
      if (results[i]!.status === 'fulfilled') {
        expect(present.has(k), k).toBe(true);
        expect(held.has(k), k).toBe(true);
      }
    });
  });

  it('lets containerd GC collect a lease-less snapshot and one under an expired lease, never ours', async () => {
    await committed(sn, 'held');
    await sn.prepare('held-child', 'held');
    await sn.view('held-view', 'held');
    // Made behind cachekit's back: no lease at all.
    const loose = { snapshotter: SNAPSHOTTER, key: 'loose', parent: 'held', labels: {} };
    expect((await raw.snapshot('Prepare', loose, call)).mounts).toHaveLength(1);
    // What a crashed prepare leaves: a snapshot held only by a lease that expires. (A lease that has
    // already expired could be collected by containerd's own GC before the Prepare that uses it.)
    const expiresAt = new Date(Date.now() + 2000);
    const labels = { [LABEL_GC_FLAT]: expiryLabel(new Date()), [LABEL_GC_EXPIRE]: expiryLabel(expiresAt) };
    await raw.lease('Create', { id: 'crashed-prepare', labels }, call);
    await raw.snapshot(
      'Prepare',
      { snapshotter: SNAPSHOTTER, key: 'abandoned', parent: '', labels: {} },
      { ...call, lease: 'crashed-prepare' },
    );
    await sleep(expiresAt.getTime() + 1100 - Date.now());
    // containerd's own GC schedule may already have collected the two; cleanup() makes sure it ran.
    await sn.cleanup(); // runs containerd's GC synchronously
    expect(await names(sn)).toEqual(['held', 'held-child', 'held-view']);
    await expectCode(sn.stat('loose'), 'NOT_FOUND', 'stat', 'loose');
    // GC again with our snapshots only: still nothing lost, and they work.
    await sn.cleanup();
    await sn.commit('held-top', 'held-child');
    expect(await names(sn)).toEqual(['held', 'held-top', 'held-view']);
    const leases = await sn.listLeases();
    expect(leases.filter((l) => l.kind === 'transient')).toEqual([]);
    expect(leases.flatMap((l) => l.snapshots).sort()).toEqual(['held', 'held-top', 'held-view']);
    // Removing deletes the lease too.
    await sn.remove('held-view');
    expect((await sn.listLeases()).flatMap((l) => l.snapshots).sort()).toEqual(['held', 'held-top']);
  });

  it('after a kill -9 of the process, GC collects its unfinished work once the transient leases expire', async () => {
    const ttlMs = 1000;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/snapshot/containerd-crash-child.ts', d.address, NS, SNAPSHOTTER, String(ttlMs)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const done: string[] = [];
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    for await (const line of createInterface({ input: child.stdout })) {
      done.push(line);
      if (done.filter((l) => l.startsWith('layer-')).length >= 8) {
        child.kill('SIGKILL');
        break;
      }
    }
    await exited;
    const killedAt = Date.now();
    // gc.expire has whole seconds: wait until every transient lease of the child has expired.
    await sleep(Math.max(0, killedAt + ttlMs + 1500 - Date.now()));
    await sn.cleanup();
    const leases = await sn.listLeases();
    expect(leases.filter((l) => l.kind === 'transient')).toEqual([]);
    const held = new Set(leases.flatMap((l) => l.snapshots));
    const present = await names(sn);
    for (const k of present) expect(held.has(k), `${k} is held`).toBe(true);
    for (const k of done) expect(present, k).toContain(k);
    // The next open sees the same consistent state and can build on it.
    const again = await ContainerdSnapshotter.open({ address: d.address, namespace: NS, snapshotter: SNAPSHOTTER });
    try {
      expect(await names(again)).toEqual(present);
      const last = done.filter((l) => l.startsWith('layer-')).at(-1)!;
      await again.prepare('after-crash', last);
      expect((await again.stat('after-crash')).parent).toBe(last);
    } finally {
      await again.close();
    }
  });

  it('refuses bad options, an unknown snapshotter and a missing daemon at open, typed', async () => {
    const base = { address: d.address, namespace: NS, snapshotter: SNAPSHOTTER };
    await expectCode(ContainerdSnapshotter.open({ ...base, namespace: 'bad namespace!' }), 'INVALID_ARGUMENT', 'open');
    await expectCode(ContainerdSnapshotter.open({ ...base, timeoutMs: -1 }), 'INVALID_ARGUMENT', 'open');
    const unknown = await expectCode(
      ContainerdSnapshotter.open({ ...base, snapshotter: 'nosuchsnapshotter' }),
      'INVALID_ARGUMENT',
      'open',
    );
    expect(unknown.message).toContain('nosuchsnapshotter');
    const missing = await rejection(ContainerdSnapshotter.open({ ...base, address: `${d.dir}/nothing.sock` }));
    expect(isSnapshotUnavailable(missing), String(missing)).toBe(true);
  });

  it('sends the namespace on every call: another namespace sees none of it', async () => {
    await committed(sn, 'mine');
    const other = await ContainerdSnapshotter.open({
      address: d.address,
      namespace: 'other',
      snapshotter: SNAPSHOTTER,
    });
    try {
      expect(await names(other)).toEqual([]);
      await expectCode(other.stat('mine'), 'NOT_FOUND', 'stat', 'mine');
      await committed(other, 'mine'); // the same key is free there
      expect(await other.listLeases()).toHaveLength(1);
    } finally {
      await other.close();
    }
    expect(await names(sn)).toEqual(['mine']);
  });
});
