import { describe, expect, it, afterEach } from 'vitest';
import {
  InspectorOptionError,
  DeltaCoalescer,
  type InspectorSource,
  type RecordDetail,
} from '../../src/inspector/index.js';
import type { RecordRow } from '../../src/inspector/rows.js';
import { serveInspector, type CacheManager, type InspectorServer } from '../../src/index.js';
import { cacheFixture } from '../cache/helpers.js';
import { openSse, type SseReader } from './sse-client.js';

const servers: InspectorServer[] = [];
const readers: SseReader[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  for (const s of servers.splice(0)) await s.close();
});

async function serve(cm: CacheManager): Promise<InspectorServer> {
  // A CacheManager is an InspectorSource as it is (checked by tsc): the engine does not know the inspector.
  const source: InspectorSource = cm;
  const s = await serveInspector(source);
  servers.push(s);
  return s;
}

/** The server's URL for a path, with the given token (or none). */
function at(
  server: InspectorServer,
  path: string,
  token: string | null = server.token,
  params: Record<string, string> = {},
): string {
  const u = new URL(path, server.url);
  u.search = '';
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  if (token !== null) u.searchParams.set('token', token);
  return u.toString();
}

const PATHS = [
  '/',
  '/app.js',
  '/table.js',
  '/style.css',
  '/api/status',
  '/api/diagram',
  '/api/records',
  '/api/record?id=x',
  '/api/stream',
];

type UpdateData = { records?: { upserts: RecordRow[]; removes: string[] } };

