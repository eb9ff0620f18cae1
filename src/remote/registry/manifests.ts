import { RegistryError } from './errors.js';
import { readBounded } from './http.js';
import { isDigest } from './reference.js';
import { type ImageManifest, imageManifestSchema, MAX_MANIFEST_BYTES, OCI_MANIFEST_MEDIA_TYPE } from './schemas.js';
import type { Transport } from './transport.js';
import { sha256Digest } from './verify.js';

/** A manifest as fetched: the parsed document, its exact bytes, and the digest of those bytes. */
export interface FetchedManifest {
  manifest: ImageManifest;
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

export interface ManifestStat {
  digest: string;
  size: number;
  mediaType: string;
}

const scopes = (repo: string, push = false) => [`repository:${repo}:${push ? 'pull,push' : 'pull'}`];

/** HEAD /v2/<name>/manifests/<reference>: digest and size, or undefined when absent. */
export async function headManifest(t: Transport, repository: string, reference: string, signal?: AbortSignal) {
  const { res, deadline, context } = await t.send({
    op: 'HEAD manifest',
    method: 'HEAD',
    url: `/v2/${repository}/manifests/${reference}`,
    repository,
    reference,
    scopes: scopes(repository),
    headers: { accept: OCI_MANIFEST_MEDIA_TYPE },
    expect: [200, 404],
    signal,
  });
  deadline.finish();
  if (res.status === 404) return undefined;
  const digest = res.headers.get('docker-content-digest');
  const size = Number(res.headers.get('content-length'));
  if (digest === null || !isDigest(digest) || !Number.isSafeInteger(size)) {
    throw new RegistryError('INVALID_RESPONSE', context, 'no Docker-Content-Digest or Content-Length');
  }
  if (isDigest(reference) && digest !== reference) {
    throw new RegistryError('DIGEST_MISMATCH', { ...context, digest }, `asked for ${reference}`);
  }
  return { digest, size, mediaType: res.headers.get('content-type') ?? '' } satisfies ManifestStat;
}

/**
 * GET /v2/<name>/manifests/<reference>, at most 4 MiB, parsed by the OCI image manifest schema.
 * By digest, the bytes must hash to it; by tag, the registry's Docker-Content-Digest must match them.
 */
export async function getManifest(
  t: Transport,
  repository: string,
  reference: string,
  signal?: AbortSignal,
): Promise<FetchedManifest> {
  const { res, deadline, context } = await t.send({
    op: 'GET manifest',
    method: 'GET',
    url: `/v2/${repository}/manifests/${reference}`,
    repository,
    reference,
    scopes: scopes(repository),
    headers: { accept: OCI_MANIFEST_MEDIA_TYPE },
    expect: [200],
    signal,
  });
  let bytes: Buffer;
  try {
    bytes = await readBounded(res, MAX_MANIFEST_BYTES, context, deadline);
  } finally {
    deadline.finish();
  }
  const digest = sha256Digest(bytes);
  const ctx = { ...context, digest };
  const expected = isDigest(reference) ? reference : res.headers.get('docker-content-digest');
  if (expected !== null && expected !== digest) {
    throw new RegistryError('DIGEST_MISMATCH', ctx, `content hashes to ${digest}, expected ${expected}`);
  }
  const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  if (mediaType !== OCI_MANIFEST_MEDIA_TYPE) {
    throw new RegistryError('UNSUPPORTED', ctx, `media type ${JSON.stringify(mediaType)} is not an OCI image manifest`);
  }
  return { manifest: parseManifest(bytes, ctx), bytes, digest, mediaType };
}

/** Parses manifest bytes, refusing anything that is not a valid OCI image manifest. */
export function parseManifest(bytes: Uint8Array, ctx: ConstructorParameters<typeof RegistryError>[1]): ImageManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new RegistryError('INVALID_MANIFEST', ctx, 'not JSON', { cause: err });
  }
  const parsed = imageManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
    throw new RegistryError('INVALID_MANIFEST', ctx, `${issue?.message ?? 'invalid'}${at}`);
  }
  return parsed.data;
}

/** Serialises and PUTs an OCI image manifest under a tag or its digest; returns the digest. */
export async function putManifest(
  t: Transport,
  repository: string,
  reference: string,
  manifest: ImageManifest,
  signal?: AbortSignal,
): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(imageManifestSchema.parse(manifest)), 'utf8');
  const digest = sha256Digest(bytes);
  const ctx = { op: 'PUT manifest', registry: t.registry, repository, reference, digest };
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new RegistryError('SIZE_EXCEEDED', ctx, `manifest is ${bytes.length} bytes, over ${MAX_MANIFEST_BYTES}`);
  }
  if (isDigest(reference) && reference !== digest) {
    throw new RegistryError('DIGEST_MISMATCH', ctx, `the manifest hashes to ${digest}, not ${reference}`);
  }
  const { res, deadline } = await t.send({
    op: 'PUT manifest',
    method: 'PUT',
    url: `/v2/${repository}/manifests/${reference}`,
    repository,
    reference,
    digest,
    scopes: scopes(repository, true),
    headers: { 'content-type': OCI_MANIFEST_MEDIA_TYPE },
    body: () => bytes,
    expect: [201],
    signal,
  });
  await res.body?.cancel().catch(() => undefined);
  deadline.finish();
  const answered = res.headers.get('docker-content-digest');
  if (answered !== null && answered !== digest) {
    throw new RegistryError('DIGEST_MISMATCH', { ...ctx, status: res.status }, `registry stored it as ${answered}`);
  }
  return { digest, size: bytes.length };
}
