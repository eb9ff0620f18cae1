import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { RegistryError, type RegistryErrorContext } from './errors.js';

/**
 * Passes bytes through while hashing them; fails the stream as soon as more than `size` bytes
 * arrive, and at the end when the count or the sha256 differ from the descriptor. A consumer that
 * sees the stream end without an error has exactly the bytes the digest names.
 */
export class VerifyStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private received = 0;

  constructor(
    private readonly digest: string,
    private readonly size: number,
    private readonly context: RegistryErrorContext,
    private readonly onChunk: () => void = () => undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.onChunk();
    this.received += chunk.length;
    if (this.received > this.size) {
      done(new RegistryError('SIZE_EXCEEDED', this.context, `sent more than the descriptor's ${this.size} bytes`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.received !== this.size) {
      done(new RegistryError('DIGEST_MISMATCH', this.context, `got ${this.received} bytes, expected ${this.size}`));
      return;
    }
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (actual !== this.digest) {
      done(new RegistryError('DIGEST_MISMATCH', this.context, `content hashes to ${actual}`));
      return;
    }
    done();
  }
}

export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
