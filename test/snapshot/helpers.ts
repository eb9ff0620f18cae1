import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { isSnapshotError, type SnapshotErrorCode } from '../../src/snapshot/errors.js';
import { withMount } from '../../src/snapshot/mount.js';
import type { Info, Mount, Snapshotter } from '../../src/snapshot/types.js';

export type SnapshotterFactory = (root: string) => Promise<Snapshotter>;

export interface Harness {
  root: string;
  sn: Snapshotter;
  /** Closes and reopens the snapshotter on the same root. */
  reopen(): Promise<Snapshotter>;
}

/** A fresh root and snapshotter per test, closed and deleted afterwards. */
export function useHarness(factory: SnapshotterFactory): Harness {
  const h = {} as Harness;
  beforeEach(async () => {
    h.root = await mkdtemp(join(tmpdir(), 'cachekit-snap-'));
    h.sn = await factory(h.root);
    h.reopen = async () => {
      await h.sn.close();
      h.sn = await factory(h.root);
      return h.sn;
    };
  });
  afterEach(async () => {
    await h.sn.close();
    await rm(h.root, { recursive: true, force: true });
  });
  return h;
}

/** Asserts the promise rejects with a SnapshotError of `code` whose message names the op (and key). */
export async function expectCode(
  p: Promise<unknown>,
  code: SnapshotErrorCode,
  op: string,
  key?: string,
): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code} from ${op}`).toBeInstanceOf(Error);
  if (!isSnapshotError(err)) throw err;
  expect(err.code, err.message).toBe(code);
  expect(err.message).toContain(op);
  if (key !== undefined) expect(err.message).toContain(JSON.stringify(key).slice(0, 40));
  return err;
}

export async function listAll(sn: Snapshotter, ...filters: string[]): Promise<Info[]> {
  const out: Info[] = [];
  await sn.walk(
    (i) => {
      out.push(i);
    },
    ...filters,
  );
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function names(sn: Snapshotter, ...filters: string[]): Promise<string[]> {
  return (await listAll(sn, ...filters)).map((i) => i.name);
}

/** Commits a fresh snapshot called `name` on `parent` with nothing in it. */
export async function committed(
  sn: Snapshotter,
  name: string,
  parent?: string,
  labels?: Record<string, string>,
): Promise<void> {
  await sn.prepare(`${name}-active`, parent);
  await sn.commit(name, `${name}-active`, labels ? { labels } : undefined);
}

/**
 * Runs fn on the snapshot's root: a single read-write bind is used through its
 * source path directly (no privileges, no mount), anything else is mounted.
 */
export async function useMounts<T>(mounts: Mount[], fn: (root: string) => Promise<T>): Promise<T> {
  const only = mounts.length === 1 ? mounts[0] : undefined;
  if (only?.type === 'bind' && !only.options.includes('ro')) return fn(only.source);
  return withMount(mounts, fn);
}
