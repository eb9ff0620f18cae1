import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MetadataStore } from '../../src/metadata/store.js';
import { NativeSnapshotter } from '../../src/index.js';
// The built-in local kinds: this suite reads or writes their on-disk format (containerd gets the full check always).
import { cacheFixture, LOCAL_SNAPSHOTTERS as SNAPSHOTTERS } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/busy-owner.ts');

/** An owner in another process, killed with SIGKILL once it has started making records. */
function killedOwner(root: string): Promise<void> {
  const child = spawn('node', ['--import', 'tsx', FIXTURE, root, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('ready')) return;
      child.removeAllListeners('exit');
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    child.once('exit', (code) => reject(new Error(`owner exited early with ${code}`)));
  });
}

for (const { kind, skip } of SNAPSHOTTERS) {
  describe.skipIf(skip)(`clean-shutdown mark (${kind})`, () => {
    const fx = cacheFixture(kind);

    it('a clean close lets the next open skip the full check; that open serves the same records', async () => {
      const root = fx.root();
      let cm = await fx.open(root);
      expect(cm.startup.check).toBe('full');
      const kept = await (await cm.new(null, { retain: true, description: 'kept' })).commit();
      await kept.finalize();
      const child = await (await cm.new(kept, { description: 'child' })).commit();
      await child.release();
      await kept.release();
      await cm.close();
      cm = await fx.open(root);
      expect(cm.startup.check).toBe('clean-shutdown');
      expect(cm.startup.records).toBe(2);
      expect((await cm.diskUsage()).map((u) => u.id).sort()).toEqual([kept.id, child.id].sort());
      expect(cm.describe(kept.id)).toMatchObject({ state: 'committed.released', children: 1 });
      // The mark is used once: while this owner runs there is none, so a crash now means a full check.
      const store = await MetadataStore.open(join(root, 'metadata'), { readOnly: true });
      expect(store.setting('cleanShutdown') ?? null).toBeNull();
      await store.close();
      await cm.close();
    });

    it('with no mark (an owner killed with -9) the next open checks every record', async () => {
      const root = fx.root();
      const cm = await fx.open(root);
      await cm.close();
      await killedOwner(root);
      const after = await fx.open(root);
      expect(after.startup.check).toBe('full');
    });
  });
}

describe('clean-shutdown mark, changes made after the close', () => {
  const fx = cacheFixture('native');

  it('snapshots changed behind a clean close are found by a full check', async () => {
    const root = fx.root();
    let cm = await fx.open(root);
    const refs = [];
    for (let i = 0; i < 3; i++) refs.push(await (await cm.new(null, { retain: true })).commit());
    for (const r of refs) await r.finalize();
    for (const r of refs) await r.release();
    const gone = refs[0]!;
    await cm.close();
    const snap = await NativeSnapshotter.open(join(root, 'snapshots'));
    await snap.remove(`committed/${gone.id}`);
    await snap.close();
    cm = await fx.open(root);
    expect(cm.startup.check).toBe('full');
    expect(cm.startup.repairs).toEqual([expect.objectContaining({ action: 'dropped-missing-snapshot', id: gone.id })]);
  });

  it('any metadata write behind a clean close, even a harmless one, means a full check', async () => {
    const root = fx.root();
    let cm = await fx.open(root);
    const kept = await (await cm.new(null, { retain: true, description: 'before' })).commit();
    await kept.release();
    await cm.close();
    const store = await MetadataStore.open(join(root, 'metadata'));
    await store.write([{ put: { ...store.get(kept.id)!, description: 'after' } }]);
    await store.close();
    cm = await fx.open(root);
    expect(cm.startup.check).toBe('full');
    expect(cm.describe(kept.id).metadata.description).toBe('after');
  });

  it('a record marked removing behind a clean close is finished by a full check', async () => {
    const root = fx.root();
    let cm = await fx.open(root);
    const doomed = await (await cm.new(null, { retain: true })).commit();
    await doomed.release();
    await cm.close();
    const store = await MetadataStore.open(join(root, 'metadata'));
    await store.write([{ put: { ...store.get(doomed.id)!, state: 'removing' } }]);
    await store.close();
    cm = await fx.open(root);
    expect(cm.startup.check).toBe('full');
    expect(cm.startup.repairs).toEqual([expect.objectContaining({ action: 'completed-removal', id: doomed.id })]);
  });
});
