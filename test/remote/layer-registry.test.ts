import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayer, diffTrees, writeLayer } from '../../src/remote/layer/index.js';
import {
  OCI_EMPTY_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  RegistryClient,
  sha256Digest,
} from '../../src/remote/registry/index.js';
import { diffDirs } from '../snapshot/tree-compare.js';
import { changeChild, copyTree, createWriteStream, makeParent } from './layer-fixtures.js';
import { type RegistryServer, registryUnavailable, startRegistry } from './registry-server.js';

const unavailable = registryUnavailable();
if (unavailable !== undefined) console.warn(`layer-through-registry test skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('a layer through the registry', () => {
  let server: RegistryServer;
  let work: string;
  beforeAll(async () => {
    server = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'cachekit-layer-reg-'));
  });
  afterAll(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('diff -> blob file -> push -> manifest -> pull (verified) -> apply gives the same tree', async () => {
    const parent = join(work, 'parent');
    await mkdir(parent);
    await makeParent(parent);
    const child = join(work, 'child');
    await copyTree(parent, child);
    await changeChild(child);
    const blob = join(work, 'layer.tar.zst');
    const info = await writeLayer(diffTrees(child, parent), createWriteStream(blob), { compression: 'zstd' });

    const { client, ref } = RegistryClient.forReference(`${server.host}/team/cache:main`, { retryBaseMs: 20 });
    const pushed = await client.pushBlobFile(ref.repository, blob, info.digest, { chunkSize: 256 * 1024 });
    expect(pushed.outcome).toBe('uploaded');
    const config = Buffer.from('{}');
    await client.pushBlobBytes(ref.repository, config, sha256Digest(config));
    await client.putManifest(ref.repository, ref.tag!, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: { mediaType: OCI_EMPTY_MEDIA_TYPE, digest: sha256Digest(config), size: config.length },
      layers: [{ mediaType: info.mediaType, digest: info.digest, size: info.size }],
    });
    // Exporting the unchanged layer again costs one HEAD.
    expect((await client.pushBlobFile(ref.repository, blob, info.digest)).outcome).toBe('exists');

    const { manifest } = await client.getManifest(ref.repository, ref.tag!);
    const layer = manifest.layers[0]!;
    const target = join(work, 'target');
    await copyTree(parent, target);
    await applyLayer(await client.getBlob(ref.repository, layer), target, {
      mediaType: layer.mediaType,
      diffId: info.diffId,
    });
    expect(await diffDirs(target, child)).toEqual([]);
  });
});
