import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCacheManager } from '../../src/index.js';
import { type RegistryServer, registryUnavailable, startRegistry } from '../remote/registry-server.js';
import { buildChain, removeDir, tempDir } from './fixtures.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');
const unavailable = registryUnavailable();
if (unavailable !== undefined) console.warn(`export/import CLI tests skipped: ${unavailable}`);

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(unavailable !== undefined)('cachekit export and import', () => {
  let server: RegistryServer;
  let work: string;
  beforeAll(async () => {
    server = await startRegistry();
    work = tempDir('cachekit-exchange-cli-');
  });
  afterAll(async () => {
    await server?.close();
    removeDir(work);
  });

  it('export --format json prints one event a line; import makes lazy records du shows with their remote size', async () => {
    const a = join(work, 'a');
    const cm = await openCacheManager({ root: a, snapshotter: 'native' });
    for (const r of await buildChain(cm)) await r.release();
    await cm.close();
    const ref = `${server.host}/team/cli:main`;
    const exported = jsonLines(
      (await run('node', [BIN, 'export', '--root', a, '--to', ref, '--compression', 'zstd', '--format', 'json']))
        .stdout,
    );
    expect(exported.filter((e) => e.type === 'layer')).toHaveLength(3);
    expect(exported.at(-1)).toMatchObject({ type: 'manifest', reference: ref, records: 3 });
    const onlyK1 = jsonLines(
      (await run('node', [BIN, 'export', '--root', a, '--to', `${ref}-k1`, '--key', 'k1', '--format', 'json'])).stdout,
    );
    expect(onlyK1.at(-1)).toMatchObject({ type: 'manifest', records: 1 });

    const b = join(work, 'b');
    await (await openCacheManager({ root: b, snapshotter: 'native' })).close();
    const imported = jsonLines(
      (await run('node', [BIN, 'import', '--root', b, '--from', ref, '--format', 'json'])).stdout,
    );
    expect(imported[0]).toMatchObject({ type: 'manifest', records: 3 });
    expect(imported[1]?.created).toHaveLength(3);
    const du = JSON.parse((await run('node', [BIN, 'du', '--root', b, '--format', 'json'])).stdout) as {
      key?: string;
      size: number;
      remoteSize?: number;
    }[];
    expect(du.map((u) => u.key).sort()).toEqual(['k1', 'k2', 'k3']);
    for (const u of du) {
      expect(u.size).toBe(0);
      expect(u.remoteSize).toBeGreaterThan(0);
    }
    const text = (await run('node', [BIN, 'import', '--root', b, '--from', ref])).stdout;
    expect(text).toContain('kept 3 local ones');
  });

  it('a bad reference fails with the reason and exit code 1', async () => {
    const b = join(work, 'bad');
    await (await openCacheManager({ root: b, snapshotter: 'native' })).close();
    const err = await run('node', [BIN, 'import', '--root', b, '--from', 'Not A Reference']).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('cachekit:');
  });
});
