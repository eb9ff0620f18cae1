import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { MetadataStore } from '../../src/metadata/store.js';
import { isCacheError, type ReconcileAction } from '../../src/index.js';
import { heldLeaseId } from '../../src/snapshot/containerd/leases.js';
import { CONTAINERD_SNAPSHOTTER, cacheFixture, SNAPSHOTTERS } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/busy-owner.ts');

/** Runs the fixture in a child process that keeps creating records until it is killed. */
function busyOwner(root: string, mode: 'hold' | 'churn'): Promise<{ kill(): Promise<void> }> {
  const child = spawn('node', ['--import', 'tsx', FIXTURE, root, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready'))
        resolve({
          kill: () =>
            new Promise((done) => {
              child.once('exit', () => done());
              child.kill('SIGKILL');
            }),
        });
    });
    child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}`)));
  });
}

const actions = (repairs: { action: ReconcileAction; id?: string }[]) => repairs.map((r) => r.action).sort();

for (const { kind, skip } of SNAPSHOTTERS)
  describe.skipIf(skip)(`start-up reconciliation (${kind})`, () => {
    const fx = cacheFixture(kind);

    it('removes snapshots with no record, drops records whose snapshot is gone with their children', async () => {
      const root = fx.root();
      let cm = await fx.open(root);
      const parent = await (await cm.new(null, { retain: true })).commit();
      await parent.finalize();
      const child = await (await cm.new(parent)).commit();
      const other = await (await cm.new(null, { retain: true })).commit();
      for (const r of [child, parent, other]) await r.release();
      await cm.close();
      // Stage: an orphan snapshot, and the parent's snapshot gone behind the manager's back.
      const snap = await fx.snapshots(root);
      await snap.prepare('active/nobody-owns-this');
      await snap.remove(`active/${child.id}`);
      await snap.remove(`committed/${parent.id}`);
      await snap.close();
      cm = await fx.open(root);
      expect(actions(cm.startup.repairs)).toEqual(
        ['dropped-missing-snapshot', 'dropped-missing-snapshot', 'removed-orphan-snapshot'].sort(),
      );
      expect((await cm.diskUsage()).map((u) => u.id)).toEqual([other.id]);
      // On containerd the removed orphan's lease went with it: only the kept record's snapshot is held.
      if (kind === 'containerd')
        expect((await fx.leftovers(root)).sort()).toEqual(
          [`active/${other.id}`, `lease ${heldLeaseId(CONTAINERD_SNAPSHOTTER, `active/${other.id}`)}`].sort(),
        );
      await expect(cm.get(parent.id)).rejects.toSatisfy(
        (e) => isCacheError(e, 'NOT_FOUND') && e.message.includes(parent.id),
      );
    });

    it('repairs a frozen record whose snapshot commit finished before a crash', async () => {
      const root = fx.root();
      let cm = await fx.open(root);
      const imm = await (await cm.new(null, { retain: true })).commit();
      await imm.release();
      await cm.close();
      const snap = await fx.snapshots(root);
      await snap.commit(`committed/${imm.id}`, `active/${imm.id}`);
      await snap.close();
      cm = await fx.open(root);
      expect(cm.startup.repairs).toEqual([expect.objectContaining({ action: 'repaired-commit', id: imm.id })]);
      // Subscribers, who cannot subscribe before open returns, receive the repairs first.
      const first = await firstValueFrom(cm.events$);
      expect(first).toMatchObject({ type: 'reconcile', action: 'repaired-commit', id: imm.id });
      expect(cm.describe(imm.id).state).toBe('committed.released');
      // A committed record can never be mutable again.
      await expect(cm.getMutable(imm.id)).rejects.toSatisfy(
        (e) => isCacheError(e, 'INVALID') && e.message.includes(imm.id),
      );
    });

    it('keeps a corrupt record untouched and reports it, with its snapshot', async () => {
      const root = fx.root();
      let cm = await fx.open(root);
      const imm = await (await cm.new(null, { retain: true })).commit();
      await imm.release();
      await cm.close();
      const store = await MetadataStore.open(join(root, 'metadata'));
      await store.putRaw(imm.id, { id: imm.id, state: 'exploded' });
      await store.close();
      cm = await fx.open(root);
      expect(cm.startup.repairs).toEqual([expect.objectContaining({ action: 'kept-corrupt-record', id: imm.id })]);
      expect(cm.startup.repairs[0]!.detail).toMatch(/state/);
      // Like BuildKit, a record whose metadata cannot be read is not part of the cache: nothing can get it.
      const err = await cm.get(imm.id).catch((e: unknown) => e);
      expect(isCacheError(err, 'NOT_FOUND'), String(err)).toBe(true);
      expect((err as Error).message).toContain(imm.id);
      expect((await cm.diskUsage()).map((u) => u.id)).toEqual([]);
      await cm.close();
      const check = await MetadataStore.open(join(root, 'metadata'));
      expect(() => check.get(imm.id)).toThrow(/corrupt/);
      await check.close();
    });
  });

describe('start-up reconciliation after a kill (native)', () => {
  const fx = cacheFixture('native');

  it('a killed owner leaves a root that the next open makes consistent', async () => {
    const root = fx.root();
    const owner = await busyOwner(root, 'churn');
    await new Promise((r) => setTimeout(r, 1500));
    await owner.kill();
    const cm = await fx.open(root);
    const usage = await cm.diskUsage({ strict: true });
    // Unretained mutable records of the dead process are gone; what is left is frozen and sized for real.
    expect(usage.length).toBeGreaterThan(0);
    for (const u of usage) expect(u.mutable).toBe(false);
    const snapshots = readdirSync(join(root, 'snapshots', 'snapshots'));
    expect(snapshots.filter((d) => !/^\d+$/.test(d))).toEqual([]);
    expect(snapshots).toHaveLength(usage.length);
    expect(
      cm.startup.repairs.every((r) =>
        ['removed-unretained-mutable', 'removed-orphan-snapshot', 'completed-removal'].includes(r.action),
      ),
    ).toBe(true);
  });

  it('a second opener in another process gets LOCKED naming the root; a dead owner is taken over', async () => {
    const root = fx.root();
    const owner = await busyOwner(root, 'hold');
    const err = await fx.open(root).catch((e: unknown) => e);
    expect(isCacheError(err, 'LOCKED')).toBe(true);
    expect((err as Error).message).toContain(root);
    await owner.kill();
    expect(existsSync(join(root, 'LOCK'))).toBe(true);
    const cm = await fx.open(root);
    expect(cm.status().status).toBe('ready');
  });

  it('start-up deletes half-made snapshot directories', async () => {
    const root = fx.root();
    let cm = await fx.open(root);
    await cm.close();
    const leftover = join(root, 'snapshots', 'snapshots', 'new-999');
    writeFileSync(leftover, 'half made');
    cm = await fx.open(root);
    expect(existsSync(leftover)).toBe(false);
    rmSync(leftover, { force: true });
  });
});
