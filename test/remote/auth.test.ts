import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isRegistryError,
  parseChallenge,
  parseReference,
  RegistryClient,
  RegistryError,
  sha256Digest,
} from '../../src/remote/registry/index.js';
import { type RegistryServer, registryUnavailable, startRegistry } from './registry-server.js';
import { startTokenServer, type TokenServer } from './token-server.js';

const unavailable = registryUnavailable();
if (unavailable !== undefined) console.warn(`registry auth tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('htpasswd Basic auth against docker-registry', () => {
  let server: RegistryServer;
  let dir: string;
  const user = { username: 'builder', password: 's3cret-pass' };
  beforeAll(async () => {
    server = await startRegistry({ user });
    dir = await mkdtemp(join(tmpdir(), 'cachekit-dockercfg-'));
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a wrong password is a typed error naming the registry', async () => {
    const client = new RegistryClient(server.host, { auth: { username: user.username, password: 'wrong' } });
    const err = await client.headBlob('team/cache', sha256Digest(Buffer.from('x'))).catch((e: unknown) => e);
    expect(isRegistryError(err, 'UNAUTHORIZED')).toBe(true);
    expect((err as RegistryError).registry).toBe(server.host);
    expect((err as RegistryError).status).toBe(401);
    expect((err as Error).message).toContain(server.host);
  });

  it('no credentials at all is a typed error too', async () => {
    const client = new RegistryClient(server.host, { dockerConfigPath: join(dir, 'missing.json') });
    const err = await client.ping().catch((e: unknown) => e);
    expect(isRegistryError(err, 'UNAUTHORIZED')).toBe(true);
  });

  it('reads credentials from a docker config.json auths entry', async () => {
    const path = join(dir, 'config.json');
    const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64');
    await writeFile(path, JSON.stringify({ auths: { [server.host]: { auth } } }));
    const client = new RegistryClient(server.host, { dockerConfigPath: path });
    const data = randomBytes(2048);
    const digest = sha256Digest(data);
    expect((await client.pushBlobBytes('team/cache', data, digest)).outcome).toBe('uploaded');
    expect(await client.headBlob('team/cache', digest)).toEqual({ digest, size: 2048 });
  });

  it('a docker config that is not JSON is a typed error naming the file', async () => {
    const path = join(dir, 'broken.json');
    await writeFile(path, '{ not json');
    const client = new RegistryClient(server.host, { dockerConfigPath: path });
    const err = await client.ping().catch((e: unknown) => e);
    expect(isRegistryError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain(path);
  });
});

describe('references and challenges', () => {
  it('parses host:port, nested repositories, tags and digests', () => {
    expect(parseReference('127.0.0.1:5000/team/cache:main')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'team/cache',
      tag: 'main',
      digest: undefined,
    });
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseReference(`localhost:5000/a/b/c@${d}`)).toMatchObject({ repository: 'a/b/c', digest: d });
    expect(parseReference('ubuntu')).toMatchObject({
      registry: 'docker.io',
      repository: 'library/ubuntu',
      tag: 'latest',
    });
  });

  it.each(['', 'UPPER/case', '127.0.0.1:5000/a:bad:tag!', `h.io/a@sha256:${'z'.repeat(64)}`, 'h.io/a//b'])(
    'refuses %j with INVALID_REFERENCE',
    (input) => {
      expect(() => parseReference(input)).toThrow(RegistryError);
      try {
        parseReference(input);
      } catch (err) {
        expect(isRegistryError(err, 'INVALID_REFERENCE')).toBe(true);
      }
    },
  );

  it('speaks plain HTTP only to loopback unless insecure', () => {
    expect(new RegistryClient('127.0.0.1:5000').transport.baseUrl).toBe('http://127.0.0.1:5000');
    expect(new RegistryClient('registry.example:5000').transport.baseUrl).toBe('https://registry.example:5000');
    expect(new RegistryClient('registry.example', { insecure: true }).transport.baseUrl).toBe(
      'http://registry.example',
    );
    expect(() => new RegistryClient('registry.example', { plainHttp: true })).toThrow(/plain HTTP/);
  });

  it('parses a Bearer challenge with quoted parameters', () => {
    const c = parseChallenge(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    );
    expect(c).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
    });
    expect(parseChallenge('Basic realm="cachekit-test"')).toEqual({
      scheme: 'basic',
      params: { realm: 'cachekit-test' },
    });
  });
});

describe.skipIf(unavailable !== undefined)('Bearer token auth against docker-registry', () => {
  let tokens: TokenServer;
  let server: RegistryServer;
  let dir: string;
  const user = { username: 'ci', password: 'token-pass' };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cachekit-token-'));
    tokens = await startTokenServer(dir, user);
    server = await startRegistry({ token: tokens });
  });
  afterAll(async () => {
    await server?.close();
    await tokens?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the Bearer challenge with a token for the repository scope, then pushes and pulls', async () => {
    const client = new RegistryClient(server.host, { auth: user });
    const data = randomBytes(4096);
    const digest = sha256Digest(data);
    expect((await client.pushBlobBytes('team/tok', data, digest)).outcome).toBe('uploaded');
    expect(await client.headBlob('team/tok', digest)).toEqual({ digest, size: 4096 });
    expect(tokens.requests.some((r) => r.scope.includes('repository:team/tok:pull,push') && r.user === 'ci')).toBe(
      true,
    );
  });

  it('a token service refusing the password is a typed UNAUTHORIZED error', async () => {
    const client = new RegistryClient(server.host, { auth: { username: 'ci', password: 'nope' } });
    const err = await client.headBlob('team/tok', sha256Digest(Buffer.from('y'))).catch((e: unknown) => e);
    expect(isRegistryError(err, 'UNAUTHORIZED')).toBe(true);
    expect((err as Error).message).toContain(server.host);
  });
});
