import { LAZY_TRANSITIONS } from './lazy-transitions.js';
import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CACHE_CONFIG_MEDIA_TYPE,
  type CacheManager,
  isCacheError,
  isLayerError,
  isRegistryError,
  openCacheManager,
} from '../../src/index.js';
import { OCI_MANIFEST_MEDIA_TYPE, RegistryClient, sha256Digest } from '../../src/remote/registry/index.js';
import { transitionCoverage, type TransitionCoverage } from '../../src/testing/index.js';
import { type RegistryServer, registryUnavailable, startRegistry } from '../remote/registry-server.js';
import { collect, removeDir, tempDir } from './fixtures.js';

const unavailable = registryUnavailable();
if (unavailable !== undefined) console.warn(`exchange failure tests skipped: ${unavailable}`);

/** A tar with the given entries (name and content, or a symlink target), as a layer blob. */
async function tarOf(entries: { name: string; body?: string; linkname?: string }[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) {
    if (e.linkname !== undefined) p.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else p.entry({ name: e.name, mode: 0o644 }, e.body ?? '');
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Pushes a hand-made cache: one layer per tar and the given config (a valid one by default). */
async function pushCache(
  host: string,
  repo: string,
  tars: Buffer[],
  config?: unknown,
  configType = CACHE_CONFIG_MEDIA_TYPE,
) {
  // Keys are named after the repository: a key already here would keep its local record.
  const prefix = repo.replace(/\W/g, '-');
  const client = new RegistryClient(host);
  const layers = [];
  const records = [];
  for (const [i, tar] of tars.entries()) {
    const blob = gzipSync(tar);
    const digest = sha256Digest(blob);
    await client.pushBlobBytes(repo, blob, digest);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: blob.length });
    records.push({
      key: `${prefix}-${i}`,
      ...(i > 0 ? { parent: i - 1 } : {}),
      layer: i,
      diffId: sha256Digest(tar),
      uncompressedSize: tar.length,
      recordType: 'regular',
      createdAt: 1,
    });
  }
  const bytes = Buffer.from(JSON.stringify(config ?? { version: 1, records }));
  await client.pushBlobBytes(repo, bytes, sha256Digest(bytes));
  await client.putManifest(repo, 'main', {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    config: { mediaType: configType, digest: sha256Digest(bytes), size: bytes.length },
    layers,
  });
  return { layers };
}

