import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BlobSource,
  type ImageManifest,
  isRegistryError,
  OCI_EMPTY_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  RegistryClient,
  sha256Digest,
} from '../../src/remote/registry/index.js';
import { type RegistryServer, registryUnavailable, startRegistry } from './registry-server.js';

const unavailable = registryUnavailable();
if (unavailable !== undefined) console.warn(`registry tests skipped: ${unavailable}`);

const LAYER = 'application/vnd.oci.image.layer.v1.tar';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe.skipIf(unavailable !== undefined)('registry client against docker-registry', () => {
  let server: RegistryServer;
  let client: RegistryClient;
  beforeAll(async () => {
    server = await startRegistry();
    client = new RegistryClient(server.host, { retryBaseMs: 20, maxRetryDelayMs: 200 });
  });
  afterAll(async () => server?.close());

  it('pushes and pulls a blob and a manifest, by tag and by digest', async () => {
    const layer = randomBytes(10_000);
    const layerDigest = sha256Digest(layer);
    const config = Buffer.from('{}');
    const configDigest = sha256Digest(config);
    expect((await client.pushBlobBytes('team/cache', layer, layerDigest)).outcome).toBe('uploaded');
    await client.pushBlobBytes('team/cache', config, configDigest);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: OCI_EMPTY_MEDIA_TYPE, digest: configDigest, size: config.length },
      layers: [{ mediaType: LAYER, digest: layerDigest, size: layer.length }],
    };
    const put = await client.putManifest('team/cache', 'main', manifest);
    const byTag = await client.getManifest('team/cache', 'main');
    expect(byTag.digest).toBe(put.digest);
    expect(byTag.manifest).toEqual(manifest);
    const byDigest = await client.getManifest('team/cache', put.digest);
    expect(byDigest.bytes.equals(byTag.bytes)).toBe(true);
    expect(await client.headManifest('team/cache', 'main')).toMatchObject({ digest: put.digest });
    const pulled = await readAll(await client.getBlob('team/cache', byTag.manifest.layers[0]!));
    expect(pulled.equals(layer)).toBe(true);
  });

  it('HEAD finds a blob the registry holds and reports a missing one as absent', async () => {
    const data = randomBytes(1234);
    const digest = sha256Digest(data);
    expect(await client.headBlob('team/head', digest)).toBeUndefined();
    await client.pushBlobBytes('team/head', data, digest);
    expect(await client.headBlob('team/head', digest)).toEqual({ digest, size: 1234 });
    // A second push is one HEAD and sends nothing.
    expect((await client.pushBlobBytes('team/head', data, digest)).outcome).toBe('exists');
  });

  it('uploads a multi-MB blob in chunks and mounts it into another repository', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const digest = sha256Digest(data);
    const progress: number[] = [];
    const result = await client.pushBlobBytes('team/big', data, digest, {
      chunkSize: 1024 * 1024,
      onProgress: (n) => progress.push(n),
    });
    expect(result.outcome).toBe('uploaded');
    expect(progress).toEqual([1, 2, 3, 4, 5].map((i) => i * 1024 * 1024).concat(data.length));
    const mounted = await client.pushBlobBytes('team/big-copy', data, digest, { mountFrom: ['team/big'] });
    expect(mounted.outcome).toBe('mounted');
    const pulled = await readAll(
      await client.getBlob('team/big-copy', { mediaType: LAYER, digest, size: data.length }),
    );
    expect(createHash('sha256').update(pulled).digest('hex')).toBe(digest.slice(7));
  });

  it('a registry killed mid-push gives a typed error; the next push completes the blob', async () => {
    const chunk = 512 * 1024;
    const data = randomBytes(6 * chunk);
    const digest = sha256Digest(data);
    let killed = false;
    const source: BlobSource = {
      digest,
      size: data.length,
      open: (start, end) => {
        // The third chunk stops halfway and the registry dies while it waits for the rest.
        if (!killed && start >= 2 * chunk) {
          killed = true;
          return Readable.from(
            (async function* () {
              yield data.subarray(start, start + chunk / 2);
              await server.kill();
              yield data.subarray(start + chunk / 2, end);
            })(),
          );
        }
        return Readable.from([data.subarray(start, end)]);
      },
    };
    const err = await client.pushBlob('team/crash', source, { chunkSize: chunk }).catch((e: unknown) => e);
    expect(isRegistryError(err)).toBe(true);
    expect(isRegistryError(err, 'NETWORK')).toBe(true);
    expect((err as Error).message).toContain(server.host);
    expect((err as Error).message).toContain('team/crash');
    expect((err as Error).message).toContain(digest);
    expect(client.pendingUpload('team/crash', digest)).toBeDefined();

    await server.start();
    const again = await client.pushBlob('team/crash', source, { chunkSize: chunk });
    expect(again.outcome).toBe('uploaded');
    // Resumed after the two chunks the registry acknowledged, or restarted when it cancelled the session.
    expect([0, 2 * chunk]).toContain(again.resumedFrom);
    expect(client.pendingUpload('team/crash', digest)).toBeUndefined();
    const pulled = await readAll(await client.getBlob('team/crash', { mediaType: LAYER, digest, size: data.length }));
    expect(pulled.equals(data)).toBe(true);
  });

  it('a blob corrupted in the registry storage fails the pull with a digest error', async () => {
    const data = randomBytes(64 * 1024);
    const digest = sha256Digest(data);
    await client.pushBlobBytes('team/corrupt', data, digest);
    const hex = digest.slice('sha256:'.length);
    const path = `${server.storage}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    const { open } = await import('node:fs/promises');
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from([data[100]! ^ 0xff]), 0, 1, 100);
    await fh.close();
    const stream = await client.getBlob('team/corrupt', { mediaType: LAYER, digest, size: data.length });
    const err = await readAll(stream).catch((e: unknown) => e);
    expect(isRegistryError(err, 'DIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toContain(digest);
  });

  it('refuses a blob longer than its descriptor says', async () => {
    const data = randomBytes(4096);
    const digest = sha256Digest(data);
    await client.pushBlobBytes('team/long', data, digest);
    const err = await client
      .getBlob('team/long', { mediaType: LAYER, digest, size: 100 })
      .then(readAll)
      .catch((e: unknown) => e);
    expect(isRegistryError(err, 'SIZE_EXCEEDED')).toBe(true);
  });

  it('a manifest that fails the schema gives a typed error naming the field', async () => {
    const config = Buffer.from('{}');
    const configDigest = sha256Digest(config);
    await client.pushBlobBytes('team/bad', config, configDigest);
    // The registry stores it; the client must refuse to use it.
    const body = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: OCI_EMPTY_MEDIA_TYPE, digest: configDigest, size: 2 },
      layers: [{ mediaType: 'not-a-media-type', digest: configDigest, size: 2 }],
    };
    const res = await fetch(`http://${server.host}/v2/team/bad/manifests/v1`, {
      method: 'PUT',
      headers: { 'content-type': OCI_MANIFEST_MEDIA_TYPE },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    const err = await client.getManifest('team/bad', 'v1').catch((e: unknown) => e);
    expect(isRegistryError(err, 'INVALID_MANIFEST')).toBe(true);
    expect((err as Error).message).toContain('layers.0.mediaType');
    expect((err as Error).message).toContain('team/bad');
  });

  it('an unknown manifest is NOT_FOUND with the registry error code in the message', async () => {
    const err = await client.getManifest('team/none', 'nope').catch((e: unknown) => e);
    expect(isRegistryError(err, 'NOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/MANIFEST_UNKNOWN|NAME_UNKNOWN/);
  });
});
