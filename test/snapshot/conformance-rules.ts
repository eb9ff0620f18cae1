import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SnapshotError } from '../../src/snapshot/errors.js';
import { committed, expectCode, listAll, names, useHarness, useMounts, type SnapshotterFactory } from './helpers.js';

/** GNU du's count for a directory tree: `-B1` for allocated bytes, `--inodes` for inodes. */
const duOf = (dir: string, flag: '-B1' | '--inodes'): number =>
  Number(execFileSync('du', ['-s', flag, dir], { encoding: 'utf8' }).split('\t')[0]);
import type { SnapshotterQuirks } from './conformance-quirks.js';

/** The metadata and key-space rules every snapshotter must follow. */
export function describeRules(factory: SnapshotterFactory, quirks: SnapshotterQuirks = {}): void {
  const h = useHarness(factory);

  describe('key space', () => {
    it('shares one key space between active, view and committed', async () => {
      await committed(h.sn, 'base');
      await h.sn.prepare('act');
      await h.sn.view('vw', 'base');
      for (const k of ['base', 'act', 'vw']) {
        await expectCode(h.sn.prepare(k), 'ALREADY_EXISTS', 'prepare', k);
        await expectCode(h.sn.view(k, 'base'), 'ALREADY_EXISTS', 'view', k);
      }
      await h.sn.prepare('act2');
      for (const k of ['base', 'act', 'vw']) await expectCode(h.sn.commit(k, 'act2'), 'ALREADY_EXISTS', 'commit', k);
      expect(await names(h.sn)).toEqual(['act', 'act2', 'base', 'vw']);
    });

    it('refuses a missing parent with NOT_FOUND and a non-committed parent with INVALID_ARGUMENT', async () => {
      await expectCode(h.sn.prepare('a', 'nope'), 'NOT_FOUND', 'prepare', 'a');
      await expectCode(h.sn.view('a', 'nope'), 'NOT_FOUND', 'view', 'a');
      await h.sn.prepare('act');
      await committed(h.sn, 'base');
      await h.sn.view('vw', 'base');
      for (const p of ['act', 'vw']) {
        const err = await expectCode(h.sn.prepare('child', p), 'INVALID_ARGUMENT', 'prepare', 'child');
        expect(err.message).toContain(p);
        await expectCode(h.sn.view('child', p), 'INVALID_ARGUMENT', 'view', 'child');
      }
      expect(await names(h.sn)).toEqual(['act', 'base', 'vw']);
    });

    it('commits only active snapshots, removes the active key, and refuses an existing name', async () => {
      await committed(h.sn, 'base');
      await h.sn.view('vw', 'base');
      await expectCode(h.sn.commit('x', 'vw'), 'FAILED_PRECONDITION', 'commit', 'vw');
      await expectCode(h.sn.commit('x', 'base'), 'FAILED_PRECONDITION', 'commit', 'base');
      await expectCode(h.sn.commit('x', 'missing'), 'NOT_FOUND', 'commit', 'missing');
      await h.sn.prepare('act', 'base');
      await h.sn.commit('top', 'act', { labels: { a: '1', gone: '' } });
      await expectCode(h.sn.stat('act'), 'NOT_FOUND', 'stat', 'act');
      const top = await h.sn.stat('top');
      expect(top).toMatchObject({ kind: 'committed', name: 'top', parent: 'base', labels: { a: '1' } });
      expect(top.created.getTime()).toBe(top.updated.getTime());
    });

    it('refuses removing a snapshot with an active, view or committed child', async () => {
      await committed(h.sn, 'base');
      await h.sn.prepare('act', 'base');
      await expectCode(h.sn.remove('base'), 'FAILED_PRECONDITION', 'remove', 'base');
      await h.sn.remove('act');
      await h.sn.view('vw', 'base');
      await expectCode(h.sn.remove('base'), 'FAILED_PRECONDITION', 'remove', 'base');
      await h.sn.remove('vw');
      await committed(h.sn, 'mid', 'base');
      await expectCode(h.sn.remove('base'), 'FAILED_PRECONDITION', 'remove', 'base');
      await h.sn.remove('mid');
      await h.sn.remove('base');
      await expectCode(h.sn.remove('base'), 'NOT_FOUND', 'remove', 'base');
      expect(await names(h.sn)).toEqual([]);
    });

    it('answers NOT_FOUND for unknown keys and refuses mounts of a committed snapshot', async () => {
      for (const [op, call] of [
        ['stat', () => h.sn.stat('ghost')],
        ['usage', () => h.sn.usage('ghost')],
        ['mounts', () => h.sn.mounts('ghost')],
        ['remove', () => h.sn.remove('ghost')],
      ] as const) {
        await expectCode(call(), 'NOT_FOUND', op, 'ghost');
      }
      await committed(h.sn, 'base');
      await expectCode(h.sn.mounts('base'), 'FAILED_PRECONDITION', 'mounts', 'base');
      const mounts = await h.sn.prepare('act', 'base');
      expect(await h.sn.mounts('act')).toEqual(mounts);
    });

    it('reuses keys and names after remove', async () => {
      await committed(h.sn, 'base', undefined, { v: '1' });
      await h.sn.remove('base');
      await committed(h.sn, 'base', undefined, { v: '2' });
      expect((await h.sn.stat('base')).labels).toEqual({ v: '2' });
      await h.sn.prepare('k', 'base');
      await h.sn.remove('k');
      await h.sn.view('k', 'base');
      expect((await h.sn.stat('k')).kind).toBe('view');
    });

    it('keeps keys with slashes and dots inside the root', async () => {
      const keys = ['../../escape', '/abs/path', 'a/b/c', '..', '.', 'sp ace', 'ünï😀'];
      for (const k of keys) {
        const mounts = await h.sn.prepare(k);
        for (const m of mounts) if (m.type === 'bind') expect(m.source.startsWith(`${h.root}/`)).toBe(true);
      }
      expect(await names(h.sn)).toEqual([...keys].sort((a, b) => a.localeCompare(b)));
      expect(existsSync(join(h.root, '..', 'escape'))).toBe(false);
      const onDisk = await readdir(join(h.root, 'snapshots'));
      expect(onDisk.every((e) => /^\d+$/.test(e))).toBe(true);
    });

    it('never leaves a child whose parent was removed concurrently', async () => {
      await committed(h.sn, 'base');
      const [removed, prepared] = await Promise.allSettled([h.sn.remove('base'), h.sn.prepare('child', 'base')]);
      if (removed.status === 'fulfilled') {
        expect(prepared.status).toBe('rejected');
        expect((prepared as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_FOUND' });
        expect(await names(h.sn)).toEqual([]);
      } else {
        expect(removed.reason).toMatchObject({ code: 'FAILED_PRECONDITION' });
        expect(await h.sn.stat('child')).toMatchObject({ parent: 'base' });
      }
    });

    it('serializes concurrent prepares of one key: exactly one wins', async () => {
      const results = await Promise.allSettled([h.sn.prepare('same'), h.sn.prepare('same'), h.sn.prepare('same')]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected') expect((r.reason as SnapshotError).code).toBe('ALREADY_EXISTS');
      expect(await names(h.sn)).toEqual(['same']);
      await h.sn.cleanup?.();
      expect(await readdir(join(h.root, 'snapshots'))).toHaveLength(1);
    });
  });

  describe('info, labels and update', () => {
    it('sets created === updated at creation and drops empty labels', async () => {
      await h.sn.prepare('a', undefined, { labels: { keep: 'v', drop: '' } });
      const info = await h.sn.stat('a');
      expect(info).toEqual({
        kind: 'active',
        name: 'a',
        labels: { keep: 'v' },
        created: info.created,
        updated: info.created,
      });
      expect('parent' in info).toBe(false);
      expect(info.created).toBeInstanceOf(Date);
    });

    it('updates labels by field path and never the parent', async () => {
      await committed(h.sn, 'base');
      await h.sn.prepare('a', 'base', { labels: { x: '1', y: '2' } });
      const before = await h.sn.stat('a');
      await new Promise((r) => setTimeout(r, 5));
      const one = await h.sn.update({ name: 'a', labels: { x: '10', y: 'ignored', z: '3' } }, 'labels.x', 'labels.z');
      expect(one.labels).toEqual({ x: '10', y: '2', z: '3' });
      expect(one.updated.getTime()).toBeGreaterThan(before.updated.getTime());
      expect(one.created).toEqual(before.created);
      const del = await h.sn.update({ name: 'a', labels: { y: '' } }, 'labels.y', 'labels.absent');
      expect(del.labels).toEqual({ x: '10', z: '3' });
      const repl = await h.sn.update({ name: 'a', labels: { only: 'this', e: '' } }, 'labels');
      expect(repl.labels).toEqual({ only: 'this' });
      const none = await h.sn.update({ name: 'a', labels: { n: '1' }, parent: 'other', kind: 'view' } as never);
      expect(none).toMatchObject({ labels: { n: '1' }, parent: 'base', kind: 'active' });
      expect(await h.sn.stat('a')).toEqual(none);
    });

    it('refuses other field paths and unknown names, leaving labels unchanged', async () => {
      await h.sn.prepare('a', undefined, { labels: { x: '1' } });
      for (const path of ['parent', 'name', 'kind', 'labels.', 'label.x', 'created']) {
        const err = await expectCode(h.sn.update({ name: 'a', labels: {} }, path), 'INVALID_ARGUMENT', 'update', 'a');
        expect(err.message).toContain(JSON.stringify(path));
      }
      await expectCode(h.sn.update({ name: 'missing', labels: {} }), 'NOT_FOUND', 'update', 'missing');
      expect((await h.sn.stat('a')).labels).toEqual({ x: '1' });
    });

    it('walk yields exactly what stat returns, and stat works inside the callback', async () => {
      await committed(h.sn, 'base', undefined, { l: '1' });
      await h.sn.prepare('act', 'base', { labels: { a: 'b' } });
      await h.sn.view('vw', 'base');
      const seen: string[] = [];
      await h.sn.walk(async (info) => {
        expect(await h.sn.stat(info.name)).toEqual(info);
        seen.push(info.name);
      });
      expect(seen.sort()).toEqual(['act', 'base', 'vw']);
    });

    it('keeps everything across close and reopen, usage included', async () => {
      const mounts = await h.sn.prepare('base-active');
      expect(mounts).toMatchObject([{ type: 'bind' }]);
      const layer = mounts[0]!.source;
      await useMounts(mounts, async (root) => {
        await writeFile(join(root, 'a'), Buffer.alloc(10_000, 1));
        await link(join(root, 'a'), join(root, 'b'));
        await mkdir(join(root, 'sub'));
        await writeFile(join(root, 'sub', 'c'), 'c');
      });
      // containerd's Usage of a layer: its bytes as du counts them, and its inodes, each once:
      // the root, a (= b, a hardlink), sub and sub/c.
      const expected = { size: duOf(layer, '-B1'), inodes: 4 };
      expect(duOf(layer, '--inodes')).toBe(expected.inodes);
      expect(expected.size).toBeGreaterThanOrEqual(10_000);
      await h.sn.commit('base', 'base-active', { labels: { l: '1' } });
      await h.sn.prepare('act', 'base');
      const before = await listAll(h.sn);
      const sn = await h.reopen();
      expect(await listAll(sn)).toEqual(before);
      expect(await sn.usage('base')).toEqual(expected);
    });
  });

  describe('walk filters', () => {
    const setup = async (): Promise<void> => {
      await committed(h.sn, 'base', undefined, { 'containerd.io/gc.root': 'yes', tier: 'gold' });
      await committed(h.sn, 'mid', 'base', { tier: 'silver' });
      await h.sn.prepare('work/1', 'mid', { labels: { tier: 'gold' } });
      await h.sn.view('view-a', 'base');
      await h.sn.prepare('lone');
    };

    it.each([
      [['kind==committed'], ['base', 'mid']],
      [['kind!=committed'], ['lone', 'view-a', 'work/1']],
      [['name~=^(work|view)'], ['view-a', 'work/1']],
      [['name==work/1'], ['work/1']],
      [['parent'], ['mid', 'view-a', 'work/1']],
      [['parent!=""'], ['mid', 'view-a', 'work/1']],
      [['parent==""'], []],
      [['parent==base'], ['mid', 'view-a']],
      [['labels."containerd.io/gc.root"'], ['base']],
      [['labels."containerd.io/gc.root"==yes'], ['base']],
      [['labels.tier==gold'], ['base', 'work/1']],
      [['labels.tier==gold,kind==active'], ['work/1']],
      [
        ['labels.tier==gold, kind==active', 'name==lone'],
        ['lone', 'work/1'],
      ],
      [
        ['kind==view', 'kind==committed'],
        ['base', 'mid', 'view-a'],
      ],
      [['labels.tier~=^(s|g)'], ['base', 'mid', 'work/1']],
      [['name=="view-a"'], ['view-a']],
      [[], ['base', 'lone', 'mid', 'view-a', 'work/1']],
    ])('%j selects %j', async (filters, expected) => {
      await setup();
      expect(await names(h.sn, ...filters)).toEqual(expected);
    });

    it.each([
      'kind==',
      'kind=committed',
      'nosuchfield==x',
      'labels==x',
      'labels.a.b==x',
      'name~=(',
      'kind==active,',
      ',kind==active',
      'labels."unterminated',
      'name==a"b',
      'kind==active kind==view',
    ])('refuses the bad filter %j with INVALID_ARGUMENT before calling back', async (bad) => {
      await setup();
      const before = await listAll(h.sn);
      let calls = 0;
      const err = await expectCode(
        h.sn.walk(
          () => {
            calls++;
          },
          'kind==committed',
          bad,
        ),
        'INVALID_ARGUMENT',
        'walk',
      );
      expect(err.message).toContain('filter');
      expect(calls).toBe(0);
      expect(await listAll(h.sn)).toEqual(before);
    });
  });

  describe('validation', () => {
    const bad = ['', 'a\u0000b', 'tab\there', 'nl\n', 'del\u007f', 'x'.repeat(4097), 'lone\ud800surrogate'];

    it('refuses bad keys, names and parents with INVALID_ARGUMENT and changes nothing', async () => {
      await committed(h.sn, 'base', undefined, { l: '1' });
      await h.sn.prepare('act', 'base');
      const before = await listAll(h.sn);
      const disk = await readdir(join(h.root, 'snapshots'));
      for (const k of bad) {
        await expectCode(h.sn.prepare(k, 'base'), 'INVALID_ARGUMENT', 'prepare');
        await expectCode(h.sn.view(k), 'INVALID_ARGUMENT', 'view');
        // An empty parent means "no parent", as in containerd.
        if (k !== '') await expectCode(h.sn.prepare('ok', k), 'INVALID_ARGUMENT', 'prepare');
        await expectCode(h.sn.commit(k, 'act'), 'INVALID_ARGUMENT', 'commit');
        await expectCode(h.sn.commit('ok', k), 'INVALID_ARGUMENT', 'commit');
        await expectCode(h.sn.stat(k), 'INVALID_ARGUMENT', 'stat');
        await expectCode(h.sn.remove(k), 'INVALID_ARGUMENT', 'remove');
        await expectCode(h.sn.usage(k), 'INVALID_ARGUMENT', 'usage');
        await expectCode(h.sn.mounts(k), 'INVALID_ARGUMENT', 'mounts');
        await expectCode(h.sn.update({ name: k }), 'INVALID_ARGUMENT', 'update');
      }
      await expectCode(h.sn.prepare(42 as never), 'INVALID_ARGUMENT', 'prepare');
      expect(await listAll(h.sn)).toEqual(before);
      expect(await readdir(join(h.root, 'snapshots'))).toEqual(disk);
      const long = 'k'.repeat(4096);
      await h.sn.prepare(long);
      expect((await h.sn.stat(long)).name).toBe(long);
    });

    it('refuses bad labels with INVALID_ARGUMENT naming the label, and changes nothing', async () => {
      await h.sn.prepare('act', undefined, { labels: { keep: '1' } });
      const before = await listAll(h.sn);
      const badLabels: Record<string, string>[] = [
        { big: 'v'.repeat(4094) },
        { '': 'empty key' },
        { 'ctl\u0001': 'v' },
        { num: 5 as unknown as string },
      ];
      for (const labels of badLabels) {
        const err = await expectCode(h.sn.prepare('new', undefined, { labels }), 'INVALID_ARGUMENT', 'prepare', 'new');
        expect(err.message).toMatch(/label/);
        await expectCode(h.sn.update({ name: 'act', labels }, 'labels'), 'INVALID_ARGUMENT', 'update', 'act');
        await expectCode(h.sn.commit('c', 'act', { labels }), 'INVALID_ARGUMENT', 'commit');
      }
      await expectCode(h.sn.prepare('new', undefined, { labels: 'x' as never }), 'INVALID_ARGUMENT', 'prepare', 'new');
      expect(await listAll(h.sn)).toEqual(before);
      await h.sn.prepare('fits', undefined, { labels: { big: 'v'.repeat(4093) } });
    });
  });

  describe('close and cleanup', () => {
    it('closes twice and refuses every call afterwards with CLOSED', async () => {
      await committed(h.sn, 'base');
      await h.sn.close();
      await h.sn.close();
      const calls: [string, () => Promise<unknown>][] = [
        ['stat', () => h.sn.stat('base')],
        ['update', () => h.sn.update({ name: 'base' })],
        ['usage', () => h.sn.usage('base')],
        ['mounts', () => h.sn.mounts('base')],
        ['prepare', () => h.sn.prepare('x', 'base')],
        ['view', () => h.sn.view('x', 'base')],
        ['commit', () => h.sn.commit('x', 'y')],
        ['remove', () => h.sn.remove('base')],
        ['walk', () => h.sn.walk(() => undefined)],
      ];
      // cleanup is optional in the contract; a snapshotter that has it refuses it after close like the rest.
      const { cleanup } = h.sn;
      if (cleanup) calls.push(['cleanup', () => cleanup.call(h.sn)]);
      for (const [op, call] of calls) {
        const err = await expectCode(call(), 'CLOSED', op);
        expect(err.message).toMatch(/closed/);
      }
      await h.reopen();
      expect(await names(h.sn)).toEqual(['base']);
    });

    it('can be closed from inside a walk callback', async () => {
      await committed(h.sn, 'a');
      await committed(h.sn, 'b');
      const seen: string[] = [];
      await h.sn.walk(async (info) => {
        seen.push(info.name);
        if (seen.length === 1) await h.sn.close();
        else await expectCode(h.sn.stat(info.name), 'CLOSED', 'stat');
      });
      expect(seen.sort()).toEqual(['a', 'b']);
    });

    it('deletes half-made and half-removed leftovers but keeps live snapshots', async () => {
      await committed(h.sn, 'base');
      await h.sn.prepare('act', 'base');
      const snaps = join(h.root, 'snapshots');
      const live = (await readdir(snaps)).sort();
      for (const junk of ['new-9999', 'trash-abc', '8888']) {
        await mkdir(join(snaps, junk, 'deep'), { recursive: true });
        await writeFile(join(snaps, junk, 'deep', 'f'), 'x');
      }
      await h.sn.cleanup?.();
      const left = quirks.keepsLeftovers ? ['8888', 'new-9999', 'trash-abc'] : [];
      expect((await readdir(snaps)).sort()).toEqual([...live, ...left].sort());
      expect(await names(h.sn)).toEqual(['act', 'base']);
    });
  });
}