describe('inspector HTTP', () => {
  const fx = cacheFixture('native');

  it('listens on loopback with a long random token in its URL', async () => {
    const cm = await fx.open();
    const a = await serve(cm);
    const b = await serve(cm);
    expect(new URL(a.url).hostname).toBe('127.0.0.1');
    expect(new URL(a.url).searchParams.get('token')).toBe(a.token);
    expect(a.token).toMatch(/^[0-9a-f]{48}$/);
    expect(a.token).not.toBe(b.token);
  });

  it('answers 401 to every path without the token or with a wrong one', async () => {
    const cm = await fx.open();
    const server = await serve(cm);
    const wrongSameLength = server.token.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
    for (const path of PATHS) {
      const [p, q] = path.split('?');
      const params = Object.fromEntries(new URLSearchParams(q ?? ''));
      for (const token of [null, '', 'nope', wrongSameLength]) {
        const res = await fetch(at(server, p!, token, params));
        expect(res.status, `${path} token=${String(token)}`).toBe(401);
        expect(await res.text()).toContain('token');
      }
      // A token in another parameter or in the path does not count.
      expect((await fetch(at(server, `${p!}`, null, { ...params, tok: server.token }))).status).toBe(401);
    }
  });

  it('answers 405 to anything but GET and changes nothing', async () => {
    const cm = await fx.open();
    const kept = await (await cm.new(null, { retain: true, description: 'kept' })).commit();
    const server = await serve(cm);
    const before = cm.inspect();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['/', '/api/record', '/api/stream']) {
        const res = await fetch(at(server, path, server.token, { id: kept.id }), {
          method,
          body: method === 'DELETE' ? null : '{}',
        });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.get('allow')).toBe('GET');
      }
    }
    expect(cm.inspect().states).toEqual(before.states);
    expect(cm.describe(kept.id).state).toBe('frozen.held');
  });

  it('serves the page, assets and diagram without any external reference', async () => {
    const cm = await fx.open();
    const server = await serve(cm);
    const html = await (await fetch(server.url)).text();
    expect(html).toContain(`app.js?token=${server.token}`);
    expect(html).toContain(`style.css?token=${server.token}`);
    for (const path of ['/', '/app.js', '/table.js', '/style.css', '/api/diagram']) {
      const res = await fetch(at(server, path));
      expect(res.status, path).toBe(200);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const body = await res.text();
      const external = body.match(/https?:\/\/[^\s"')]+/g)?.filter((u) => u !== 'http://www.w3.org/2000/svg') ?? [];
      expect(external, path).toEqual([]);
      expect(body).not.toContain('@import');
    }
    expect((await fetch(at(server, '/nothing-here'))).status).toBe(404);
  });

  it('streams a snapshot, then coalesced upserts and removals', async () => {
    const cm = await fx.open();
    const first = await (await cm.new(null, { retain: true, description: 'first' })).commit();
    const server = await serve(cm);
    const sse = await openSse(at(server, '/api/stream'));
    readers.push(sse);
    expect(sse.status).toBe(200);
    const snap = (await sse.waitFor((m) => m.event === 'snapshot')).data as {
      rows: RecordRow[];
      first: boolean;
      last: boolean;
      total: number;
    };
    expect(snap).toMatchObject({ first: true, last: true, total: 1 });
    expect(snap.rows).toEqual([[first.id, 'frozen.held', 1, null, null, 'first']]);

    const upserted = (id: string, state: string) => (m: { event: string; data: unknown }) =>
      m.event === 'update' && !!(m.data as UpdateData).records?.upserts.some((r) => r[0] === id && r[1] === state);
    const second = await cm.new(null, { description: 'second' });
    await sse.waitFor(upserted(second.id, 'mutable.held'));
    await first.release();
    await sse.waitFor(upserted(first.id, 'frozen.released'));
    await second.release();
    await sse.waitFor((m) => m.event === 'update' && !!(m.data as UpdateData).records?.removes.includes(second.id));
    const status = await sse.waitFor((m) => m.event === 'update' && 'status' in (m.data as object));
    expect((status.data as { status: { status: string } }).status.status).toBeTypeOf('string');

    // A page connecting later starts from the table as it is now.
    const late = await openSse(at(server, '/api/stream'));
    readers.push(late);
    const lateSnap = (await late.waitFor((m) => m.event === 'snapshot')).data as { rows: RecordRow[] };
    expect(lateSnap.rows.map((r) => [r[0], r[1]])).toEqual([[first.id, 'frozen.released']]);
  });

  it('sends large snapshots in chunks the page can draw one at a time', async () => {
    const cm = await fx.open();
    // More than the first chunk (a screenful, 200 rows), so the snapshot comes in two messages.
    for (let i = 0; i < 250; i++) await (await cm.new(null, { retain: true })).release();
    const server = await serveInspector(cm, {});
    servers.push(server);
    const sse = await openSse(at(server, '/api/stream'));
    readers.push(sse);
    await sse.waitFor((m) => m.event === 'snapshot' && (m.data as { last: boolean }).last);
    const rows = sse.messages
      .filter((m) => m.event === 'snapshot')
      .flatMap((m) => (m.data as { rows: RecordRow[] }).rows);
    const chunks = sse.messages
      .filter((m) => m.event === 'snapshot')
      .map((m) => m.data as { first: boolean; last: boolean; total: number });
    expect(chunks.map((c) => [c.first, c.last, c.total])).toEqual([
      [true, false, 250],
      [false, true, 250],
    ]);
    expect(rows).toHaveLength(250);
    expect(new Set(rows.map((r) => r[1]))).toEqual(new Set(['mutable.idle']));
    const page = (await (
      await fetch(at(server, '/api/records', server.token, { offset: '10', limit: '5' }))
    ).json()) as { total: number; rows: RecordRow[] };
    expect(page.total).toBe(250);
    expect(page.rows.map((r) => r[0])).toEqual(rows.slice(10, 15).map((r) => r[0]));
    expect((await fetch(at(server, '/api/records', server.token, { limit: 'lots' }))).status).toBe(400);
  });

  it('draws one record with its current state highlighted, beside its history', async () => {
    const cm = await fx.open();
    const mut = await cm.new(null, { retain: true, description: 'drawn' });
    const ref = await mut.commit();
    await ref.finalize();
    const server = await serve(cm);
    const res = await fetch(at(server, '/api/record', server.token, { id: ref.id }));
    expect(res.status).toBe(200);
    const detail = (await res.json()) as RecordDetail;
    expect(detail.record.state).toBe('committed.held');
    expect(detail.record.metadata.description).toBe('drawn');
    expect(detail.svg).toContain('<g class="node current" data-id="committed_held"');
    expect(detail.svg).not.toContain('@import');
    expect(detail.history.map((t) => t.to)).toEqual(['mutable.held', 'frozen.held', 'finalizing', 'committed.held']);
    expect((await fetch(at(server, '/api/record', server.token, { id: 'no-such-record' }))).status).toBe(404);
    expect((await fetch(at(server, '/api/record'))).status).toBe(400);
  });

  it('rejects unusable options with a typed error naming the option', async () => {
    const cm = await fx.open();
    const cases: [Parameters<typeof serveInspector>[1], string][] = [
      [{ port: -1 }, 'port'],
      [{ port: 70000 }, 'port'],
      [{ port: 1.5 }, 'port'],
      [{ host: '' }, 'host'],
      [{ host: 'a b' }, 'host'],
    ];
    for (const [options, field] of cases) {
      const err = await serveInspector(cm, options).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InspectorOptionError);
      expect((err as InspectorOptionError).field).toBe(field);
      expect((err as Error).message).toContain(`inspector option ${field}`);
    }
  });

  it('closing ends open streams', async () => {
    const cm = await fx.open();
    const server = await serveInspector(cm);
    const sse = await openSse(at(server, '/api/stream'));
    readers.push(sse);
    await sse.waitFor((m) => m.event === 'snapshot');
    await server.close();
    await expect(fetch(server.url)).rejects.toThrow();
  });
});

describe('DeltaCoalescer', () => {
  const row = (id: string, state: string): RecordRow => [id, state, 0, null, null, ''];

  it('keeps only the latest change of each record', () => {
    const c = new DeltaCoalescer();
    expect(c.drain()).toBeUndefined();
    for (const state of ['mutable.held', 'frozen.held', 'frozen.released'])
      c.add({ type: 'upsert', row: row('a', state) });
    c.add({ type: 'upsert', row: row('b', 'mutable.held') });
    c.add({ type: 'remove', id: 'b' });
    c.add({ type: 'remove', id: 'c' });
    c.add({ type: 'upsert', row: row('c', 'mutable.held') });
    expect(c.size).toBe(3);
    const out = c.drain()!;
    expect(out.upserts.map((r) => [r[0], r[1]])).toEqual([
      ['a', 'frozen.released'],
      ['c', 'mutable.held'],
    ]);
    expect(out.removes).toEqual(['b']);
    expect(c.drain()).toBeUndefined();
  });
});
