/**
 * containerd's garbage collector against a live cache manager: GC running while records are held,
 * mounted, frozen, retained or committed loses none of them (each is held by its own lease); and the
 * manager's own background GC policy removes through containerd, leaving no lease behind.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CacheEvent, type CacheManager, openCacheManager } from '../../src/index.js';
import { ContainerdSnapshotter } from '../../src/snapshot/containerd/containerd-snapshotter.js';
import { ContainerdRpc } from '../../src/snapshot/containerd/rpc.js';
import { namespaceProblems } from './containerd-consistency.js';
import { CONTAINERD_SNAPSHOTTER, cacheFixture, containerdSkip, namespaceFor, sharedContainerd } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs containerd's GC now: a lease deleted with sync makes the daemon collect before it answers. */
async function runContainerdGc(address: string, namespace: string): Promise<void> {
  const rpc = new ContainerdRpc(address);
  try {
    const id = `gc-now-${Date.now()}`;
    await rpc.lease('Create', { id, labels: {} }, { namespace, timeoutMs: 30_000 });
    await rpc.lease('Delete', { id, sync: true }, { namespace, timeoutMs: 120_000 });
  } finally {
    rpc.close();
  }
}

async function write(cm: CacheManager, parent: Parameters<CacheManager['new']>[0], text: string, retain = false) {
  const mut = await cm.new(parent, { description: text, retain });
  const m = await mut.mount();
  writeFileSync(join(m.path, text), text);
  await m.release();
  return mut;
}

