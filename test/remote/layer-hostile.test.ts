import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { type Header, pack as tarPack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, isLayerError, type LayerErrorCode } from '../../src/remote/layer/index.js';

type Entry = Partial<Header> & { name: string; body?: string };

/** A tar built in memory with tar-stream, as a hostile registry could serve it. */
async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, body ?? (header.type === undefined || header.type === 'file' ? '' : undefined!), (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A single ustar header whose size field claims `size` bytes, followed by almost no data. */
function hugeHeaderTar(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  // GNU base-256: a leading 0x80 byte, then the size big-endian, for sizes past ustar's 8 GiB.
  h[124] = 0x80;
  h.writeUIntBE(Math.floor(size / 2 ** 32), 124 + 4, 4);
  h.writeUInt32BE(size % 2 ** 32, 124 + 8);
  h.write('00000000000\0', 136);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return Buffer.concat([h, Buffer.alloc(4096)]);
}

let sandbox: string;
let target: string;
let outside: string;
beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'cachekit-hostile-'));
  target = join(sandbox, 'a', 'b', 'target');
  outside = join(sandbox, 'outside');
  await mkdir(target, { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'precious'), 'do not touch');
});
afterEach(async () => rm(sandbox, { recursive: true, force: true }));

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

async function expectRefused(tar: Buffer, code: LayerErrorCode, compression: 'gzip' | 'uncompressed' = 'uncompressed') {
  const before = await listing(sandbox);
  const err = await applyLayer(Readable.from([compression === 'gzip' ? gzipSync(tar) : tar]), target, {
    compression,
  }).catch((e: unknown) => e);
  expect(isLayerError(err), String(err)).toBe(true);
  expect(isLayerError(err, code), String(err)).toBe(true);
  // Nothing outside the target changed: every path under the sandbox but outside target is as before.
  const after = await listing(sandbox);
  const notInTarget = (p: string) => !p.startsWith('a/b/target/');
  expect(after.filter(notInTarget)).toEqual(before.filter(notInTarget));
  return err as Error;
}

describe('applying hostile layers', () => {
  it("refuses '../x' and writes nothing outside", async () => {
    const err = await expectRefused(await tarOf([{ name: '../../../outside/x', body: 'pwned' }]), 'PATH_ESCAPE');
    expect(err.message).toContain('../../../outside/x');
  });

  it("refuses a '..' hidden in the middle and behind a leading slash", async () => {
    await expectRefused(await tarOf([{ name: 'ok/../../x', body: 'pwned' }]), 'PATH_ESCAPE', 'gzip');
    await expectRefused(await tarOf([{ name: '/../outside/x', body: 'pwned' }]), 'PATH_ESCAPE');
  });

  it('an absolute name lands inside the target, never at the host path', async () => {
    const abs = join(outside, 'abs-file');
    await applyLayer(Readable.from([await tarOf([{ name: abs, body: 'inside' }])]), target, {
      compression: 'uncompressed',
    });
    expect(await listing(outside)).toEqual(['precious']);
    expect(await listing(target)).toContain(join(abs.slice(1)));
  });

  it('refuses a symlink whose relative target leaves the layer', async () => {
    await expectRefused(await tarOf([{ name: 'evil', type: 'symlink', linkname: '../../../outside' }]), 'LINK_ESCAPE');
  });

  it('refuses a file written through a symlink (absolute symlinks are rooted, never followed)', async () => {
    const tar = await tarOf([
      { name: 'evil', type: 'symlink', linkname: outside },
      { name: 'evil/planted', body: 'pwned' },
    ]);
    await expectRefused(tar, 'THROUGH_SYMLINK');
    expect(await listing(outside)).toEqual(['precious']);
  });

  it('refuses a hard link to a path outside', async () => {
    await expectRefused(
      await tarOf([{ name: 'hl', type: 'link', linkname: '../../../outside/precious' }]),
      'LINK_ESCAPE',
    );
    await expectRefused(await tarOf([{ name: 'hl', type: 'link', linkname: 'missing' }]), 'LINK_TARGET_MISSING');
  });

  it("refuses a whiteout of '..' and of '.'", async () => {
    await expectRefused(await tarOf([{ name: '.wh...' }]), 'WHITEOUT_INVALID');
    await expectRefused(await tarOf([{ name: 'sub/.wh..' }]), 'WHITEOUT_INVALID');
  });

  it('refuses a huge declared size before reading any data', async () => {
    const err = await expectRefused(hugeHeaderTar('big', 2 ** 40), 'ENTRY_TOO_LARGE');
    expect(err.message).toContain('big');
    expect(await listing(target)).toEqual([]);
  });

  it('refuses device files unless asked to create them', async () => {
    await expectRefused(
      await tarOf([{ name: 'dev/null2', type: 'character-device', devmajor: 1, devminor: 3 }]),
      'DEVICE_REFUSED',
    );
  });

  it('refuses a blob that is not a compressed tar', async () => {
    const err = await applyLayer(Readable.from([Buffer.from('this is not gzip at all')]), target, {
      compression: 'gzip',
    }).catch((e: unknown) => e);
    expect(isLayerError(err, 'INVALID_TAR')).toBe(true);
  });

  it('a layer whose tar hashes differently from the expected diffID is refused', async () => {
    const err = await applyLayer(Readable.from([await tarOf([{ name: 'f', body: 'x' }])]), target, {
      compression: 'uncompressed',
      diffId: `sha256:${'0'.repeat(64)}`,
    }).catch((e: unknown) => e);
    expect(isLayerError(err, 'DIFF_ID_MISMATCH')).toBe(true);
  });
});
