/**
 * A small OCI distribution-spec v1.1 client on Node's built-in fetch.
 *
 * Hand-written on purpose: npm has no complete, maintained OCI registry client. The packages there
 * are read-only (pull only), buffer whole blobs in memory, or have been unmaintained for years, and
 * none combines streamed digest-verified pulls, resumable chunked pushes, cross-repository mounts,
 * the Bearer token flow and typed errors. The protocol surface needed here is small enough to own.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { z } from 'zod';
import type { BlobSource, PushResult } from './blob-upload.js';
import { type BlobPushOptions, type BlobStat, getBlob, headBlob, mountBlob, pushBlob } from './blobs.js';
import { RegistryError } from './errors.js';
import { type FetchedManifest, getManifest, headManifest, type ManifestStat, putManifest } from './manifests.js';
import { type ImageReference, parseReference } from './reference.js';
import type { Descriptor, ImageManifest } from './schemas.js';
import { Transport, type TransportOptions } from './transport.js';

export type RegistryClientOptions = TransportOptions;

/** One registry host; every method names the repository it acts on. */
export class RegistryClient {
  readonly transport: Transport;
  /** Interrupted uploads by `repository@digest`, continued by the next push of the same blob. */
  private readonly sessions = new Map<string, string>();

  constructor(
    readonly registry: string,
    private readonly options: RegistryClientOptions = {},
  ) {
    this.transport = new Transport(registry, options);
  }

  /** A client for the registry of `reference` plus the parsed reference. */
  static forReference(reference: string, options: RegistryClientOptions = {}) {
    const ref: ImageReference = parseReference(reference);
    return { client: new RegistryClient(ref.registry, options), ref };
  }

  /** GET /v2/: checks that the registry answers and that the credentials are accepted. */
  async ping(signal?: AbortSignal): Promise<void> {
    const { res, deadline } = await this.transport.send({
      op: 'ping',
      method: 'GET',
      url: '/v2/',
      repository: '',
      scopes: [],
      expect: [200],
      signal,
    });
    await res.body?.cancel().catch(() => undefined);
    deadline.finish();
  }

  headBlob(repository: string, digest: string, signal?: AbortSignal): Promise<BlobStat | undefined> {
    return headBlob(this.transport, repository, digest, signal);
  }

  /** A stream of the blob that errors (typed) on a wrong digest or size. */
  getBlob(repository: string, desc: Descriptor, signal?: AbortSignal): Promise<Readable> {
    return getBlob(this.transport, repository, desc, signal);
  }

  /** Reads a verified blob (of at most `desc.size` bytes) and parses it as JSON with `schema`. */
  async getJsonBlob<T>(repository: string, desc: Descriptor, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.getBlob(repository, desc, signal)) chunks.push(chunk as Buffer);
    const ctx = { op: 'read JSON blob', registry: this.registry, repository, digest: desc.digest };
    let json: unknown;
    try {
      json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      throw new RegistryError('INVALID_RESPONSE', ctx, 'not JSON', { cause: err });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RegistryError('INVALID_RESPONSE', ctx, `${issue?.message ?? 'invalid'} at ${issue?.path.join('.')}`);
    }
    return parsed.data;
  }

  /** HEAD, then mount from `mountFrom`, then a resumable chunked upload. */
  pushBlob(repository: string, source: BlobSource, options?: BlobPushOptions): Promise<PushResult> {
    const bounds = {
      retries: this.options.retries ?? 4,
      retryBaseMs: this.options.retryBaseMs ?? 250,
      maxRetryDelayMs: this.options.maxRetryDelayMs ?? 10_000,
    };
    return pushBlob(this.transport, repository, source, bounds, this.sessions, options);
  }

  /** Pushes the bytes of a file (a layer written to disk first, so uploads can resume). */
  async pushBlobFile(repository: string, path: string, digest: string, options?: BlobPushOptions): Promise<PushResult> {
    const { size } = await stat(path);
    return this.pushBlob(repository, fileBlobSource(path, digest, size), options);
  }

  /** Pushes a small in-memory blob, such as a config document. */
  pushBlobBytes(repository: string, bytes: Uint8Array, digest: string, options?: BlobPushOptions) {
    return this.pushBlob(repository, bufferBlobSource(bytes, digest), options);
  }

  mountBlob(repository: string, digest: string, from: string, signal?: AbortSignal) {
    return mountBlob(this.transport, repository, digest, from, signal);
  }

  headManifest(repository: string, reference: string, signal?: AbortSignal): Promise<ManifestStat | undefined> {
    return headManifest(this.transport, repository, reference, signal);
  }

  getManifest(repository: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    return getManifest(this.transport, repository, reference, signal);
  }

  putManifest(repository: string, reference: string, manifest: ImageManifest, signal?: AbortSignal) {
    return putManifest(this.transport, repository, reference, manifest, signal);
  }

  /** The session URL of an interrupted upload of `digest`, if one is remembered. */
  pendingUpload(repository: string, digest: string): string | undefined {
    return this.sessions.get(`${repository}@${digest}`);
  }
}

export function fileBlobSource(path: string, digest: string, size: number): BlobSource {
  return { digest, size, open: (start, end) => createReadStream(path, { start, end: end - 1 }) };
}

export function bufferBlobSource(bytes: Uint8Array, digest: string): BlobSource {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    digest,
    size: buf.length,
    open: (start, end) => Readable.from([buf.subarray(start, end)]),
  };
}
