import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRegistryError, RegistryClient, sha256Digest } from '../../src/remote/registry/index.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { type RegistryServer, registryUnavailable, startRegistry } from './registry-server.js';

const unavailable = registryUnavailable();
if (unavailable !== undefined) console.warn(`retry tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('retries on 5xx and 429 in front of docker-registry', () => {
  let server: RegistryServer;
  let proxy: FaultProxy;
  beforeAll(async () => {
    server = await startRegistry();
    proxy = await startFaultProxy(server.host);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });

  it('retries through transient 503 and 429 answers, honouring Retry-After', async () => {
    const client = new RegistryClient(proxy.host, { retries: 3, retryBaseMs: 10, maxRetryDelayMs: 50 });
    const data = randomBytes(300_000);
    const digest = sha256Digest(data);
    proxy.fail(2, 503);
    expect((await client.pushBlobBytes('team/retry', data, digest, { chunkSize: 100_000 })).outcome).toBe('uploaded');
    proxy.fail(3, 429, '1');
    expect(await client.headBlob('team/retry', digest)).toEqual({ digest, size: data.length });
  });

  it('gives up after the bounded number of retries with a typed error carrying the status', async () => {
    const client = new RegistryClient(proxy.host, { retries: 1, retryBaseMs: 10, maxRetryDelayMs: 20 });
    proxy.fail(5, 503);
    const err = await client.headBlob('team/retry', sha256Digest(Buffer.from('z'))).catch((e: unknown) => e);
    proxy.fail(0, 503);
    expect(isRegistryError(err, 'UNEXPECTED_STATUS')).toBe(true);
    expect((err as { status?: number }).status).toBe(503);
    expect((err as Error).message).toContain(proxy.host);
  });

  it('a connection refused is a typed NETWORK error after its retries', async () => {
    const client = new RegistryClient('127.0.0.1:1', { retries: 1, retryBaseMs: 5 });
    const err = await client.ping().catch((e: unknown) => e);
    expect(isRegistryError(err, 'NETWORK')).toBe(true);
  });

  it('an aborted signal stops the request with ABORTED', async () => {
    const client = new RegistryClient(proxy.host);
    const ac = new AbortController();
    ac.abort();
    const err = await client.ping(ac.signal).catch((e: unknown) => e);
    expect(isRegistryError(err, 'ABORTED')).toBe(true);
  });
});
