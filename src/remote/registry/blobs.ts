import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type BlobSource, type PushResult, uploadChunks } from './blob-upload.js';
import { RegistryError, type RegistryErrorContext } from './errors.js';
import { transportError } from './http.js';
import type { Descriptor } from './schemas.js';
import type { Transport } from './transport.js';
import { VerifyStream } from './verify.js';

/** What HEAD says about a blob the registry holds. */
export interface BlobStat {
  digest: string;
  size: number;
}

export interface BlobPushOptions {
  /** Other repositories of the same registry that may hold the blob: tried as cross-repository mounts. */
  mountFrom?: string[] | undefined;
  /** Bytes per PATCH request. Default 16 MiB. */
  chunkSize?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((uploaded: number) => void) | undefined;
}

export interface RetryBounds {
  retries: number;
  retryBaseMs: number;
  maxRetryDelayMs: number;
}

const pullScope = (repo: string) => `repository:${repo}:pull`;
const pushScope = (repo: string) => `repository:${repo}:pull,push`;

/** HEAD /v2/<name>/blobs/<digest>: the blob's size, or undefined when the registry does not hold it. */
export async function headBlob(t: Transport, repository: string, digest: string, signal?: AbortSignal) {
  const { res, deadline } = await t.send({
    op: 'HEAD blob',
    method: 'HEAD',
    url: `/v2/${repository}/blobs/${digest}`,
    repository,
    digest,
    scopes: [pullScope(repository)],
    expect: [200, 404],
    signal,
  });
  deadline.finish();
  if (res.status === 404) return undefined;
  const size = Number(res.headers.get('content-length'));
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RegistryError(
      'INVALID_RESPONSE',
      { op: 'HEAD blob', registry: t.registry, repository, digest, status: res.status },
      'no valid Content-Length',
    );
  }
  return { digest, size } satisfies BlobStat;
}

/**
 * GET /v2/<name>/blobs/<digest> as a stream checked against the descriptor while it flows: more
 * bytes than `size`, fewer, or another sha256 fail the stream with a typed error at that point.
 */
export async function getBlob(t: Transport, repository: string, desc: Descriptor, signal?: AbortSignal) {
  const ctx: RegistryErrorContext = { op: 'GET blob', registry: t.registry, repository, digest: desc.digest };
  const { res, deadline, context } = await t.send({
    op: 'GET blob',
    method: 'GET',
    url: `/v2/${repository}/blobs/${desc.digest}`,
    repository,
    digest: desc.digest,
    scopes: [pullScope(repository)],
    headers: { 'accept-encoding': 'identity' },
    expect: [200],
    signal,
  });
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > desc.size) {
    deadline.finish();
    await res.body?.cancel().catch(() => undefined);
    throw new RegistryError('SIZE_EXCEEDED', context, `declares ${declared} bytes, the descriptor says ${desc.size}`);
  }
  if (res.body === null) {
    deadline.finish();
    throw new RegistryError('INVALID_RESPONSE', context, 'no body');
  }
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  const verify = new VerifyStream(desc.digest, desc.size, context, () => deadline.touch());
  // Failures of the body (timeouts, resets) surface on the returned stream as typed errors.
  body.on('error', (err) => verify.destroy(transportError(err, deadline, ctx)));
  verify.on('close', () => deadline.finish());
  body.pipe(verify);
  return verify as Readable;
}

/** Writes a verified blob into `sink`; resolves once every byte arrived and matched. */
export async function pullBlobTo(
  t: Transport,
  repository: string,
  desc: Descriptor,
  sink: NodeJS.WritableStream,
  signal?: AbortSignal,
) {
  await pipeline(await getBlob(t, repository, desc, signal), sink);
}

/** POST ?mount=&from=: 201 when the registry linked the blob, otherwise the upload session it opened. */
export async function mountBlob(
  t: Transport,
  repository: string,
  digest: string,
  from: string,
  signal?: AbortSignal,
): Promise<{ mounted: true } | { mounted: false; location: string }> {
  const url = `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
  const { res, deadline, context } = await t.send({
    op: 'mount blob',
    method: 'POST',
    url,
    repository,
    digest,
    scopes: [pushScope(repository), pullScope(from)],
    headers: { 'content-length': '0' },
    expect: [201, 202],
    signal,
  });
  await res.body?.cancel().catch(() => undefined);
  deadline.finish();
  if (res.status === 201) return { mounted: true };
  return { mounted: false, location: requireLocation(res, context) };
}

async function openUpload(t: Transport, repository: string, digest: string, signal?: AbortSignal) {
  const { res, deadline, context } = await t.send({
    op: 'start blob upload',
    method: 'POST',
    url: `/v2/${repository}/blobs/uploads/`,
    repository,
    digest,
    scopes: [pushScope(repository)],
    headers: { 'content-length': '0' },
    expect: [202],
    signal,
  });
  await res.body?.cancel().catch(() => undefined);
  deadline.finish();
  return requireLocation(res, context);
}

function requireLocation(res: Response, context: RegistryErrorContext): string {
  const location = res.headers.get('location');
  if (location === null) throw new RegistryError('INVALID_RESPONSE', context, 'upload session without a Location');
  return location;
}

/**
 * Pushes one blob: HEAD first (present -> nothing sent), then a cross-repository mount when sources
 * are named, then a chunked upload. An interrupted upload is remembered in `sessions` by repository
 * and digest, so the next push of the same blob continues it; when the registry no longer knows the
 * session, the push starts a new one.
 */
export async function pushBlob(
  t: Transport,
  repository: string,
  source: BlobSource,
  bounds: RetryBounds,
  sessions: Map<string, string>,
  options: BlobPushOptions = {},
): Promise<PushResult> {
  const { signal } = options;
  const present = await headBlob(t, repository, source.digest, signal);
  if (present !== undefined) return { digest: source.digest, size: present.size, outcome: 'exists', resumedFrom: 0 };
  const key = `${repository}@${source.digest}`;
  let location = sessions.get(key);
  if (location === undefined) {
    for (const from of options.mountFrom ?? []) {
      if (from === repository) continue;
      const mounted = await mountBlob(t, repository, source.digest, from, signal);
      if (mounted.mounted) return { digest: source.digest, size: source.size, outcome: 'mounted', resumedFrom: 0 };
      location = mounted.location;
      break;
    }
  }
  const upload = {
    ...bounds,
    chunkSize: options.chunkSize ?? 16 * 1024 * 1024,
    signal,
    onProgress: options.onProgress,
  };
  for (let fresh = location === undefined; ; fresh = true) {
    location ??= await openUpload(t, repository, source.digest, signal);
    try {
      const { resumedFrom } = await uploadChunks(t, repository, source, location, upload);
      sessions.delete(key);
      return { digest: source.digest, size: source.size, outcome: 'uploaded', resumedFrom };
    } catch (err) {
      const stale = err instanceof RegistryError && (err.status === 404 || err.status === 400) && !fresh;
      if (!stale) {
        if (err instanceof RegistryError && err.uploadUrl !== undefined && err.code !== 'DIGEST_MISMATCH') {
          sessions.set(key, err.uploadUrl);
        } else sessions.delete(key);
        throw err;
      }
      // The remembered session is gone (expired, or cancelled by a registry restart): start over.
      sessions.delete(key);
      location = undefined;
    }
  }
}
