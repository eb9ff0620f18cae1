import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, type Compression, diffTrees, writeLayer } from '../../src/remote/layer/index.js';
import { diffDirs } from '../snapshot/tree-compare.js';
import {
  changeChild,
  copyTree,
  createReadStream,
  createWriteStream,
  listLayer,
  makeParent,
  mtimes,
} from './layer-fixtures.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cachekit-layer-'));
});
afterEach(async () => rm(work, { recursive: true, force: true }));

async function parentAndChild() {
  const parent = join(work, 'parent');
  const child = join(work, 'child');
  await mkdir(parent);
  await makeParent(parent);
  await copyTree(parent, child);
  await changeChild(child);
  return { parent, child };
}

describe('native layer round trip: diff -> tar -> apply onto a copy of the parent', () => {
  it.each<Compression>(['gzip', 'zstd', 'uncompressed'])(
    'reproduces the child tree exactly (%s)',
    async (compression) => {
      const { parent, child } = await parentAndChild();
      const blob = join(work, 'layer.blob');
      const info = await writeLayer(diffTrees(child, parent), createWriteStream(blob), { compression });
      expect(info.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(info.mediaType).toBe(
        compression === 'uncompressed'
          ? 'application/vnd.oci.image.layer.v1.tar'
          : `application/vnd.oci.image.layer.v1.tar+${compression}`,
      );
      if (compression === 'uncompressed') expect(info.diffId).toBe(info.digest);
      else expect(info.size).toBeLessThan(info.uncompressedSize);

      const target = join(work, 'target');
      await copyTree(parent, target);
      const applied = await applyLayer(createReadStream(blob), target, { compression, diffId: info.diffId });
      expect(applied.diffId).toBe(info.diffId);
      expect(await diffDirs(target, child)).toEqual([]);
      expect(await mtimes(target)).toEqual(await mtimes(child));
    },
  );

  it('records deletions as OCI whiteouts and leaves unchanged files out', async () => {
    const { parent, child } = await parentAndChild();
    const blob = join(work, 'layer.tar');
    await writeLayer(diffTrees(child, parent), createWriteStream(blob), { compression: 'uncompressed' });
    const entries = await listLayer(blob, 'uncompressed');
    expect(entries.get('etc/conf.d/.wh.remove-me')).toBe('file');
    expect(entries.get('var/.wh.cache')).toBe('file');
    expect(entries.has('var/cache/pkgs/p0')).toBe(false);
    expect(entries.has('etc/conf.d/keep') || process.getuid?.() !== 0).toBe(true);
    expect(entries.has('script.sh')).toBe(true);
    expect(entries.has('shared-a')).toBe(true);
    expect(entries.get('empty/nested-empty')).toBe('directory');
    expect(entries.get('becomes-file')).toBe('file');
    expect(entries.get('becomes-dir')).toBe('directory');
    // Hard links inside the layer are tar links to the first path of the inode.
    expect(entries.get('bin/tool')).toBe('file');
    expect(entries.get('bin/tool-alias')).toBe('link:bin/tool');
    expect(entries.get('etc/tool-too')).toBe('link:bin/tool');
    expect(entries.has('etc/conf.d/.wh.keep')).toBe(false);
  });

  it('a record without a parent is its whole tree; an unchanged child is an empty layer', async () => {
    const { parent } = await parentAndChild();
    const full = join(work, 'full.tar');
    await writeLayer(diffTrees(parent, undefined), createWriteStream(full), { compression: 'uncompressed' });
    const target = join(work, 'from-scratch');
    await mkdir(target);
    await applyLayer(createReadStream(full), target, { compression: 'uncompressed' });
    expect(await diffDirs(target, parent)).toEqual([]);

    const same = join(work, 'same');
    await copyTree(parent, same);
    const info = await writeLayer(diffTrees(same, parent), createWriteStream(join(work, 'empty.tar')), {
      compression: 'uncompressed',
    });
    expect(info.entries).toBe(0);
  });

  it('a file changed after its lstat fails the layer with a typed error', async () => {
    const dir = join(work, 'd');
    await mkdir(dir);
    await writeFile(join(dir, 'grows'), 'short');
    const changes = (async function* () {
      for await (const c of diffTrees(dir, undefined)) {
        await writeFile(join(dir, 'grows'), 'much longer than before');
        yield c;
      }
    })();
    await expect(writeLayer(changes, createWriteStream(join(work, 'x.tar')))).rejects.toMatchObject({
      name: 'LayerError',
      code: 'SOURCE_INVALID',
    });
  });
});

describe('change detection', () => {
  it('compares bytes when the mtime is whole seconds and the rest agrees', async () => {
    const parent = join(work, 'p');
    await mkdir(parent);
    const when = new Date('2021-05-06T07:08:09Z');
    for (const name of ['same', 'rewritten']) {
      await writeFile(join(parent, name), 'original');
      await utimes(join(parent, name), when, when);
    }
    const child = join(work, 'c');
    await copyTree(parent, child);
    await writeFile(join(child, 'rewritten'), 'ORIGINAL');
    await utimes(join(child, 'rewritten'), when, when);
    await utimes(child, (await stat(parent)).atime, (await stat(parent)).mtime);
    const blob = join(work, 'l.tar');
    await writeLayer(diffTrees(child, parent), createWriteStream(blob), { compression: 'uncompressed' });
    expect([...(await listLayer(blob, 'uncompressed')).keys()]).toEqual(['rewritten']);
  });
});
