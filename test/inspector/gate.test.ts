import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { CacheManager } from '../../src/index.js';
import { InspectorOptionError, serveInspector, type InspectorServer } from '../../src/inspector/index.js';
import type { InspectorOptions } from '../../src/inspector/server.js';
import { cacheFixture } from '../cache/helpers.js';
import { addressOf, get, rawClient, withToken } from './requests.js';

const servers: InspectorServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(cm: CacheManager, options: InspectorOptions = {}): Promise<InspectorServer> {
  const s = await serveInspector(cm, options);
  servers.push(s);
  return s;
}

/** A manager whose `inspect()` throws, around a real one: a fault in the middle of a handler. */
function failingInspect(cm: CacheManager): CacheManager {
  return new Proxy(cm, {
    get(target, prop) {
      if (prop === 'inspect')
        return () => {
          throw new Error('injected inspect failure');
        };
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** An address of this machine's that is not loopback, when it has one. */
const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

describe('inspector token and error boundary', () => {
  const fx = cacheFixture('native');

  it('answers 401 to a 48-character token that is longer in bytes, and keeps serving', async () => {
    const cm = await fx.open();
    const server = await serve(cm);
    // 48 UTF-16 units like the real token, but 96 or 144 bytes: timingSafeEqual would throw on them.
    for (const token of ['é'.repeat(48), '€'.repeat(48), `${'a'.repeat(47)}é`, '😀'.repeat(24)]) {
      const res = await get(server, withToken(server, '/', token));
      expect(res.status, token).toBe(401);
    }
    expect((await get(server, withToken(server, '/api/status'))).status).toBe(200);
  });

  it('answers 400 to a request target that is no URL, and keeps serving', async () => {
    const cm = await fx.open();
    const server = await serve(cm);
    // `new URL('//', base)` throws: an empty host is not a URL.
    for (const target of ['//', '//?token=x', '//:99999/']) {
      const res = await get(server, target);
      expect(res.status, target).toBe(400);
    }
    expect((await get(server, withToken(server, '/'))).status).toBe(200);
  });

  it('turns a throw inside a handler into 500 and keeps serving', async () => {
    const cm = await fx.open();
    const server = await serve(failingInspect(cm));
    const res = await get(server, withToken(server, '/api/status'));
    expect(res.status).toBe(500);
    expect(res.body).toContain('injected inspect failure');
    expect((await get(server, withToken(server, '/api/diagram'))).status).toBe(200);
  });
});

describe('inspector Host and Origin', () => {
  const fx = cacheFixture('native');

  it('refuses a Host that is not the bound address, before looking at the token', async () => {
    const cm = await fx.open();
    const server = await serve(cm);
    const { port } = addressOf(server);
    for (const host of [
      `evil.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      `localhost.evil.example:${port}`,
      `127.0.0.1:${port + 1}`,
      '127.0.0.1',
      `user@127.0.0.1:${port}`,
    ]) {
      expect((await get(server, withToken(server, '/'), { host })).status, host).toBe(421);
      expect((await get(server, '/', { host })).status, `${host} without token`).toBe(421);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      expect((await get(server, withToken(server, '/'), { host })).status, host).toBe(200);
    }
  });

  it('refuses a request with no Host at all', async () => {
    const cm = await fx.open();
    const server = await serve(cm);
    const client = await rawClient(server);
    client.socket.write(`GET ${withToken(server, '/')} HTTP/1.0\r\n\r\n`);
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 421 /);
  });

  it("refuses an Origin that is not the page's own", async () => {
    const cm = await fx.open();
    const server = await serve(cm);
    const { port } = addressOf(server);
    const own = `127.0.0.1:${port}`;
    for (const origin of [
      'http://evil.example',
      `http://evil.example:${port}`,
      'null',
      `https://${own}`,
      `http://localhost:${port}`,
      `http://127.0.0.1:${port + 1}`,
      'not a url',
    ]) {
      const res = await get(server, withToken(server, '/api/status'), { host: own, origin });
      expect(res.status, origin).toBe(403);
    }
    expect((await get(server, withToken(server, '/api/status'), { host: own, origin: `http://${own}` })).status).toBe(
      200,
    );
    const local = `localhost:${port}`;
    expect(
      (await get(server, withToken(server, '/api/status'), { host: local, origin: `http://${local}` })).status,
    ).toBe(200);
  });
});

describe('inspector binding', () => {
  const fx = cacheFixture('native');

  it('refuses a host beyond loopback unless allowRemote, judged on the resolved address', async () => {
    const cm = await fx.open();
    // '0' is inet_aton's spelling of 0.0.0.0: a string comparison would not see it.
    const remote = ['0.0.0.0', '::', '0', ...(lanAddress ? [lanAddress] : [])];
    for (const host of remote) {
      const err = await serveInspector(cm, { host }).catch((e: unknown) => e);
      expect(err, host).toBeInstanceOf(InspectorOptionError);
      expect((err as InspectorOptionError).field).toBe('host');
      expect((err as Error).message).toContain('allowRemote');
    }
    // 2130706433 is 127.0.0.1 as one number: loopback once resolved.
    for (const host of ['localhost', '127.0.0.2', '::1', '2130706433']) {
      const server = await serve(cm, { host });
      expect((await get(server, withToken(server, '/'), { host: `localhost:${addressOf(server).port}` })).status).toBe(
        200,
      );
    }
    const err = await serveInspector(cm, { host: 'no-such-host.invalid' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InspectorOptionError);
    expect((err as Error).message).toContain('cannot be resolved');
  });

  it('listens on every interface with allowRemote, still checking Host', async () => {
    const cm = await fx.open();
    const server = await serve(cm, { host: '0.0.0.0', allowRemote: true });
    const { port } = addressOf(server);
    expect(new URL(server.url).hostname).toBe('0.0.0.0');
    const at = async (host: string) => (await get(server, withToken(server, '/'), { host })).status;
    expect(await at(`127.0.0.1:${port}`)).toBe(200);
    if (lanAddress) expect(await at(`${lanAddress}:${port}`)).toBe(200);
    expect(await at(`evil.example:${port}`)).toBe(421);
  });

  it('rejects an allowRemote or a limit that is not usable', async () => {
    const cm = await fx.open();
    const cases: [InspectorOptions, string][] = [
      [{ allowRemote: 'yes' as unknown as boolean }, 'allowRemote'],
      [{ limits: { maxStreams: 0 } }, 'limits.maxStreams'],
      [{ limits: { chunkBytes: 1.5 } }, 'limits.chunkBytes'],
      [{ limits: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 } }, 'limits.requestTimeoutMs'],
      [{ limits: { maxStreamz: 3 } as unknown as InspectorOptions['limits'] }, 'limits.maxStreamz'],
    ];
    for (const [options, field] of cases) {
      const err = await serveInspector(cm, options).catch((e: unknown) => e);
      expect(err, field).toBeInstanceOf(InspectorOptionError);
      expect((err as InspectorOptionError).field).toBe(field);
    }
  });
});
