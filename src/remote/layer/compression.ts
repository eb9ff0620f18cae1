import { createHash, type Hash } from 'node:crypto';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { CompressStream, DecompressStream } from 'zstd-napi';
import { LayerError } from './errors.js';

/** Layer compression. zstd comes from the zstd-napi binding (Node-API, builds on Node 20). */
export type Compression = 'gzip' | 'zstd' | 'uncompressed';

export const LAYER_MEDIA_TYPES: Record<Compression, string> = {
  uncompressed: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/** The compression a layer media type names; Docker's media types are accepted for reading too. */
export function compressionOf(mediaType: string): Compression {
  switch (mediaType) {
    case LAYER_MEDIA_TYPES.uncompressed:
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return 'uncompressed';
    case LAYER_MEDIA_TYPES.gzip:
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
      return 'gzip';
    case LAYER_MEDIA_TYPES.zstd:
      return 'zstd';
    default:
      throw new LayerError('COMPRESSION_UNSUPPORTED', mediaType, 'not a tar layer media type this client reads');
  }
}

export function compressor(compression: Compression, level?: number): Transform {
  if (compression === 'gzip') return createGzip(level === undefined ? {} : { level });
  if (compression === 'zstd') return new CompressStream(level === undefined ? {} : { compressionLevel: level });
  return new PassThrough();
}

export function decompressor(compression: Compression): Transform {
  if (compression === 'gzip') return createGunzip();
  if (compression === 'zstd') return new DecompressStream();
  return new PassThrough();
}

/**
 * Counts and sha256-hashes the bytes flowing through, so one pass yields both a layer's diffID
 * (before compression) and its blob digest (after). `limit` fails the stream past that many bytes.
 */
export class DigestCounter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly limit = Number.POSITIVE_INFINITY,
    private readonly onLimit: () => Error = () => new Error('too many bytes'),
    private readonly onBytes: (total: number) => void = () => undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(this.onLimit());
      return;
    }
    this.hash.update(chunk);
    this.onBytes(this.bytes);
    done(null, chunk);
  }

  /** `sha256:<hex>` of everything that passed; call once, after the stream ended. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
