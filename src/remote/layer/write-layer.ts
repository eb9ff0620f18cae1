import { createReadStream } from 'node:fs';
import { readlink } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Header, type Pack, pack as tarPack } from 'tar-stream';
import { entryType, type LayerChange, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './changes.js';
import { type Compression, compressor, DigestCounter, LAYER_MEDIA_TYPES } from './compression.js';
import { LayerError } from './errors.js';

/** What a written layer is: the descriptor fields of its blob and the digest of its tar (diffID). */
export interface LayerInfo {
  mediaType: string;
  compression: Compression;
  /** sha256 of the compressed blob, as the manifest names it. */
  digest: string;
  /** Bytes of the compressed blob. */
  size: number;
  /** sha256 of the uncompressed tar (the diffID of the image spec). */
  diffId: string;
  uncompressedSize: number;
  entries: number;
}

export interface WriteLayerOptions {
  compression?: Compression | undefined;
  /** gzip 1-9 or zstd 1-19; the library default when omitted. */
  level?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** A tar header as tar-stream takes it: the name and any other fields. */
type EntryHeader = Partial<Header> & { name: string };

// Headers of directories and whiteouts are queued by tar-stream without backpressure; this bounds how
// far the walk may run ahead of the consumer.
const MAX_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * Streams the changes as a tar through the compressor into `out`, hashing before and after
 * compression in the same pass. Regular files with several links become tar hard links to the
 * first path of the same inode in this layer. Memory stays bounded whatever the layer's size.
 */
export async function writeLayer(
  changes: AsyncIterable<LayerChange>,
  out: Writable,
  options: WriteLayerOptions = {},
): Promise<LayerInfo> {
  const compression = options.compression ?? 'gzip';
  const pack = tarPack();
  let produced = 0;
  let wake: (() => void) | undefined;
  const diffId = new DigestCounter(Number.POSITIVE_INFINITY, undefined, () => {
    if (wake !== undefined && produced - diffId.bytes < MAX_AHEAD_BYTES / 2) {
      const w = wake;
      wake = undefined;
      w();
    }
  });
  const digest = new DigestCounter();
  const flow = pipeline(pack, diffId, compressor(compression, options.level), digest, out, {
    ...(options.signal ? { signal: options.signal } : {}),
  });
  let entries = 0;
  const feed = (async () => {
    const links = new Map<string, string>();
    for await (const change of changes) {
      if (options.signal?.aborted) throw new LayerError('ABORTED', change.path, 'cancelled');
      const { header, source } = await headerFor(change, links);
      entries++;
      produced += 512 + Math.ceil((header.size ?? 0) / 512) * 512;
      await addEntry(pack, header, source);
      if (produced - diffId.bytes > MAX_AHEAD_BYTES) await new Promise<void>((r) => (wake = r));
    }
    pack.finalize();
  })();
  try {
    await Promise.all([feed, flow]);
  } catch (err) {
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
    await flow.catch(() => undefined);
    const fed = await feed.then(
      () => undefined,
      (e: unknown) => e,
    );
    throw fed instanceof LayerError ? fed : err;
  }
  return {
    mediaType: LAYER_MEDIA_TYPES[compression],
    compression,
    digest: digest.digest(),
    size: digest.bytes,
    diffId: diffId.digest(),
    uncompressedSize: diffId.bytes,
    entries,
  };
}

async function headerFor(
  change: LayerChange,
  links: Map<string, string>,
): Promise<{ header: EntryHeader; source?: string }> {
  if (change.kind === 'whiteout' || change.kind === 'opaque') {
    const slash = change.path.lastIndexOf('/');
    const dir = slash < 0 ? '' : change.path.slice(0, slash + 1);
    const name =
      change.kind === 'opaque'
        ? `${change.path}/${OPAQUE_WHITEOUT}`
        : `${dir}${WHITEOUT_PREFIX}${change.path.slice(slash + 1)}`;
    return { header: { name, type: 'file', size: 0, mode: 0o644, mtime: new Date(0) } };
  }
  const st = change.stat;
  const base = {
    name: change.path,
    // The type bits keep a mode of 000 non-zero: tar-stream would replace 0 by its default, and masks them off.
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: new Date(Number(st.mtimeMs)),
  };
  const type = entryType(st);
  switch (type) {
    case 'directory':
      return { header: { ...base, type: 'directory' } };
    case 'symlink':
      return { header: { ...base, type: 'symlink', linkname: await readlink(change.source) } };
    case 'fifo':
      return { header: { ...base, type: 'fifo' } };
    case 'character-device':
    case 'block-device':
      return { header: { ...base, type, devmajor: major(st.rdev), devminor: minor(st.rdev) } };
    case 'file': {
      if (st.nlink > 1n) {
        const inode = `${st.dev}:${st.ino}`;
        const first = links.get(inode);
        if (first !== undefined) return { header: { ...base, type: 'link', linkname: first, size: 0 } };
        links.set(inode, change.path);
      }
      return { header: { ...base, type: 'file', size: Number(st.size) }, source: change.source };
    }
    default:
      throw new LayerError('UNSUPPORTED_ENTRY', change.path, `a ${type} cannot be stored in a layer`);
  }
}

function addEntry(pack: Pack, header: EntryHeader, source: string | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (source === undefined) {
      // A whiteout is an empty regular file: tar-stream ends such an entry only when given its (empty) body.
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (header.type === 'file') pack.entry(header, Buffer.alloc(0), cb);
      else pack.entry(header, cb);
      return;
    }
    // A file that changed size since its lstat makes tar-stream fail the entry ("Size mismatch").
    const fail = (err: unknown) =>
      reject(new LayerError('SOURCE_INVALID', header.name, 'changed or unreadable while being packed', { cause: err }));
    const sink = pack.entry(header, (err) => (err ? fail(err) : resolve()));
    pipeline(createReadStream(source), sink).catch(fail);
  });
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor).
function major(dev: bigint): number {
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
}

function minor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
}
