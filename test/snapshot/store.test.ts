import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SnapshotError } from '../../src/snapshot/errors.js';
import { NativeSnapshotter } from '../../src/snapshot/native/native-snapshotter.js';
import { committed, names } from './helpers.js';

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cachekit-store-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

it('fails with a typed error naming the record when a stored value is corrupt, and changes nothing', async () => {
  let sn = await NativeSnapshotter.open(root);
  await committed(sn, 'base');
  await sn.prepare('act', 'base');
  await sn.close();

  const env = open({ path: join(root, 'metadata.lmdb'), maxDbs: 8 });
  const records = env.openDB<unknown, number>({ name: 'records', keyEncoding: 'uint32' });
  const good = records.get(1);
  await records.put(1, { id: 1, name: 'base', kind: 'frozen', labels: {}, created: 0, updated: 0 });
  await env.close();

  sn = await NativeSnapshotter.open(root);
  const err = await sn.stat('base').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SnapshotError);
  expect((err as SnapshotError).code).toBe('FAILED_PRECONDITION');
  expect((err as SnapshotError).message).toMatch(/snapshot id 1 is corrupt/);
  await expect(sn.walk(() => undefined)).rejects.toThrow(/corrupt/);
  await expect(sn.prepare('x', 'base')).rejects.toThrow(/corrupt/);
  await sn.close();

  // Repairing the record restores the store exactly; the failed calls wrote nothing.
  const env2 = open({ path: join(root, 'metadata.lmdb'), maxDbs: 8 });
  await env2.openDB<unknown, number>({ name: 'records', keyEncoding: 'uint32' }).put(1, good);
  await env2.close();
  sn = await NativeSnapshotter.open(root);
  expect(await names(sn)).toEqual(['act', 'base']);
  await sn.close();
});

it('never reuses an id, even after the newest snapshot is removed and the store reopened', async () => {
  let sn = await NativeSnapshotter.open(root);
  const [a] = await sn.prepare('a');
  await sn.remove('a');
  await sn.close();
  sn = await NativeSnapshotter.open(root);
  const [b] = await sn.prepare('b');
  expect(b!.source).not.toBe(a!.source);
  await sn.close();
});

it('refuses a second open of a root that is still open, and allows it after close', async () => {
  const sn = await NativeSnapshotter.open(root);
  const err = await NativeSnapshotter.open(root).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SnapshotError);
  expect((err as SnapshotError).code).toBe('FAILED_PRECONDITION');
  expect((err as SnapshotError).message).toMatch(/already open/);
  await sn.close();
  const again = await NativeSnapshotter.open(root);
  await again.close();
});
