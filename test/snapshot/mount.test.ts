import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { compactOverlayOptions, MountError, mountAll, unmount, withMount } from '../../src/snapshot/mount.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cachekit-mount-test-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

it('leaves short overlay options alone and makes long lowerdir lists relative to their common directory', () => {
  const short = ['lowerdir=/a/1/fs:/a/2/fs', 'upperdir=/a/3/fs'];
  expect(compactOverlayOptions(short)).toEqual({ options: short });
  const lowers = Array.from({ length: 200 }, (_, i) => `/var/lib/cachekit/snapshots/${i}/fs`);
  const long = ['index=on', 'workdir=/w', 'upperdir=/u', `lowerdir=${lowers.join(':')}`];
  const { options, cwd } = compactOverlayOptions(long);
  expect(cwd).toBe('/var/lib/cachekit/snapshots');
  expect(options.slice(0, 3)).toEqual(long.slice(0, 3));
  expect(options[3]).toBe(`lowerdir=${lowers.map((_, i) => `${i}/fs`).join(':')}`);
});

it('bind mounts read-only with a remount, and withMount unmounts even when fn throws', async () => {
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'f'), 'hello');
  let seen = '';
  await expect(
    withMount([{ type: 'bind', source: join(dir, 'src'), options: ['rbind', 'ro'] }], async (root) => {
      seen = root;
      expect(await readFile(join(root, 'f'), 'utf8')).toBe('hello');
      await expect(writeFile(join(root, 'g'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      throw new Error('boom');
    }),
  ).rejects.toThrow('boom');
  expect(existsSync(seen)).toBe(false);
  await writeFile(join(dir, 'src', 'g'), 'writable again at the source');
});

it('reports a refused mount as a MountError with mount(8)’s reason, leaving nothing mounted', async () => {
  await mkdir(join(dir, 'target'));
  const err = await mountAll(
    [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${join(dir, 'missing')}`] }],
    join(dir, 'target'),
  ).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MountError);
  expect((err as MountError).message).toMatch(/mount at .*target/);
  await expect(unmount(join(dir, 'target'))).rejects.toBeInstanceOf(MountError);
});
