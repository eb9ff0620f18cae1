// npm run bench:remote: export and import of a 100-layer cache (~200 MB) through a local docker-registry, against
// `skopeo copy` of the same layer blobs between an OCI layout directory and the same registry; then the re-export
// of the unchanged cache and the lazy import of its manifest. Every figure comes from this one run.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { type ImmutableRef, openCacheManager } from '../../src/index.js';
import { OCI_MANIFEST_MEDIA_TYPE, RegistryClient, sha256Digest } from '../../src/remote/registry/index.js';
import { probeOverlay } from '../../src/snapshot/index.js';
import { registryUnavailable, startRegistry } from '../remote/registry-server.js';
import { removeDir, tempDir } from '../exchange/fixtures.js';

const run = promisify(execFile);
const LAYERS = Number(process.env.BENCH_LAYERS ?? 100);
const LAYER_BYTES = 2 * 1024 * 1024;
const MB = 1024 * 1024;

const skip = registryUnavailable();
if (skip) {
  console.log(`bench:remote skipped: ${skip}`);
  process.exit(0);
}
try {
  await run('skopeo', ['--version']);
} catch {
  console.log('bench:remote skipped: skopeo is not installed (apt-get install skopeo)');
  process.exit(0);
}

const time = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
};

const work = tempDir('cachekit-bench-remote-');
// Overlay where it works: a native chain of 100 copies its whole parent tree per layer (about 10 GB here).
const overlayProblem = await probeOverlay(work);
const kind = overlayProblem === undefined ? 'overlay' : 'native';
console.log(`snapshotter: ${kind}${overlayProblem ? ` (overlay unavailable: ${overlayProblem})` : ''}`);
const server = await startRegistry();
try {
  const a = await openCacheManager({ root: join(work, 'a'), snapshotter: kind });
  let parent: ImmutableRef | null = null;
  const refs: ImmutableRef[] = [];
  for (let i = 0; i < LAYERS; i++) {
    const m = await a.new(parent, { key: `layer-${i}` });
    const mnt = await m.mount();
    // Half random, half repeated: compressible like real build output, never trivially so.
    const half = randomBytes(LAYER_BYTES / 2);
    await writeFile(join(mnt.path, `file-${i}`), Buffer.concat([half, Buffer.alloc(LAYER_BYTES / 2, i % 251)]));
    await mnt.release();
    const ref = await m.commit();
    await ref.finalize();
    refs.push(ref);
    parent = ref;
  }
  const reference = `${server.host}/bench/cache:main`;
  const [exported, exportMs] = await time(() => lastValueFrom(a.export({ to: reference }).pipe(toArray())));
  const blobBytes = exported.reduce((n, e) => n + (e.type === 'layer' ? e.size : 0), 0);
  const [, reexportMs] = await time(() => lastValueFrom(a.export({ to: reference }).pipe(toArray())));

  const b = await openCacheManager({ root: join(work, 'b'), snapshotter: kind });
  const [, importMs] = await time(() => lastValueFrom(b.import({ from: reference }).pipe(toArray())));
  const tip = (await b.find(`layer-${LAYERS - 1}`))!;
  const [, pullMs] = await time(() => tip.pull());
  await tip.release();

  // The same blobs as an OCI layout with a plain image config, for skopeo.
  const layout = join(work, 'layout');
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
  const client = new RegistryClient(server.host);
  const { manifest } = await client.getManifest('bench/cache', 'main');
  for (const layer of manifest.layers)
    await pipeline(
      await client.getBlob('bench/cache', layer),
      createWriteStream(join(layout, 'blobs/sha256', layer.digest.slice(7))),
    );
  const imageConfig = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: manifest.layers.map(() => `sha256:${'0'.repeat(64)}`) },
    }),
  );
  await writeFile(join(layout, 'blobs/sha256', sha256Digest(imageConfig).slice(7)), imageConfig);
  const imageManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256Digest(imageConfig),
        size: imageConfig.length,
      },
      layers: manifest.layers,
    }),
  );
  await writeFile(join(layout, 'blobs/sha256', sha256Digest(imageManifest).slice(7)), imageManifest);
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: OCI_MANIFEST_MEDIA_TYPE,
          digest: sha256Digest(imageManifest),
          size: imageManifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'main' },
        },
      ],
    }),
  );
  const flags = ['--dest-tls-verify=false'];
  const [, skopeoPushMs] = await time(() =>
    run('skopeo', ['copy', '-q', ...flags, `oci:${layout}:main`, `docker://${server.host}/bench/skopeo:main`]),
  );
  const pulled = join(work, 'skopeo-pulled');
  const [, skopeoPullMs] = await time(() =>
    run('skopeo', [
      'copy',
      '-q',
      '--src-tls-verify=false',
      `docker://${server.host}/bench/skopeo:main`,
      `oci:${pulled}:main`,
    ]),
  );

  const rate = (ms: number) => blobBytes / MB / (ms / 1000);
  console.log(
    `${LAYERS} layers, ${(blobBytes / MB).toFixed(0)} MB of blobs (${((LAYERS * LAYER_BYTES) / MB).toFixed(0)} MB of files)`,
  );
  console.log(
    `export (tar+gzip+push)   cachekit ${rate(exportMs).toFixed(1)} MB/s (${exportMs.toFixed(0)} ms)   ` +
      `skopeo push ${rate(skopeoPushMs).toFixed(1)} MB/s (${skopeoPushMs.toFixed(0)} ms)   ratio ${(rate(exportMs) / rate(skopeoPushMs)).toFixed(2)}x (goal >= 1.0x)`,
  );
  console.log(
    `import+pull (all layers) cachekit ${rate(pullMs).toFixed(1)} MB/s (${pullMs.toFixed(0)} ms)   ` +
      `skopeo pull ${rate(skopeoPullMs).toFixed(1)} MB/s (${skopeoPullMs.toFixed(0)} ms)   ratio ${(rate(pullMs) / rate(skopeoPullMs)).toFixed(2)}x (goal >= 1.0x)`,
  );
  console.log(`re-export unchanged      ${reexportMs.toFixed(0)} ms (goal < 200 ms)`);
  console.log(`lazy import of manifest  ${importMs.toFixed(0)} ms (goal < 100 ms)`);
  for (const r of refs) await r.release();
  await a.close();
  await b.close();
} finally {
  await server.close();
  removeDir(work);
}
