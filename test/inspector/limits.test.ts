import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openCacheManager, type CacheManager } from '../../src/index.js';
import { DeltaCoalescer, serveInspector, type InspectorServer } from '../../src/inspector/index.js';
import type { InspectorOptions } from '../../src/inspector/server.js';
import type { RecordRow } from '../../src/inspector/rows.js';
import { addressOf, eventually, rawClient, withToken, type RawClient } from './requests.js';
import { openSse, type SseReader } from './sse-client.js';

const servers: InspectorServer[] = [];
const readers: SseReader[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  for (const c of clients.splice(0)) c.socket.destroy();
  for (const s of servers.splice(0)) await s.close();
});

/**
 * One cache for the whole file, big enough that its snapshot cannot sit in the kernel's socket buffers:
 * 500 records whose descriptions are 4096 control characters, each 6 bytes of JSON (\u0001), about 12 MB.
 */
const RECORDS = 500;
const DESCRIPTION = '\u0001'.repeat(4096);
let root: string;
let cm: CacheManager;
/** An empty cache, for tests that count streams and sockets and need no snapshot bytes. */
let emptyRoot: string;
let empty: CacheManager;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cachekit-inspector-limits-'));
  emptyRoot = mkdtempSync(join(tmpdir(), 'cachekit-inspector-limits-'));
  empty = await openCacheManager({ root: emptyRoot, snapshotter: 'native' });
  cm = await openCacheManager({ root, snapshotter: 'native' });
  for (let i = 0; i < RECORDS / 10; i++)
    await Promise.all(Array.from({ length: 10 }, () => cm.new(null, { description: DESCRIPTION })));
});
afterAll(async () => {
  await cm?.close();
  await empty?.close();
  for (const dir of [root, emptyRoot]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function serve(options: InspectorOptions = {}, on = cm): Promise<InspectorServer> {
  const s = await serveInspector(on, options);
  servers.push(s);
  return s;
}

async function client(server: InspectorServer): Promise<RawClient> {
  const c = await rawClient(server);
  clients.push(c);
  return c;
}

const hostHeader = (server: InspectorServer) => `127.0.0.1:${addressOf(server).port}`;

describe('inspector resource bounds', () => {
  it('answers 503 to event streams beyond the cap', async () => {
    const server = await serve({ limits: { maxStreams: 32 } }, empty);
    const url = new URL(withToken(server, '/api/stream'), server.url).toString();
    const opened = await Promise.all(Array.from({ length: 40 }, () => openSse(url)));
    readers.push(...opened);
    const statuses = opened.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(32);
    expect(statuses.filter((s) => s === 503)).toHaveLength(8);
    expect(server.stats().streams).toBe(32);
    // A slot freed is a slot open again.
    opened.find((r) => r.status === 200)!.close();
    await eventually(() => server.stats().streams === 31);
    const again = await openSse(url);
    readers.push(again);
    expect(again.status).toBe(200);
  });

  it('closes connections beyond the cap as they come, and serves the ones it kept', async () => {
    const server = await serve({ limits: { maxConnections: 4 } }, empty);
    const all: RawClient[] = [];
    for (let i = 0; i < 6; i++) all.push(await client(server));
    // Which sockets are over the cap is the server's call; exactly two are closed without a word.
    const closed = new Set<RawClient>();
    for (const c of all) void c.closed.then(() => closed.add(c));
    await eventually(() => closed.size === 2);
    const kept = all.filter((c) => !closed.has(c));
    for (const c of kept)
      c.socket.write(`GET ${withToken(server, '/api/status')} HTTP/1.1\r\nHost: ${hostHeader(server)}\r\n\r\n`);
    await eventually(() => kept.every((c) => c.received().startsWith('HTTP/1.1 200 ')));
    expect(server.stats().connections).toBe(4);
    for (const c of all.filter((c) => closed.has(c))) expect(c.received()).toBe('');
  });

  it('closes requests whose headers or body do not arrive in time', async () => {
    const server = await serve({ limits: { headersTimeoutMs: 200, requestTimeoutMs: 400 } }, empty);
    const halfHeaders = await Promise.all(Array.from({ length: 20 }, () => client(server)));
    for (const c of halfHeaders) c.socket.write(`GET / HTTP/1.1\r\nHost: ${hostHeader(server)}\r\n`);
    const halfBody = await client(server);
    halfBody.socket.write(
      `GET ${withToken(server, '/')} HTTP/1.1\r\nHost: ${hostHeader(server)}\r\ncontent-length: 100\r\n\r\nabc`,
    );
    for (const c of halfHeaders) {
      await c.closed;
      // Node answers 408 when it can; a bare close is as good.
      expect(c.received()).toMatch(/^(HTTP\/1\.1 408 |$)/);
    }
    // A GET is answered without its body; the connection still goes once the body is late.
    await halfBody.closed;
    await eventually(() => server.stats().connections === 0);
  });

  it('sends snapshots in messages of bounded bytes, whatever the rows hold', async () => {
    const chunkBytes = 64 * 1024;
    const server = await serve({ limits: { chunkBytes } });
    const sse = await openSse(new URL(withToken(server, '/api/stream'), server.url).toString());
    readers.push(sse);
    await sse.waitFor((m) => m.event === 'snapshot' && (m.data as { last: boolean }).last, 30_000);
    const chunks = sse.messages.filter((m) => m.event === 'snapshot');
    const rows = chunks.flatMap((m) => (m.data as { rows: RecordRow[] }).rows);
    expect(rows).toHaveLength(RECORDS);
    expect(new Set(rows.map((r) => r[0])).size).toBe(RECORDS);
    expect(rows.every((r) => r[5] === DESCRIPTION)).toBe(true);
    // A row is about 24 KiB of JSON: two fit in a message, plus the few bytes around the rows.
    for (const m of chunks) expect(m.bytes).toBeLessThanOrEqual(chunkBytes + 100);
    expect(chunks.length).toBeGreaterThanOrEqual(RECORDS / 2);
    expect(server.stats().dropped).toBe(0);
  });

  it('drops a client that stops reading, and nothing piles up for it', async () => {
    const server = await serve({ limits: { stallMs: 300 } });
    const c = await client(server);
    c.socket.write(`GET ${withToken(server, '/api/stream')} HTTP/1.1\r\nHost: ${hostHeader(server)}\r\n\r\n`);
    await eventually(() => c.received().includes('event: snapshot'));
    c.socket.pause();
    await eventually(() => server.stats().dropped === 1);
    await eventually(() => server.stats().streams === 0 && server.stats().connections === 0);
    // The server destroyed the socket: once we read again, what was in flight ends, and nothing follows.
    c.socket.resume();
    await c.closed;
    expect(c.received().length).toBeLessThan(RECORDS * 24 * 1024);
  });

  it('drops a client as soon as its unsent data would pass the byte budget', async () => {
    // Messages of about 1 MiB against a 256 KiB budget, no stall deadline: the first one queued passes it.
    const server = await serve({ limits: { chunkBytes: 1024 * 1024, maxUnsentBytes: 256 * 1024, stallMs: 600_000 } });
    const c = await client(server);
    c.socket.write(`GET ${withToken(server, '/api/stream')} HTTP/1.1\r\nHost: ${hostHeader(server)}\r\n\r\n`);
    await c.closed;
    expect(server.stats().dropped).toBe(1);
    await eventually(() => server.stats().connections === 0 && server.stats().streams === 0);
    expect(c.received().length).toBeLessThan(1024 * 1024);
  });
});

describe('DeltaCoalescer by bytes', () => {
  const row = (id: string, state: string): RecordRow => [id, state, 0, null, null, 'd'.repeat(1000)];

  it('drains at most about maxBytes at a time, the rest kept, the latest row of each record once', () => {
    const c = new DeltaCoalescer();
    for (let i = 0; i < 100; i++) c.add({ type: 'upsert', row: row(`r${i}`, 'mutable.held') });
    const first = c.drain(10_000)!;
    expect(first.upserts.length).toBeGreaterThan(0);
    expect(first.upserts.length).toBeLessThan(100);
    expect(Buffer.byteLength(JSON.stringify(first.upserts))).toBeLessThanOrEqual(10_000);
    // Changes to records still buffered replace their entry; removals join the queue.
    c.add({ type: 'upsert', row: row('r99', 'frozen.held') });
    c.add({ type: 'remove', id: 'r98' });
    const seen = new Map<string, string>(first.upserts.map((r) => [r[0], r[1]]));
    const removed: string[] = [];
    for (let out = c.drain(10_000); out; out = c.drain(10_000)) {
      for (const r of out.upserts) {
        expect(seen.has(r[0]), r[0]).toBe(false);
        seen.set(r[0], r[1]);
      }
      removed.push(...out.removes);
    }
    expect(seen.size).toBe(99);
    expect(seen.get('r99')).toBe('frozen.held');
    expect(removed).toEqual(['r98']);
    // One entry larger than the budget still goes, alone.
    c.add({ type: 'upsert', row: row('big', 'mutable.held') });
    expect(c.drain(10)!.upserts).toHaveLength(1);
  });
});