describe.skipIf(containerdSkip !== undefined)(
  `containerd's GC and the cache manager${containerdSkip ? ` (skipped: ${containerdSkip})` : ''}`,
  () => {
    const fx = cacheFixture('containerd');

    it('GC while records are held, mounted, frozen, retained and committed loses nothing', async () => {
      const d = await sharedContainerd();
      const root = fx.root();
      const where = { address: d.address, namespace: namespaceFor(root), snapshotter: CONTAINERD_SNAPSHOTTER };
      // Transient leases that expire at once: nothing of a record may depend on one.
      const cm = await openCacheManager({
        root,
        snapshotter: { containerd: { ...where, transientLeaseTtlMs: 1_000 } },
      });
      const base = await (await write(cm, null, 'base')).commit();
      // A child finalizes the base: committed, held by a ref and parent of a committed child.
      const middle = await (await write(cm, base, 'middle')).commit();
      const top = await write(cm, middle, 'top'); // held mutable on a committed chain
      const topMount = await top.mount();
      const frozen = await (await write(cm, null, 'frozen')).commit();
      await frozen.release(); // frozen, released, never finalized
      const kept = await write(cm, null, 'kept', true);
      await kept.release(); // retained idle mutable
      const reading = await base.mount({ readonly: true }); // a view, mounted while GC runs

      await sleep(2_100); // gc.expire has whole seconds: every transient lease has expired
      await runContainerdGc(d.address, where.namespace);
      const sn = await ContainerdSnapshotter.open(where);
      try {
        expect(await namespaceProblems(cm, sn, { quiet: false })).toEqual([]);
        // The mounts GC ran under still show their content, and the mutable one still takes writes.
        expect(readFileSync(join(reading.path, 'base'), 'utf8')).toBe('base');
        writeFileSync(join(topMount.path, 'after-gc'), 'x');
        expect(readFileSync(join(topMount.path, 'middle'), 'utf8')).toBe('middle');
        await reading.release();
        await topMount.release();
        const topRef = await top.commit();
        for (const [id, files] of [
          [base.id, ['base']],
          [middle.id, ['base', 'middle']],
          [topRef.id, ['base', 'middle', 'top', 'after-gc']],
          [frozen.id, ['frozen']],
        ] as const) {
          const ref = await cm.get(id);
          const m = await ref.mount({ readonly: true });
          for (const f of files)
            expect(readFileSync(join(m.path, f), 'utf8'), `${id} ${f}`).toBe(f === 'after-gc' ? 'x' : f);
          await m.release();
          await ref.release();
        }
        const again = await cm.getMutable(kept.id);
        const km = await again.mount();
        expect(readFileSync(join(km.path, 'kept'), 'utf8')).toBe('kept');
        await km.release();
        await again.release();
        for (const r of [topRef, middle, base]) await r.release();
        // Once more with nothing in flight: everything is still held by its own lease.
        await runContainerdGc(d.address, where.namespace);
        expect(await namespaceProblems(cm, sn)).toEqual([]);
        await cm.close();
        const reopened = await fx.open(root);
        expect(reopened.startup.repairs).toEqual([]);
        expect((await reopened.diskUsage()).length).toBe(5);
      } finally {
        await sn.close();
      }
    });

    it("the manager's background GC policy removes through containerd and leaves no lease behind", async () => {
      const root = fx.root();
      const d = await sharedContainerd();
      const where = { address: d.address, namespace: namespaceFor(root), snapshotter: CONTAINERD_SNAPSHOTTER };
      const cm = await openCacheManager({
        root,
        snapshotter: { containerd: where },
        gcPolicy: [{ all: true }],
        gcInitialDelay: 50,
        gcInterval: 200,
      });
      let droppedId = '';
      try {
        const events: CacheEvent[] = [];
        cm.events$.subscribe((e) => events.push(e));
        const kept = await (await write(cm, null, 'kept')).commit();
        const dropped = await (await write(cm, null, 'dropped')).commit();
        droppedId = dropped.id;
        await dropped.release();
        for (let i = 0; i < 250 && !events.some((e) => e.type === 'gc.done' && e.removed > 0); i++) await sleep(20);
        expect(events).toContainEqual(expect.objectContaining({ type: 'prune.removed', id: dropped.id }));
        expect(cm.describe(kept.id).state).toBe('frozen.held');
        await kept.release();
      } finally {
        await cm.close();
      }
      const sn = await ContainerdSnapshotter.open(where);
      try {
        // What is left is at most the kept record (the policy may take it after its release), held by its lease.
        const held = (await sn.listLeases()).filter((l) => l.kind === 'held');
        const names: string[] = [];
        await sn.walk((i) => void names.push(i.name));
        expect(held.flatMap((l) => l.snapshots).sort()).toEqual(names.sort());
        expect(held.filter((l) => l.snapshots.length === 0)).toEqual([]);
        expect(names.filter((n) => n.includes(droppedId))).toEqual([]);
      } finally {
        await sn.close();
      }
    });

    it("a snapshot containerd's GC left a dangling child entry on is still removed (containerd issue 11908)", async () => {
      const d = await sharedContainerd();
      const namespace = namespaceFor(fx.root());
      const sn = await ContainerdSnapshotter.open({
        address: d.address,
        namespace,
        snapshotter: CONTAINERD_SNAPSHOTTER,
      });
      const rpc = new ContainerdRpc(d.address);
      try {
        await sn.prepare('active/parent');
        await sn.commit('committed/parent', 'active/parent');
        // A child made under a lease of its own; GC collects it when that lease goes, but containerd 1.6's
        // GC does not unlink it from its parent, so Remove then refuses the parent "with child".
        const call = { namespace, timeoutMs: 30_000 };
        await rpc.lease('Create', { id: 'phantom-child', labels: {} }, call);
        await rpc.snapshot(
          'Prepare',
          { snapshotter: CONTAINERD_SNAPSHOTTER, key: 'someone-else/child', parent: 'committed/parent', labels: {} },
          { ...call, lease: 'phantom-child' },
        );
        await rpc.lease('Delete', { id: 'phantom-child', sync: true }, { namespace, timeoutMs: 120_000 });
        const listed: string[] = [];
        await sn.walk((i) => void listed.push(i.name));
        expect(listed).toEqual(['committed/parent']);
        const refused = await rpc
          .snapshot('Remove', { snapshotter: CONTAINERD_SNAPSHOTTER, key: 'committed/parent' }, call)
          .then(
            () => 'removed',
            (e: unknown) => String(e),
          );
        // Where containerd unlinks the child itself, there is nothing to work around: say so and stop.
        if (refused === 'removed') {
          console.log('this containerd unlinks a collected child from its parent: nothing to work around');
          return;
        }
        expect(refused).toMatch(/with child/);
        await sn.remove('committed/parent');
        await expect(sn.stat('committed/parent')).rejects.toMatchObject({ code: 'NOT_FOUND' });
        expect(await sn.listLeases()).toEqual([]);
      } finally {
        rpc.close();
        await sn.close();
      }
    });
  },
);
