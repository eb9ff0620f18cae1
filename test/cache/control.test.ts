import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ControlClient, ControlError } from '../../src/cache/control/client.js';
import { WireRecordViewSchema, WireUsageInfoSchema } from '../../src/cache/control/protocol.js';
import { type Message, RawClient } from './control-client.js';
import { cacheFixture } from './helpers.js';

const sockOf = (root: string) => join(root, 'control.sock');
const isError = (code: string) => (m: Message) => m.type === 'error' && m.code === code;

/** JSON as it travels: what the owner's own call returns, after a round trip through JSON. */
const wire = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('the owner control socket', () => {
  const fx = cacheFixture('native');

  it('is made 0600 when the owner opens, answers hello, and is removed on close', async () => {
    const root = fx.root();
    const cm = await fx.open(root);
    expect(cm.controlSocket).toBe(sockOf(root));
    const st = lstatSync(sockOf(root));
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    const client = await RawClient.open(sockOf(root));
    const hello = await client.find((m) => m.type === 'hello');
    expect(hello).toMatchObject({ type: 'hello', protocol: 1, pid: process.pid, root });
    await cm.close();
    expect(existsSync(sockOf(root))).toBe(false);
    expect(await client.until(() => client.closed)).toBe(true);
  });

  it('a read-only manager serves nothing', async () => {
    const root = fx.root();
    const owner = await fx.open(root);
    await owner.close();
    const { openCacheManager } = await import('../../src/index.js');
    const reader = await openCacheManager({ root, readOnly: true });
    try {
      expect(reader.controlSocket).toBeUndefined();
      expect(existsSync(sockOf(root))).toBe(false);
    } finally {
      await reader.close();
    }
  });

  it('a socket left by a killed owner is replaced by the next owner; anything else at the path is left alone', async () => {
    const root = fx.root();
    await (await fx.open(root)).close();
    // A process that dies by SIGKILL while listening leaves its socket file behind.
    const script = `require('net').createServer().listen(${JSON.stringify(sockOf(root))}, () => process.kill(process.pid, 'SIGKILL'))`;
    await promisify(execFile)('node', ['-e', script]).catch(() => {});
    expect(lstatSync(sockOf(root)).isSocket()).toBe(true);
    const cm = await fx.open(root);
    const client = await ControlClient.connect(root);
    expect(client.hello.pid).toBe(process.pid);
    client.close();
    await cm.close();

    // A directory where the socket goes: not ours to remove. The owner opens and works without a socket.
    mkdirSync(sockOf(root));
    const second = await fx.open(root);
    expect(second.controlSocket).toBeUndefined();
    expect((await second.new(null)).id).toMatch(/\S/);
    expect(lstatSync(sockOf(root)).isDirectory()).toBe(true);
  });

  it('answers status, describe, records, diskUsage and history as the owner sees them', async () => {
    const root = fx.root();
    const cm = await fx.open(root);
    const base = await cm.new(null, { description: 'base' });
    writeFileSync(join((await base.mount()).path, 'f'), 'x'.repeat(20_000));
    const committed = await base.commit();
    await committed.finalize();
    const child = await cm.new(committed, { description: 'child' });
    const client = await ControlClient.connect(root);
    try {
      expect(await client.result({ type: 'status' }, z.unknown())).toEqual(wire(cm.status()));
      const described = await client.result({ type: 'describe', id: child.id }, WireRecordViewSchema);
      expect(described).toEqual(cm.describe(child.id));
      expect(described.state).toBe('mutable.held');
      const records = await client.list({ type: 'records' }, WireRecordViewSchema);
      expect(records.map((r) => r.id).sort()).toEqual([committed.id, child.id].sort());
      const children = await client.list(
        { type: 'records', filter: [`parent==${JSON.stringify(committed.id)}`] },
        WireRecordViewSchema,
      );
      expect(children.map((r) => r.id)).toEqual([child.id]);
      const usage = await client.list({ type: 'diskUsage' }, WireUsageInfoSchema);
      const own = await lastValueFrom(cm.diskUsage$().pipe(toArray()));
      const byId = (rows: { id: string }[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));
      expect(byId(usage)).toEqual(byId(own));
      // BuildKit: a mutable record in use has size 0, and it holds its parent in use.
      expect(usage.find((u) => u.id === child.id)).toMatchObject({ mutable: true, inUse: true, size: 0 });
      expect(usage.find((u) => u.id === committed.id)).toMatchObject({ inUse: true });
      expect(usage.find((u) => u.id === committed.id)!.size).toBeGreaterThanOrEqual(20_000);
      const history = await client.result({ type: 'history', id: committed.id }, z.array(z.unknown()));
      expect(history).toEqual(wire(cm.history(committed.id)));
      expect(history.length).toBeGreaterThan(0);
      await expect(client.result({ type: 'describe', id: 'no-such-record' }, z.unknown())).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    } finally {
      client.close();
    }
  });

  it('sends a list larger than one chunk in chunks, all of it', async () => {
    const root = fx.root();
    const cm = await fx.open(root);
    // One more than a chunk (500): the records are idle retained mutable ones, cheap to make.
    for (let i = 0; i < 501; i++) await (await cm.new(null, { retain: true })).release();
    const raw = await RawClient.open(sockOf(root));
    raw.request({ type: 'records', seq: 7 });
    const end = await raw.find((m) => m.type === 'end' && m.seq === 7);
    const chunks = raw.messages.filter((m) => m.type === 'chunk' && m.seq === 7);
    expect(chunks.length).toBe(2);
    expect(chunks.flatMap((c) => c.items as unknown[]).length).toBe(501);
    expect(end).toMatchObject({ count: 501 });
    raw.close();
  }, 120_000);

  it('streams upserts and transitions to a watcher until it disconnects', async () => {
    const root = fx.root();
    const cm = await fx.open(root);
    const mut = await cm.new(null, { description: 'w' });
    const ref = await mut.commit();
    await ref.finalize();
    const client = await ControlClient.connect(root);
    const deltas: { type: string; transition?: { id: string; from: string; to: string } }[] = [];
    let ended = '';
    const stop = client.watch({ delta: (d) => deltas.push(d), end: (reason) => (ended = reason) });
    const raw = new Promise<void>((resolve) => {
      const poll = () => (deltas.some((d) => d.type === 'snapshot') ? resolve() : setTimeout(poll, 20));
      poll();
    });
    await raw;
    await ref.release();
    const deadline = Date.now() + 10_000;
    while (!deltas.some((d) => d.type === 'transition') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(deltas).toContainEqual({
      type: 'transition',
      transition: expect.objectContaining({ id: ref.id, from: 'committed.held', to: 'committed.released' }),
    });
    expect(deltas.some((d) => d.type === 'upsert')).toBe(true);
    stop();
    await cm.close();
    expect(ended).toBe('');
  });

  it('tells a watcher the owner is closing', async () => {
    const root = fx.root();
    const cm = await fx.open(root);
    const client = await ControlClient.connect(root);
    let ended = '';
    client.watch({ delta: () => {}, end: (reason) => (ended = reason) });
    await new Promise((r) => setTimeout(r, 50));
    await cm.close();
    const deadline = Date.now() + 10_000;
    while (ended === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ended).toMatch(/CLOSED|closed/);
  });

  it('refuses hostile clients cleanly and keeps serving', async () => {
    const root = fx.root();
    const cm = await fx.open(root);
    const held = await cm.new(null, { description: 'still here' });
    const path = sockOf(root);

    // 1 MB without a newline: refused as too large, connection closed.
    const flood = await RawClient.open(path);
    flood.send('x'.repeat(1024 * 1024));
    expect(await flood.find(isError('TOO_LARGE'))).toMatchObject({ message: expect.stringContaining('65536') });
    expect(await flood.until(() => flood.closed)).toBe(true);

    // Not JSON, an unknown type, a known type with bad fields: each answered, and the connection stays usable.
    const rude = await RawClient.open(path);
    rude.send('{not json\n');
    expect(await rude.find(isError('BAD_REQUEST'))).toMatchObject({ message: expect.stringContaining('not JSON') });
    rude.request({ type: 'removeEverything', seq: 1 });
    expect(await rude.find((m) => m.seq === 1)).toMatchObject({
      type: 'error',
      code: 'BAD_REQUEST',
      message: expect.stringContaining('unknown request type "removeEverything"'),
    });
    rude.request({ type: 'describe', seq: 2, id: 42 });
    expect(await rude.find((m) => m.seq === 2)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    rude.request({ type: 'status', seq: 3, extra: true });
    expect(await rude.find((m) => m.seq === 3)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    rude.send('[]\nnull\n"status"\n');
    expect(await rude.until(() => rude.messages.filter(isError('BAD_REQUEST')).length >= 7)).toBe(true);
    rude.request({ type: 'describe', seq: 4, id: held.id });
    expect(await rude.find((m) => m.seq === 4)).toMatchObject({ type: 'result', value: { state: 'mutable.held' } });
    expect(rude.closed).toBe(false);
    rude.close();

    // 100 connections at once: 16 are served, the rest told BUSY and closed.
    const crowd = await Promise.all(Array.from({ length: 100 }, () => RawClient.open(path)));
    for (const c of crowd) await c.until(() => c.messages.length > 0 || c.closed);
    const served = crowd.filter((c) => c.messages[0]?.type === 'hello');
    const busy = crowd.filter((c) => c.messages[0]?.type === 'error' && c.messages[0].code === 'BUSY');
    expect(served.length).toBe(16);
    expect(busy.length).toBe(84);
    for (const c of busy) expect(await c.until(() => c.closed)).toBe(true);
    for (const c of served) c.close();

    // The owner kept working through all of it, and serves again once the crowd has gone.
    await held.release();
    const next = await cm.new(null, { description: 'after' });
    const deadline = Date.now() + 10_000;
    let client: ControlClient | undefined;
    while (!client && Date.now() < deadline)
      client = await ControlClient.connect(root).catch((err: unknown) => {
        if (err instanceof ControlError && err.code === 'UNAVAILABLE') return undefined;
        throw err;
      });
    expect(client).toBeDefined();
    expect((await client!.result({ type: 'describe', id: next.id }, WireRecordViewSchema)).state).toBe('mutable.held');
    client!.close();
    expect(cm.status().status).toBe('ready');
  });

  it('a root whose socket path would not fit (107 bytes) serves none, and nothing is made elsewhere', async () => {
    const root = join(fx.root(), 'r'.repeat(120));
    const cm = await fx.open(root);
    expect(cm.controlSocket).toBeUndefined();
    // Node would cut the path to 107 bytes and bind there: outside the root.
    const cut = Buffer.from(sockOf(root)).subarray(0, 107).toString();
    expect(existsSync(cut)).toBe(false);
    expect(existsSync(sockOf(root))).toBe(false);
    await expect(ControlClient.connect(root)).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('at most 107'),
    });
    expect((await cm.new(null)).id).toMatch(/\S/);
  });

  it('a client that is not served falls back: no socket, or a refused one, is UNAVAILABLE', async () => {
    const root = fx.root();
    await (await fx.open(root)).close();
    await expect(ControlClient.connect(root)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