describe.skipIf(unavailable !== undefined)('exchange failures are typed and change nothing', () => {
  let server: RegistryServer;
  let secured: RegistryServer;
  let work: string;
  let cm: CacheManager;
  let coverage: TransitionCoverage;
  const user = { username: 'builder', password: 'right-one' };
  beforeAll(async () => {
    server = await startRegistry();
    secured = await startRegistry({ user });
    work = tempDir('cachekit-exchange-fail-');
    cm = await openCacheManager({ root: join(work, 'root'), snapshotter: 'native' });
    coverage = transitionCoverage(cm.events$);
  });
  afterAll(async () => {
    await cm?.close();
    await server?.close();
    await secured?.close();
    removeDir(work);
  });

  it('a wrong password is UNAUTHORIZED naming the registry; the right one exports', async () => {
    const ref = await (await cm.new(null, { key: 'auth-k' })).commit();
    const to = `${secured.host}/team/auth:main`;
    const err = await collect(cm.export({ to, auth: { username: user.username, password: 'wrong' } })).catch((e) => e);
    expect(isRegistryError(err, 'UNAUTHORIZED')).toBe(true);
    expect(String(err.message)).toContain(secured.host);
    expect(cm.describe(ref.id).metadata.key).toBe('auth-k');
    const ok = await collect(cm.export({ to, keys: ['auth-k'], auth: user }));
    expect(ok.at(-1)?.type).toBe('manifest');
    await ref.release();
  });

  it('a blob corrupted in the registry: the pull is a digest error, the record stays lazy, and pulls once fixed', async () => {
    const tar = await tarOf([{ name: 'hello.txt', body: 'hello from the registry\n' }]);
    const { layers } = await pushCache(server.host, 'team/corrupt', [tar]);
    await collect(cm.import({ from: `${server.host}/team/corrupt:main` }));
    const ref = await cm.find('team-corrupt-0');
    expect(ref).toBeDefined();
    const hex = layers[0]!.digest.slice('sha256:'.length);
    const data = `${server.storage}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    copyFileSync(data, join(work, 'good-blob'));
    const bad = Buffer.from(gzipSync(tar));
    bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 0xff;
    writeFileSync(data, bad);
    const err = await ref!.pull().catch((e: unknown) => e);
    expect(isRegistryError(err, 'DIGEST_MISMATCH')).toBe(true);
    expect(cm.describe(ref!.id).state).toBe('remote.held');
    copyFileSync(join(work, 'good-blob'), data);
    const mnt = await ref!.mount();
    expect(readdirSync(mnt.path)).toEqual(['hello.txt']);
    await mnt.release();
    expect(cm.describe(ref!.id).state).toBe('committed.held');
    await ref!.release();
  });

  it('concurrent callers share one pull', async () => {
    const tar = await tarOf([{ name: 'shared.txt', body: 'one pull\n' }]);
    await pushCache(server.host, 'team/shared', [tar]);
    await collect(cm.import({ from: `${server.host}/team/shared:main` }));
    const ref = (await cm.find('team-shared-0'))!;
    const seen: string[] = [];
    const sub = cm.events$.subscribe((e) => {
      if (e.type === 'record.transition' && e.id === ref.id) seen.push(`${e.from}->${e.to}`);
    });
    await Promise.all([ref.pull(), ref.pull(), ref.size(), ref.pull()]);
    sub.unsubscribe();
    expect(seen.filter((t) => t.endsWith('->pulling'))).toHaveLength(1);
    await ref.release();
  });

  const hostileTars: [string, { name: string; body?: string; linkname?: string }[], string][] = [
    ['a ../ path', [{ name: '../escape.txt', body: 'out' }], 'PATH_ESCAPE'],
    [
      'a symlink leaving the layer, then a file through it',
      [
        { name: 'out', linkname: '../../../../tmp' },
        { name: 'out/escaped.txt', body: 'x' },
      ],
      '',
    ],
    ['a whiteout of ..', [{ name: 'dir/.wh...', body: '' }], 'WHITEOUT_INVALID'],
  ];
  for (const [what, entries, code] of hostileTars) {
    it(`a layer with ${what}: a typed LayerError, the record stays lazy, nothing written outside`, async () => {
      const repo = `team/hostile-${hostileTars.findIndex((h) => h[0] === what)}`;
      await pushCache(server.host, repo, [await tarOf(entries)]);
      await collect(cm.import({ from: `${server.host}/${repo}:main` }));
      const ref = (await cm.find(`${repo.replace(/\W/g, '-')}-0`))!;
      const err = await ref.pull().catch((e: unknown) => e);
      expect(isLayerError(err), String(err)).toBe(true);
      if (code) expect((err as { code: string }).code).toBe(code);
      expect(cm.describe(ref.id).state).toBe('remote.held');
      expect(existsSync(join(work, 'escape.txt'))).toBe(false);
      expect(existsSync('/tmp/escaped.txt')).toBe(false);
      await ref.release();
      await cm.remove(ref.id);
    });
  }

  const hostileConfigs: [string, unknown, string?][] = [
    ['a config that fails its schema', { version: 1, records: [{ layer: -1 }] }],
    [
      'a config whose parent comes after its child',
      {
        version: 1,
        records: [
          {
            parent: 0,
            layer: 0,
            diffId: `sha256:${'0'.repeat(64)}`,
            uncompressedSize: 1,
            recordType: 'regular',
            createdAt: 1,
          },
        ],
      },
    ],
    [
      'a config naming a layer the manifest lacks',
      {
        version: 1,
        records: [
          { layer: 5, diffId: `sha256:${'0'.repeat(64)}`, uncompressedSize: 1, recordType: 'regular', createdAt: 1 },
        ],
      },
    ],
    [
      'an image config instead of a cache config',
      { architecture: 'amd64' },
      'application/vnd.oci.image.config.v1+json',
    ],
  ];
  for (const [what, config, type] of hostileConfigs) {
    it(`import of ${what} is a typed error and makes no record`, async () => {
      const repo = `team/config-${hostileConfigs.findIndex((h) => h[0] === what)}`;
      await pushCache(server.host, repo, [await tarOf([{ name: 'f', body: 'x' }])], config, type);
      const before = cm.status().records;
      const err = await collect(cm.import({ from: `${server.host}/${repo}:main` })).catch((e) => e);
      expect(isRegistryError(err), String(err)).toBe(true);
      expect(['INVALID_MANIFEST', 'INVALID_RESPONSE']).toContain(err.code);
      expect(cm.status().records).toBe(before);
    });
  }

  it('an unknown key to export is INVALID; a digest reference cannot be exported to', async () => {
    const err = await collect(cm.export({ to: `${server.host}/team/x:main`, keys: ['nope'] })).catch((e) => e);
    expect(isCacheError(err, 'INVALID')).toBe(true);
    const digestRef = `${server.host}/team/x@sha256:${'a'.repeat(64)}`;
    expect(isCacheError(await collect(cm.export({ to: digestRef })).catch((e) => e), 'INVALID')).toBe(true);
  });

  it('a chain whose first blob is corrupt: both stay lazy; once fixed, pulling the tip pulls the parent too', async () => {
    const tars = [await tarOf([{ name: 'base', body: 'base\n' }]), await tarOf([{ name: 'top', body: 'top\n' }])];
    const { layers } = await pushCache(server.host, 'team/chain', tars);
    await collect(cm.import({ from: `${server.host}/team/chain:main` }));
    const tip = (await cm.find('team-chain-1'))!;
    const hex = layers[0]!.digest.slice('sha256:'.length);
    const data = `${server.storage}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    copyFileSync(data, join(work, 'good-base'));
    writeFileSync(data, gzipSync(Buffer.from('not the layer')));
    const err = await tip.pull().catch((e: unknown) => e);
    expect(isCacheError(err, 'INVALID') || isRegistryError(err), String(err)).toBe(true);
    expect(cm.describe(tip.id).state).toBe('remote.held');
    expect(cm.describe(tip.parent!).state).toBe('remote.released');
    copyFileSync(join(work, 'good-base'), data);
    await tip.pull();
    expect(cm.describe(tip.parent!).state).toBe('committed.released');
    const mnt = await tip.mount();
    expect(readdirSync(mnt.path).sort()).toEqual(['base', 'top']);
    await mnt.release();
    await tip.release();
  });

  it('prune drops lazy records, which have nothing local to delete', async () => {
    await pushCache(server.host, 'team/prune', [
      await tarOf([{ name: 'p', body: 'p' }]),
      await tarOf([{ name: 'q', body: 'q' }]),
    ]);
    const [, records] = await collect(cm.import({ from: `${server.host}/team/prune:main` }));
    const created = records?.type === 'records' ? records.created : [];
    expect(created).toHaveLength(2);
    const pruned = await collect(cm.prune({ filter: ['key~=^team-prune-'] }));
    for (const id of created) expect(pruned.map((p) => p.id)).toContain(id);
    for (const id of created) expect(() => cm.describe(id)).toThrow();
  });

  it('took every transition of the lazy states (the coverage run of the kit has no registry)', () => {
    const taken = new Set(coverage.report().covered.map((t) => `${t.from} --${t.event}--> ${t.to}`));
    expect(LAZY_TRANSITIONS.filter((t) => !taken.has(t))).toEqual([]);
    coverage.stop();
  });
});
