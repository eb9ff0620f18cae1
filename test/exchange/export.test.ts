import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_CONFIG_MEDIA_TYPE, openCacheManager } from '../../src/index.js';
import { CacheConfigSchema } from '../../src/cache/exchange/format.js';
import { RegistryClient } from '../../src/remote/registry/index.js';
// Exchange on containerd roots is not covered yet: the local kinds only.
import { LOCAL_SNAPSHOTTERS as SNAPSHOTTERS } from '../cache/helpers.js';
import { type RegistryServer, registryUnavailable, startRegistry } from '../remote/registry-server.js';
import { buildChain, collect, removeDir, tempDir } from './fixtures.js';

const unavailable = registryUnavailable();
if (unavailable !== undefined) console.warn(`export tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('export to a registry', () => {
  let server: RegistryServer;
  beforeAll(async () => {
    server = await startRegistry();
  });
  afterAll(async () => {
    await server?.close();
  });

  for (const { kind, skip } of SNAPSHOTTERS) {
    describe.skipIf(skip !== undefined)(kind, () => {
      it('pushes one layer per record and an OCI manifest whose config names each key and parent', async () => {
        const root = tempDir(`cachekit-export-${kind}-`);
        const cm = await openCacheManager({ root, snapshotter: kind });
        try {
          const refs = await buildChain(cm);
          const to = `${server.host}/team/${kind}:main`;
          const events = await collect(cm.export({ to }));
          const layers = events.filter((e) => e.type === 'layer');
          expect(layers.map((e) => e.outcome)).toEqual(['uploaded', 'uploaded', 'uploaded']);
          const last = events.at(-1);
          expect(last?.type).toBe('manifest');

          const { client, ref } = RegistryClient.forReference(to);
          const { manifest, digest } = await client.getManifest(ref.repository, 'main');
          expect(last?.type === 'manifest' && last.digest).toBe(digest);
          expect(manifest.config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);
          expect(manifest.layers).toHaveLength(3);
          const config = await client.getJsonBlob(ref.repository, manifest.config, CacheConfigSchema);
          expect(config.records.map((r) => r.key)).toEqual(['k1', 'k2', 'k3']);
          expect(config.records.map((r) => r.parent)).toEqual([undefined, 0, 1]);
          expect(config.records.map((r) => r.description)).toEqual(['layer 1', 'layer 2', 'layer 3']);
          // Layers are reported as they finish; each names its record, and the manifest keeps record order.
          const digestOf = new Map(
            layers.map((e) => [e.type === 'layer' ? e.id : '', e.type === 'layer' ? e.digest : '']),
          );
          for (const [i, r] of config.records.entries())
            expect(manifest.layers[r.layer]?.digest).toBe(digestOf.get(refs[i]!.id));

          // Nothing changed: every layer is one HEAD, and no blob is pushed.
          const again = await collect(cm.export({ to }));
          expect(again.filter((e) => e.type === 'layer').map((e) => e.outcome)).toEqual(['exists', 'exists', 'exists']);
          // Into another repository of the same registry: mounted, not uploaded.
          const other = await collect(cm.export({ to: `${server.host}/other/${kind}:x`, mode: 'min', keys: ['k3'] }));
          expect(other.filter((e) => e.type === 'layer').map((e) => e.outcome)).toEqual([
            'mounted',
            'mounted',
            'mounted',
          ]);
          const min = await client.getManifest('other/' + kind, 'x');
          const minConfig = await client.getJsonBlob(`other/${kind}`, min.manifest.config, CacheConfigSchema);
          expect(minConfig.records.map((r) => r.key)).toEqual([undefined, undefined, 'k3']);
          for (const r of refs) await r.release();
        } finally {
          await cm.close();
          removeDir(root);
        }
      });
    });
  }
});
