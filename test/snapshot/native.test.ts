import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NativeSnapshotter } from '../../src/snapshot/native/native-snapshotter.js';
import { snapshotterConformance } from './conformance.js';
import { useHarness } from './helpers.js';

snapshotterConformance('NativeSnapshotter', (root) => NativeSnapshotter.open(root));

describe('NativeSnapshotter layout', () => {
  const h = useHarness((root) => NativeSnapshotter.open(root));
  const dir = (id: number) => join(h.root, 'snapshots', String(id));

  it('binds actives read-write and views of a committed parent read-only without copying', async () => {
    const a = await h.sn.prepare('a');
    expect(a).toEqual([{ type: 'bind', source: dir(1), options: ['rbind', 'rw'] }]);
    await writeFile(join(dir(1), 'f'), 'x'.repeat(100_000));
    await h.sn.commit('c', 'a');
    expect(await h.sn.view('v', 'c')).toEqual([{ type: 'bind', source: dir(1), options: ['rbind', 'ro'] }]);
    expect(await readdir(dir(2))).toEqual([]);
    expect(await h.sn.usage('v')).toEqual({ size: 4096, inodes: 1 });
    expect(await h.sn.view('v0')).toEqual([{ type: 'bind', source: dir(3), options: ['rbind', 'ro'] }]);
    expect(await h.sn.prepare('copy', 'c')).toEqual([{ type: 'bind', source: dir(4), options: ['rbind', 'rw'] }]);
    expect(await readdir(dir(4))).toEqual(['f']);
  });

  it('stores usage at commit', async () => {
    const [m] = await h.sn.prepare('a');
    await writeFile(join(m!.source, 'f'), 'x'.repeat(100_000));
    await h.sn.commit('c', 'a');
    const stored = await h.sn.usage('c');
    // Writing behind the snapshotter's back does not change the committed number.
    await writeFile(join(m!.source, 'g'), 'y'.repeat(100_000));
    expect(await h.sn.usage('c')).toEqual(stored);
  });
});
