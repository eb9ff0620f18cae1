import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import {
  type FileHandle,
  link,
  lutimes,
  lchown,
  mkdir,
  open,
  readdir,
  realpath,
  rm,
  stat,
  symlink,
  chmod,
  chown,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { setAttribute } from '@napi-rs/xattr';
import { extract as tarExtract, type Header } from 'tar-stream';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './changes.js';
import { type Compression, compressionOf, decompressor, DigestCounter } from './compression.js';
import { OVERLAY_OPAQUE_XATTR } from './diff-overlay.js';
import { isLayerError, LayerError } from './errors.js';
import { entryComponents, ensureParents, lstatOrUndefined, symlinkStaysInside } from './safe-path.js';

const execFileAsync = promisify(execFile);

export interface ApplyLayerOptions {
  /** The blob's compression, or its media type; default gzip. */
  compression?: Compression | undefined;
  mediaType?: string | undefined;
  /** Expected sha256 of the uncompressed tar; a different one fails the apply (after it ran). */
  diffId?: string | undefined;
  /**
   * `delete` (native: the target is a copy of the parent tree) removes what a whiteout names;
   * `overlay` (the target is an overlay upper directory) writes overlay whiteouts instead: a
   * character device 0/0, and the `trusted.overlay.opaque` xattr for opaque directories.
   */
  whiteouts?: 'delete' | 'overlay' | undefined;
  /** Device nodes: refuse (default), skip, or create (root only). */
  devices?: 'refuse' | 'skip' | 'create' | undefined;
  /** Largest declared size of one entry. Default 64 GiB. */
  maxEntrySize?: number | undefined;
  /** Largest uncompressed tar. Default 1 TiB. */
  maxLayerSize?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface AppliedLayer {
  diffId: string;
  uncompressedSize: number;
  entries: number;
}

interface DirMeta {
  path: string;
  mode: number;
  mtime: Date;
}

const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);
const isRoot = () => process.getuid?.() === 0;

/**
 * Extracts a layer blob into `target`, refusing anything that could write outside it: names with
 * '..', symlinks or hard links leaving the root, paths through symlinks, whiteouts of '.' or '..',
 * device files unless allowed, entries declared larger than the bound. Every parent is checked with
 * lstat and no symlink is followed while creating. Runs of zeros in regular files are left as holes.
 */
export async function applyLayer(
  input: Readable,
  target: string,
  options: ApplyLayerOptions = {},
): Promise<AppliedLayer> {
  const root = await realpath(target);
  if (!(await stat(root)).isDirectory()) throw new LayerError('SOURCE_INVALID', target, 'target is not a directory');
  const compression = options.compression ?? (options.mediaType ? compressionOf(options.mediaType) : 'gzip');
  const maxLayer = options.maxLayerSize ?? 2 ** 40;
  const counter = new DigestCounter(
    maxLayer,
    () => new LayerError('LAYER_TOO_LARGE', target, `the uncompressed layer exceeds ${maxLayer} bytes`),
  );
  const extract = tarExtract();
  const flow = pipeline(input, decompressor(compression), counter, extract, {
    ...(options.signal ? { signal: options.signal } : {}),
  }).catch((err: unknown) => {
    throw isLayerError(err) || (err as Error).name === 'RegistryError' || (err as Error).name === 'AbortError'
      ? err
      : new LayerError('INVALID_TAR', target, `not a valid ${compression} tar: ${(err as Error).message}`, {
          cause: err,
        });
  });
  // Observed at once so an early failure is not reported as unhandled; awaited below.
  flow.catch(() => undefined);
  const state = new ApplyState(root, options);
  let entries = 0;
  try {
    for await (const entry of extract) {
      entries++;
      await state.apply(entry.header, entry as AsyncIterable<Buffer>);
      entry.resume();
    }
    await flow;
    await state.finish();
  } catch (err) {
    extract.destroy();
    const piped = await flow.then(
      () => undefined,
      (e: unknown) => e,
    );
    throw isLayerError(err) || piped === undefined ? err : piped;
  }
  const diffId = counter.digest();
  if (options.diffId !== undefined && options.diffId !== diffId) {
    throw new LayerError('DIFF_ID_MISMATCH', target, `the tar hashes to ${diffId}, expected ${options.diffId}`);
  }
  return { diffId, uncompressedSize: counter.bytes, entries };
}

class ApplyState {
  private readonly dirs: DirMeta[] = [];
  /** Paths this layer wrote (and their parents): an opaque marker keeps them. */
  private readonly written = new Set<string>();
  private readonly maxEntry: number;

  constructor(
    private readonly root: string,
    private readonly options: ApplyLayerOptions,
  ) {
    this.maxEntry = options.maxEntrySize ?? 64 * 2 ** 30;
  }

  async apply(h: Header, data: AsyncIterable<Buffer>): Promise<void> {
    const name = h.name;
    if (h.size > this.maxEntry) {
      throw new LayerError('ENTRY_TOO_LARGE', name, `declares ${h.size} bytes, more than the ${this.maxEntry} allowed`);
    }
    const parts = entryComponents(name);
    if (parts.length === 0) {
      if (h.type === 'directory') return; // The root itself: its metadata belongs to the target.
      throw new LayerError('PATH_ESCAPE', name, 'names the layer root');
    }
    const base = parts[parts.length - 1]!;
    if (base.startsWith(WHITEOUT_PREFIX)) return this.whiteout(name, parts, base);
    const parent = (await ensureParents(this.root, parts, name))!;
    const abs = join(parent, base);
    const rel = parts.join('/');
    for (let i = 1; i <= parts.length; i++) this.written.add(parts.slice(0, i).join('/'));
    switch (h.type) {
      case 'directory':
        return this.directory(abs, h);
      case 'file':
      case 'contiguous-file':
        return this.file(abs, h, data);
      case 'symlink':
        if (!symlinkStaysInside(parts.slice(0, -1), h.linkname)) {
          throw new LayerError('LINK_ESCAPE', name, `symlink target ${JSON.stringify(h.linkname)} leaves the layer`);
        }
        await replace(abs);
        await symlink(h.linkname, abs);
        if (isRoot()) await lchown(abs, h.uid, h.gid);
        await lutimes(abs, h.mtime, h.mtime);
        return;
      case 'link':
        return this.hardlink(abs, rel, h);
      case 'fifo':
        return this.special(abs, h, ['p']);
      case 'character-device':
      case 'block-device':
        return this.device(abs, h);
      default:
        throw new LayerError('UNSUPPORTED_ENTRY', name, `tar entry type ${JSON.stringify(h.type)} is not supported`);
    }
  }

  async finish(): Promise<void> {
    // Directory times last, deepest first: creating their children changed them.
    for (const d of this.dirs.reverse()) {
      await chmod(d.path, d.mode);
      await utimes(d.path, d.mtime, d.mtime);
    }
  }

  private async whiteout(name: string, parts: string[], base: string) {
    const overlay = this.options.whiteouts === 'overlay';
    const parent = await ensureParents(this.root, parts, name, overlay);
    if (base === OPAQUE_WHITEOUT) {
      const dirRel = parts.slice(0, -1).join('/');
      if (parent === undefined) return;
      if (overlay) return void (await setAttribute(parent, OVERLAY_OPAQUE_XATTR, 'y'));
      for (const child of await readdir(parent)) {
        const rel = dirRel === '' ? child : `${dirRel}/${child}`;
        if (!this.written.has(rel)) await rm(join(parent, child), { recursive: true, force: true });
      }
      return;
    }
    const victim = base.slice(WHITEOUT_PREFIX.length);
    if (victim === '' || victim === '.' || victim === '..' || victim.startsWith(WHITEOUT_PREFIX)) {
      throw new LayerError('WHITEOUT_INVALID', name, `a whiteout cannot name ${JSON.stringify(victim)}`);
    }
    if (parent === undefined) return; // Nothing there to delete.
    const abs = join(parent, victim);
    await rm(abs, { recursive: true, force: true });
    if (overlay) await execFileAsync('mknod', ['-m', '000', abs, 'c', '0', '0']);
  }

  private async directory(abs: string, h: Header) {
    const existing = await lstatOrUndefined(abs);
    if (existing?.isDirectory() !== true) {
      await replace(abs);
      await mkdir(abs, { mode: 0o700 });
    }
    if (isRoot()) await chown(abs, h.uid, h.gid);
    this.dirs.push({ path: abs, mode: h.mode & 0o7777, mtime: h.mtime });
  }

  private async file(abs: string, h: Header, data: AsyncIterable<Buffer>) {
    await replace(abs);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fh = await open(abs, flags, 0o600);
    try {
      let pos = 0;
      for await (const chunk of data) {
        await writeSparse(fh, chunk, pos);
        pos += chunk.length;
      }
      if (pos !== h.size) throw new LayerError('INVALID_TAR', h.name, `has ${pos} of its ${h.size} bytes`);
      await fh.truncate(pos);
      if (isRoot()) await fh.chown(h.uid, h.gid);
      await fh.chmod(h.mode & 0o7777);
      await fh.utimes(h.mtime, h.mtime);
    } finally {
      await fh.close();
    }
  }

  private async hardlink(abs: string, rel: string, h: Header) {
    let parts: string[];
    try {
      parts = entryComponents(h.linkname);
    } catch (err) {
      throw new LayerError('LINK_ESCAPE', h.name, `hard link target ${JSON.stringify(h.linkname)} leaves the layer`, {
        cause: err,
      });
    }
    if (parts.length === 0 || parts.join('/') === rel) {
      throw new LayerError('LINK_ESCAPE', h.name, `hard link target ${JSON.stringify(h.linkname)} is not a file`);
    }
    const parent = await ensureParents(this.root, parts, h.name, false);
    const targetAbs = parent === undefined ? undefined : join(parent, parts[parts.length - 1]!);
    const st = targetAbs === undefined ? undefined : await lstatOrUndefined(targetAbs);
    if (st === undefined)
      throw new LayerError('LINK_TARGET_MISSING', h.name, `${JSON.stringify(h.linkname)} does not exist`);
    if (st.isDirectory()) throw new LayerError('LINK_ESCAPE', h.name, 'a hard link cannot name a directory');
    await replace(abs);
    await link(targetAbs!, abs);
  }

  private async device(abs: string, h: Header) {
    const mode = this.options.devices ?? 'refuse';
    if (mode === 'skip') return;
    if (mode === 'refuse' || !isRoot()) {
      const why = mode === 'refuse' ? 'device files are refused (devices: "refuse")' : 'creating devices needs root';
      throw new LayerError('DEVICE_REFUSED', h.name, why);
    }
    const kind = h.type === 'block-device' ? 'b' : 'c';
    return this.special(abs, h, [kind, String(h.devmajor), String(h.devminor)]);
  }

  private async special(abs: string, h: Header, args: string[]) {
    await replace(abs);
    await execFileAsync('mknod', ['-m', (h.mode & 0o7777).toString(8), abs, ...args]);
    if (isRoot()) await lchown(abs, h.uid, h.gid);
    await utimes(abs, h.mtime, h.mtime);
  }
}

/** Removes whatever is at `abs` (a file, a symlink itself, or a whole directory) so an entry can take its place. */
async function replace(abs: string): Promise<void> {
  if ((await lstatOrUndefined(abs)) !== undefined) await rm(abs, { recursive: true, force: true });
}

/** Writes `chunk` at `pos`, skipping 4 KiB-aligned blocks of zeros so they stay holes. */
async function writeSparse(fh: FileHandle, chunk: Buffer, pos: number): Promise<void> {
  let start = 0;
  let runStart = -1;
  while (start < chunk.length) {
    const end = Math.min(chunk.length, start + (BLOCK - ((pos + start) % BLOCK)));
    const seg = chunk.subarray(start, end);
    const zero = seg.length === BLOCK && seg.equals(ZEROS);
    if (!zero && runStart < 0) runStart = start;
    if (zero && runStart >= 0) {
      await fh.write(chunk, runStart, start - runStart, pos + runStart);
      runStart = -1;
    }
    start = end;
  }
  if (runStart >= 0) await fh.write(chunk, runStart, chunk.length - runStart, pos + runStart);
}
