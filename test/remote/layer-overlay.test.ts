import { lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAttribute } from '@napi-rs/xattr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, diffOverlayUpper, OVERLAY_OPAQUE_XATTR, writeLayer } from '../../src/remote/layer/index.js';
import { diffDirs } from '../snapshot/tree-compare.js';
import { copyTree, createReadStream, createWriteStream, exec, listLayer, makeParent } from './layer-fixtures.js';

async function overlayUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'overlay mounts need root';
  const dir = await mkdtemp(join(tmpdir(), 'cachekit-ovl-probe-'));
  try {
    for (const d of ['l', 'u', 'w', 'm']) await mkdir(join(dir, d));
    await exec('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`,
      `${dir}/m`,
    ]);
    await exec('umount', [`${dir}/m`]);
    return undefined;
  } catch (err) {
    return `overlay mount failed: ${(err as Error).message}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const unavailable = await overlayUnavailable();
if (unavailable !== undefined) console.warn(`overlay layer tests skipped: ${unavailable}`);

let work: string;
const mounted: string[] = [];
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'cachekit-ovl-'));
});
afterEach(async () => {
  for (const m of mounted.splice(0)) await exec('umount', [m]).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

async function mountOverlay(lower: string, upper: string, name: string): Promise<string> {
  const workdir = join(work, `${name}-work`);
  const merged = join(work, `${name}-merged`);
  await mkdir(workdir);
  await mkdir(merged);
  await exec('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${upper},workdir=${workdir}`,
    merged,
  ]);
  mounted.push(merged);
  return merged;
}

describe.skipIf(unavailable !== undefined)('overlay upper directory as a layer', () => {
  it('converts overlay whiteouts and opaque dirs to OCI form, and back', async () => {
    const lower = join(work, 'lower');
    await mkdir(lower);
    await makeParent(lower);
    const upper = join(work, 'upper');
    await mkdir(upper);
    const merged = await mountOverlay(lower, upper, 'a');
    await rm(join(merged, 'etc/conf.d/remove-me'));
    await rm(join(merged, 'var/cache'), { recursive: true });
    await mkdir(join(merged, 'var/cache'));
    await writeFile(join(merged, 'var/cache/fresh'), 'new\n');
    await writeFile(join(merged, 'etc/hosts'), 'changed\n');
    await mkdir(join(merged, 'empty'));

    const upperWhiteout = await lstat(join(upper, 'etc/conf.d/remove-me'));
    expect(upperWhiteout.isCharacterDevice() && upperWhiteout.rdev === 0).toBe(true);

    const blob = join(work, 'layer.tar.gz');
    const info = await writeLayer(diffOverlayUpper(upper), createWriteStream(blob), { compression: 'gzip' });
    const entries = await listLayer(blob, 'gzip');
    expect(entries.get('etc/conf.d/.wh.remove-me')).toBe('file');
    expect(entries.get('var/cache/.wh..wh..opq')).toBe('file');
    expect(entries.has('var/cache/pkgs')).toBe(false);

    // Native form: whiteouts delete from a copy of the lower tree, which then equals the merged view.
    const native = join(work, 'native');
    await copyTree(lower, native);
    await applyLayer(createReadStream(blob), native, { compression: 'gzip', diffId: info.diffId });
    expect(await diffDirs(native, merged)).toEqual([]);

    // Overlay form: a fresh upper directory that, mounted on the same lower, shows the same tree.
    const upper2 = join(work, 'upper2');
    await mkdir(upper2);
    await applyLayer(createReadStream(blob), upper2, { compression: 'gzip', whiteouts: 'overlay' });
    const wh = await lstat(join(upper2, 'etc/conf.d/remove-me'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect((await getAttribute(join(upper2, 'var/cache'), OVERLAY_OPAQUE_XATTR))?.toString()).toBe('y');
    const merged2 = await mountOverlay(lower, upper2, 'b');
    expect(await diffDirs(merged2, merged)).toEqual([]);
  });
});
