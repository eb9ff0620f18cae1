import type { Readable } from 'node:stream';
import { RegistryError, type RegistryErrorContext } from './errors.js';
import { retryDelay, sleep } from './http.js';
import type { Transport } from './transport.js';

/** Blob bytes that can be read again from any offset, so an interrupted upload can continue. */
export interface BlobSource {
  digest: string;
  size: number;
  /** A stream of bytes [start, end) of the blob. */
  open(start: number, end: number): Readable;
}

/** How a blob push ended: already there, mounted from another repository, or uploaded. */
export type PushOutcome = 'exists' | 'mounted' | 'uploaded';

export interface PushResult {
  digest: string;
  size: number;
  outcome: PushOutcome;
  /** Bytes the registry already held from an earlier, interrupted upload of the same blob. */
  resumedFrom: number;
}

export interface UploadOptions {
  chunkSize: number;
  retries: number;
  retryBaseMs: number;
  maxRetryDelayMs: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((uploaded: number) => void) | undefined;
}

/**
 * Chunked upload of one blob into an open session (distribution spec: PATCH with Content-Range,
 * then PUT ?digest=). After a failed chunk the session's status (GET, Range header) says how much
 * the registry holds and the upload continues from there; the session URL is kept on the error so
 * a later push can resume it.
 */
export async function uploadChunks(
  transport: Transport,
  repository: string,
  source: BlobSource,
  startUrl: string,
  options: UploadOptions,
): Promise<{ resumedFrom: number }> {
  const scopes = [`repository:${repository}:pull,push`];
  const ctx = (status?: number, uploadUrl?: string): RegistryErrorContext => ({
    op: 'upload blob',
    registry: transport.registry,
    repository,
    digest: source.digest,
    status,
    uploadUrl,
  });
  let location = startUrl;
  let offset = await uploadedBytes(transport, repository, source, location, options.signal);
  const resumedFrom = offset;
  let failures = 0;
  while (offset < source.size) {
    const end = Math.min(source.size, offset + options.chunkSize);
    const from = offset;
    try {
      const { res, deadline } = await transport.send({
        op: 'upload blob chunk',
        method: 'PATCH',
        url: location,
        repository,
        digest: source.digest,
        scopes,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${from}-${end - 1}`,
          'content-length': String(end - from),
        },
        body: () => source.open(from, end) as unknown as ReadableStream,
        expect: [202],
        signal: options.signal,
        retry: false,
      });
      deadline.finish();
      location = res.headers.get('location') ?? location;
      const range = parseRange(res.headers.get('range'));
      offset = range !== undefined && range > from ? range : end;
      options.onProgress?.(offset);
      failures = 0;
    } catch (err) {
      if (!(err instanceof RegistryError) || err.code === 'ABORTED' || !transient(err) || failures >= options.retries) {
        throw withUploadUrl(err, location, ctx);
      }
      await sleep(retryDelay(failures++, options.retryBaseMs, options.maxRetryDelayMs, null), options.signal).catch(
        (cause) => {
          throw new RegistryError('ABORTED', ctx(undefined, location), 'cancelled while waiting to resume', { cause });
        },
      );
      try {
        offset = await uploadedBytes(transport, repository, source, location, options.signal);
      } catch (statusErr) {
        if (failures > options.retries) throw withUploadUrl(statusErr, location, ctx);
      }
    }
  }
  const put = new URL(transport.resolve(location, ctx()));
  put.searchParams.set('digest', source.digest);
  try {
    const { res, deadline } = await transport.send({
      op: 'complete blob upload',
      method: 'PUT',
      url: put.href,
      repository,
      digest: source.digest,
      scopes,
      headers: { 'content-length': '0' },
      expect: [201, 204],
      signal: options.signal,
    });
    await res.body?.cancel().catch(() => undefined);
    deadline.finish();
    const answered = res.headers.get('docker-content-digest');
    if (answered !== null && answered !== source.digest) {
      throw new RegistryError('DIGEST_MISMATCH', ctx(res.status), `registry stored the blob as ${answered}`);
    }
  } catch (err) {
    // A digest the registry computed differently means the bytes it holds are wrong: do not resume them.
    if (err instanceof RegistryError && err.code === 'DIGEST_MISMATCH') throw err;
    throw withUploadUrl(err, location, ctx);
  }
  return { resumedFrom };
}

/** How many bytes an upload session holds, from its status: `Range: 0-<last byte>`. */
async function uploadedBytes(
  transport: Transport,
  repository: string,
  source: BlobSource,
  location: string,
  signal: AbortSignal | undefined,
): Promise<number> {
  const { res, deadline } = await transport.send({
    op: 'upload status',
    method: 'GET',
    url: location,
    repository,
    digest: source.digest,
    scopes: [`repository:${repository}:pull,push`],
    expect: [204],
    signal,
  });
  await res.body?.cancel().catch(() => undefined);
  deadline.finish();
  // "0-0" cannot tell one byte from none; sending from 0 again is the safe reading.
  const last = parseRange(res.headers.get('range'));
  return last === undefined || last <= 1 ? 0 : Math.min(last, source.size);
}

/** `0-<last>` -> the number of bytes held (last + 1), or undefined when absent or malformed. */
function parseRange(header: string | null): number | undefined {
  const m = header === null ? null : /^(?:bytes=)?0-(\d+)$/.exec(header.trim());
  return m === null ? undefined : Number(m[1]) + 1;
}

function transient(err: RegistryError): boolean {
  return (
    err.code === 'NETWORK' ||
    err.code === 'TIMEOUT' ||
    err.status === 416 ||
    err.status === 429 ||
    (err.status !== undefined && err.status >= 500)
  );
}

function withUploadUrl(
  err: unknown,
  location: string,
  ctx: (status?: number, url?: string) => RegistryErrorContext,
): RegistryError {
  if (err instanceof RegistryError) {
    if (err.uploadUrl !== undefined) return err;
    return new RegistryError(err.code, { ...ctx(err.status, location), op: err.op }, reasonOf(err), { cause: err });
  }
  return new RegistryError('UPLOAD_FAILED', ctx(undefined, location), String(err), { cause: err });
}

function reasonOf(err: RegistryError): string {
  const i = err.message.indexOf(': ');
  return i >= 0 ? err.message.slice(i + 2) : err.message;
}
